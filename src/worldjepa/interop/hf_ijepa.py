"""I-JEPA encoders in the Hugging Face transformers layout (`IJepaModel`), in and out.

A transformers I-JEPA checkpoint is a ViT without a class token: a 2D patch convolution, a position table
added once, pre-norm blocks with separate query, key and value projections, and a final LayerNorm. worldjepa's
`Encoder` computes the same with `position="sincos"` (the fixed 2D sin-cos table I-JEPA trains with), one
patch embedding (`separate_tokenizers=False`, tubelet 1), fused query/key/value weights and its last level
norm as the final LayerNorm. Two generations of key names are read: transformers ≥ 5 (`layers.N.attention.
q_proj`, `mlp.fc1`) and the ViT-style names the hub's checkpoints were saved with (`encoder.layer.N.attention.
attention.query`, `intermediate.dense`, `output.dense`); the current one is written.

The position table is not a weight here but computed, so a checkpoint whose table is not I-JEPA's sin-cos is
refused instead of being silently replaced. Every key is accounted for: one error names all the missing,
unexpected and mis-shaped keys at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..nn.encoder import Encoder, ViTSize
from ..nn.posembed import sincos_2d
from ..nn.tokenizers import IMAGE, grid_positions
from .vit_keys import blocks_in, blocks_out, check_depth, check_keys, expected_blocks, transformers_config

# worldjepa block parameter → transformers name inside a layer; the legacy (ViT-style) names differ in four
_CURRENT = {"norm1.weight": "layernorm_before.weight", "norm1.bias": "layernorm_before.bias",
            "attn.proj.weight": "attention.o_proj.weight", "attn.proj.bias": "attention.o_proj.bias",
            "norm2.weight": "layernorm_after.weight", "norm2.bias": "layernorm_after.bias",
            "mlp.0.weight": "mlp.fc1.weight", "mlp.0.bias": "mlp.fc1.bias",
            "mlp.2.weight": "mlp.fc2.weight", "mlp.2.bias": "mlp.fc2.bias"}
_LEGACY = {**_CURRENT, "attn.proj.weight": "attention.output.dense.weight",
           "attn.proj.bias": "attention.output.dense.bias", "mlp.0.weight": "intermediate.dense.weight",
           "mlp.0.bias": "intermediate.dense.bias", "mlp.2.weight": "output.dense.weight",
           "mlp.2.bias": "output.dense.bias"}
_NAMES = (_CURRENT, _LEGACY)
_QKV = (("attention.q_proj", "attention.k_proj", "attention.v_proj"),
        ("attention.attention.query", "attention.attention.key", "attention.attention.value"))
_LAYER = ("layers.{}.", "encoder.layer.{}.")
_PATCH, _TABLE = "embeddings.patch_embeddings.projection.", "embeddings.position_embeddings"


def sincos_table(grid: int, width: int) -> Tensor:
    """I-JEPA's position table [1, grid², width] for a square grid of patches."""
    return sincos_2d(grid_positions((1, grid, grid)), width)[None]


def _config(config: Mapping[str, Any]) -> dict[str, Any]:
    return transformers_config(config, ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                                        "patch_size", "image_size"),
                               {"layer_norm_eps": 1e-12, "num_channels": 3}, "I-JEPA")


def encoder_from_hf_ijepa(state: Mapping[str, Tensor], config: Mapping[str, Any]) -> Encoder:
    """An `IJepaModel` state dict and its config (the fields of config.json) → worldjepa's `Encoder`, giving
    the same `last_hidden_state` for images of the config's size (other sizes: transformers interpolates
    its table, worldjepa computes the sin-cos table of the new grid)."""
    c = _config(config)
    width, depth, heads, hidden = (c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"],
                                   c["intermediate_size"])
    patch, grid = c["patch_size"], c["image_size"] // c["patch_size"]
    state = {k.removeprefix("ijepa."): v for k, v in state.items()}  # IJepaForImageClassification's encoder
    legacy = int(any(k.startswith("encoder.layer.") for k in state))

    expected: dict[str, tuple[int, ...]] = {_PATCH + "weight": (width, c["num_channels"], patch, patch),
                                            _PATCH + "bias": (width,), _TABLE: (1, grid * grid, width),
                                            "layernorm.weight": (width,), "layernorm.bias": (width,)}
    expected.update(expected_blocks(_LAYER[legacy], _NAMES[legacy], _QKV[legacy], depth, width, hidden, c["qkv_bias"]))
    check_depth(state, _LAYER[legacy].removesuffix(".{}."), depth, "num_hidden_layers")
    state = check_keys(state, expected, "transformers IJepaModel")

    table = state[_TABLE].float()
    reference = sincos_table(grid, width)
    if (table - reference).abs().max() > 1e-4:
        raise ValueError(f"{_TABLE} is not I-JEPA's fixed 2D sin-cos table (max difference "
                         f"{float((table - reference).abs().max()):.3g}); worldjepa computes that table and cannot "
                         f"hold a learned one")

    encoder = Encoder(ViTSize(depth, width, heads, hidden / width), patch_size=patch, tubelet_size=1,
                      in_chans=c["num_channels"], separate_tokenizers=False, levels=1, position="sincos",
                      norm_eps=c["layer_norm_eps"])
    ours: dict[str, Tensor] = {
        "tokenizer.video.proj.weight": state[_PATCH + "weight"].reshape(width, -1),
        "tokenizer.video.proj.bias": state[_PATCH + "bias"],
        "tokenizer.modality": torch.zeros(2, width),
        "level_norms.0.weight": state["layernorm.weight"], "level_norms.0.bias": state["layernorm.bias"],
    }
    ours.update(blocks_in(state, _LAYER[legacy], _NAMES[legacy], _QKV[legacy], depth, width))
    encoder.load_state_dict({k: v.float() for k, v in ours.items()})
    encoder.images_trained = True
    return encoder.eval()


def hf_ijepa_from_encoder(encoder: Encoder, image_size: int) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """worldjepa's I-JEPA-form `Encoder` → (`IJepaModel` state dict, config fields) for `image_size` images.
    Its image patch embedding becomes the convolution (a video embedding, which sees a still as a clip of
    `tubelet` copies, is summed over the tubelet) and the image modality vector joins the convolution's bias,
    so the output is unchanged."""
    if encoder.position != "sincos":
        raise ValueError("transformers' IJepaModel has an absolute position table and no rotary embedding: only "
                         "an encoder with model.position=sincos (the ijepa recipe) can be written in its layout")
    width, p = encoder.dim, encoder.patch_size
    if image_size % p:
        raise ValueError(f"image_size {image_size} is not a multiple of the patch size {p}")
    tok = encoder.tokenizer
    embed = tok.image if tok.separate else tok.video
    weight = embed.proj.weight.detach().view(width, embed.in_chans, embed.tubelet, p, p).sum(2)
    hidden = encoder.blocks[0].mlp[0].out_features
    state = {_PATCH + "weight": weight, _PATCH + "bias": (embed.proj.bias + tok.modality[IMAGE]).detach(),
             _TABLE: sincos_table(image_size // p, width),
             "layernorm.weight": encoder.level_norms[-1].weight.detach(),
             "layernorm.bias": encoder.level_norms[-1].bias.detach()}
    state.update(blocks_out(encoder.blocks, _LAYER[0], _NAMES[0], _QKV[0]))
    config = {"model_type": "ijepa", "hidden_size": width, "num_hidden_layers": len(encoder.blocks),
              "num_attention_heads": encoder.size.heads, "intermediate_size": hidden, "image_size": image_size,
              "patch_size": p, "num_channels": embed.in_chans, "layer_norm_eps": encoder.level_norms[-1].eps,
              "qkv_bias": True, "hidden_act": "gelu"}
    return {k: v.contiguous().clone() for k, v in state.items()}, config


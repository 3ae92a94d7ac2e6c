"""V-JEPA 2 in the Hugging Face transformers layout (`VJEPA2Model`'s `encoder.*` and `predictor.*`), in and out.

transformers' V-JEPA 2 encoder is the released one: a 3D patch convolution over tubelets, pre-norm blocks with
separate query, key and value projections and 3D-RoPE, and a final LayerNorm. Its RoPE tiles the frequency
table across each channel pair, as the released code does (nn/rope.py, `tiled=True`), so a converted
encoder turns that on; no position table, no modality vector.

Its predictor is worldjepa's one-level `MaskedPredictor`: `predictor.embeddings.predictor_embeddings` → `fuse`,
`predictor.embeddings.mask_tokens` [M, 1, 1, W] → `mask_tokens`, `predictor.layer.i.*` → `blocks.i.*` (the
encoder's names), `predictor.layernorm` → `norm`, `predictor.proj` → `target_head` (V-JEPA 2 predicts masked
tokens only: `context_head` is a copy). transformers always picks mask token 1 (`mask_index=1`), so its
outputs are worldjepa's with `mask_type=1`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..nn.encoder import Encoder, ViTSize
from ..nn.predictor import MaskedPredictor
from ..nn.tokenizers import VIDEO
from .vit_keys import (OFFICIAL_NAMES, blocks_in, blocks_out, check_depth, check_keys, expected_blocks,
                       transformers_config)

_NAMES = {ours: theirs.replace("attn.", "attention.") for ours, theirs in OFFICIAL_NAMES.items()}  # attention.proj
_QKV = ("attention.query", "attention.key", "attention.value")
_LAYER, _PATCH = "encoder.layer.{}.", "encoder.embeddings.patch_embeddings.proj."
_PRED_LAYER, _PRED_EMBED = "predictor.layer.{}.", "predictor.embeddings."


def _config(config: Mapping[str, Any]) -> dict[str, Any]:
    return transformers_config(config, ("hidden_size", "num_hidden_layers", "num_attention_heads", "patch_size",
                                        "tubelet_size"),
                               {"mlp_ratio": 4.0, "layer_norm_eps": 1e-6, "in_chans": 3}, "V-JEPA 2")


def encoder_from_hf_vjepa2(state: Mapping[str, Tensor], config: Mapping[str, Any]) -> tuple[Encoder, list[str]]:
    """A `VJEPA2Model` state dict and its config → (worldjepa's `Encoder` with the same `last_hidden_state` for
    clips [B, T, C, H, W] of the config's crop size, the `predictor.*` keys left out)."""
    c = _config(config)
    width, depth, heads = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"]
    hidden = int(width * c["mlp_ratio"])  # transformers' VJEPA2MLP: int(hidden_size * mlp_ratio)
    p, t = c["patch_size"], c["tubelet_size"]
    check_depth(state, "encoder.layer", depth, "num_hidden_layers")
    left_out = sorted(k for k in state if k.startswith("predictor."))
    encoder_state = {k: v for k, v in state.items() if not k.startswith("predictor.")}
    expected = {_PATCH + "weight": (width, c["in_chans"], t, p, p), _PATCH + "bias": (width,),
                "encoder.layernorm.weight": (width,), "encoder.layernorm.bias": (width,),
                **expected_blocks(_LAYER, _NAMES, _QKV, depth, width, hidden, c["qkv_bias"])}
    state = check_keys(encoder_state, expected, "transformers VJEPA2Model")

    encoder = Encoder(ViTSize(depth, width, heads, hidden / width), patch_size=p, tubelet_size=t,
                      in_chans=c["in_chans"], separate_tokenizers=False, levels=1, position="rope",
                      norm_eps=c["layer_norm_eps"], tiled_rope=True)
    ours = {"tokenizer.video.proj.weight": state[_PATCH + "weight"].reshape(width, -1),
            "tokenizer.video.proj.bias": state[_PATCH + "bias"], "tokenizer.modality": torch.zeros(2, width),
            "level_norms.0.weight": state["encoder.layernorm.weight"],
            "level_norms.0.bias": state["encoder.layernorm.bias"],
            **blocks_in(state, _LAYER, _NAMES, _QKV, depth, width)}
    encoder.load_state_dict({k: v.float() for k, v in ours.items()})
    return encoder.eval(), left_out


def hf_vjepa2_from_encoder(encoder: Encoder) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """worldjepa's encoder → (`VJEPA2Model` encoder state dict, config fields). Only the released V-JEPA 2 form
    fits: 3D-RoPE with V-JEPA 2's tiled frequencies and one output level; the video modality vector joins
    the convolution's bias."""
    if encoder.position != "rope" or not encoder.tiled_rope:
        raise ValueError("transformers' VJEPA2Model rotates with V-JEPA 2's tiled RoPE frequencies: only an "
                         "encoder with tiled_rope=True (one converted from Meta's weights) can be written in "
                         "its layout; worldjepa's own runs (and V-JEPA 2.1) use per-pair frequencies, which it cannot express")
    if encoder.num_levels != 1:
        raise ValueError(f"this encoder has {encoder.num_levels} output levels (V-JEPA 2.1's hierarchical "
                         f"features); VJEPA2Model has one final norm and no place for the others")
    if encoder.rope_grid is not None:
        raise ValueError("VJEPA2Model has no RoPE interpolation (model.rope_grid); it cannot hold this encoder")
    width, tok = encoder.dim, encoder.tokenizer
    video = tok.video
    state = {_PATCH + "weight": video.proj.weight.detach().view(width, video.in_chans, video.tubelet,
                                                               video.patch, video.patch),
             _PATCH + "bias": (video.proj.bias + tok.modality[VIDEO]).detach(),
             "encoder.layernorm.weight": encoder.level_norms[-1].weight.detach(),
             "encoder.layernorm.bias": encoder.level_norms[-1].bias.detach(),
             **blocks_out(encoder.blocks, _LAYER, _NAMES, _QKV)}
    config = {"model_type": "vjepa2", "hidden_size": width, "num_hidden_layers": len(encoder.blocks),
              "num_attention_heads": encoder.size.heads, "mlp_ratio": encoder.size.mlp_ratio,
              "patch_size": video.patch, "tubelet_size": video.tubelet, "in_chans": video.in_chans,
              "layer_norm_eps": encoder.level_norms[-1].eps, "qkv_bias": True, "hidden_act": "gelu"}
    return {k: v.contiguous().clone() for k, v in state.items()}, config


def _predictor_config(config: Mapping[str, Any]) -> dict[str, Any]:
    return transformers_config(config, ("hidden_size", "pred_hidden_size", "pred_num_hidden_layers",
                                        "pred_num_attention_heads"),
                               {"pred_mlp_ratio": 4.0, "layer_norm_eps": 1e-6, "pred_num_mask_tokens": 10},
                               "V-JEPA 2 predictor")


def predictor_from_hf_vjepa2(state: Mapping[str, Tensor], config: Mapping[str, Any]) -> MaskedPredictor:
    """A `VJEPA2Model` state dict and its config → worldjepa's `MaskedPredictor` (one level, tiled RoPE)."""
    c = _predictor_config(config)
    enc, width, depth = c["hidden_size"], c["pred_hidden_size"], c["pred_num_hidden_layers"]
    hidden, tokens = int(width * c["pred_mlp_ratio"]), c["pred_num_mask_tokens"]
    check_depth(state, "predictor.layer", depth, "pred_num_hidden_layers")
    own = {k: v for k, v in state.items() if k.startswith("predictor.")}
    expected = {_PRED_EMBED + "predictor_embeddings.weight": (width, enc),
                _PRED_EMBED + "predictor_embeddings.bias": (width,), _PRED_EMBED + "mask_tokens": (tokens, 1, 1, width),
                "predictor.layernorm.weight": (width,), "predictor.layernorm.bias": (width,),
                "predictor.proj.weight": (enc, width), "predictor.proj.bias": (enc,),
                **expected_blocks(_PRED_LAYER, _NAMES, _QKV, depth, width, hidden, c["qkv_bias"])}
    own = check_keys(own, expected, "transformers VJEPA2Model predictor")
    predictor = MaskedPredictor(enc, levels=1, width=width, depth=depth, heads=c["pred_num_attention_heads"],
                                num_mask_types=tokens, mlp_hidden=hidden, tiled_rope=True,
                                norm_eps=c["layer_norm_eps"])
    ours = {"fuse.weight": own[_PRED_EMBED + "predictor_embeddings.weight"],
            "fuse.bias": own[_PRED_EMBED + "predictor_embeddings.bias"],
            "mask_tokens": own[_PRED_EMBED + "mask_tokens"].reshape(tokens, width), "modality": torch.zeros(2, width),
            "norm.weight": own["predictor.layernorm.weight"], "norm.bias": own["predictor.layernorm.bias"],
            **{f"{head}.{p}": own[f"predictor.proj.{p}"] for head in ("target_head", "context_head")
               for p in ("weight", "bias")},
            **blocks_in(own, _PRED_LAYER, _NAMES, _QKV, depth, width)}
    predictor.load_state_dict({k: v.float() for k, v in ours.items()})
    return predictor.eval()


def hf_vjepa2_from_predictor(predictor: MaskedPredictor) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """worldjepa's one-level, tiled-RoPE predictor → (`VJEPA2Model` predictor state dict, config fields). Its
    context head has no place there (V-JEPA 2 predicts masked tokens only) and is not written."""
    if predictor.levels != 1 or not predictor.tiled_rope or predictor.position != "rope":
        raise ValueError("VJEPA2Model's predictor reads one encoder level and rotates with V-JEPA 2's tiled RoPE: "
                         "this predictor (V-JEPA 2.1's hierarchical or worldjepa's own) has no place in its layout")
    block = predictor.blocks[0]
    width, tokens = predictor.width, predictor.mask_tokens.shape[0]
    if block.attn.head_dim * predictor.heads != width:
        raise ValueError("VJEPA2Model's predictor splits its width into heads; this one has its own head size")
    state = {_PRED_EMBED + "predictor_embeddings.weight": predictor.fuse.weight.detach(),
             _PRED_EMBED + "predictor_embeddings.bias": predictor.fuse.bias.detach(),
             _PRED_EMBED + "mask_tokens": predictor.mask_tokens.detach().view(tokens, 1, 1, width),
             "predictor.layernorm.weight": predictor.norm.weight.detach(),
             "predictor.layernorm.bias": predictor.norm.bias.detach(),
             "predictor.proj.weight": predictor.target_head.weight.detach(),
             "predictor.proj.bias": predictor.target_head.bias.detach(),
             **blocks_out(predictor.blocks, _PRED_LAYER, _NAMES, _QKV)}
    config = {"pred_hidden_size": width, "pred_num_hidden_layers": len(predictor.blocks),
              "pred_num_attention_heads": predictor.heads, "pred_mlp_ratio": block.mlp[0].out_features / width,
              "pred_num_mask_tokens": tokens}
    return {k: v.contiguous().clone() for k, v in state.items()}, config

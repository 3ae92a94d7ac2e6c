"""I-JEPA's own checkpoints (`IN1K-vit.h.14-300e.pth.tar`, `IN22K-vit.g.16-600e.pth.tar`, …).

facebookresearch/ijepa saves a dict with `encoder`, `predictor` and `target_encoder` state dicts (under
`module.`, from DistributedDataParallel) beside `opt`, `scaler`, `epoch`, `loss`, `batch_size`, `world_size` and
`lr`. The encoder's names: `patch_embed.proj` (a Conv2d), `pos_embed` (the fixed 2D sin-cos table, not trained),
`blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}`, `norm`; LayerNorm eps 1e-6. worldjepa's
I-JEPA form holds the same (`position="sincos"`, one 2D patch embedding); a table that is not the sin-cos one is
refused. The released weights are licensed CC-BY-NC 4.0: `LICENCE` says so, and `load_published` reports it.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from ..nn.encoder import Encoder, ViTSize
from .hf_ijepa import sincos_table
from .vit_keys import OFFICIAL_NAMES, blocks_in, check_keys, expected_blocks, stack_shape

LICENCE = "CC-BY-NC 4.0 (non-commercial use only), as released by Meta with facebookresearch/ijepa"
RELEASED_HEADS = {(32, 1280): 16, (40, 1408): 16}  # vit_huge (ViT-H/14, ViT-H/16), vit_giant (ViT-g/16)


def is_ijepa_encoder(state: Mapping[str, Tensor]) -> bool:
    """An I-JEPA encoder state dict: a 2D patch convolution and an absolute position table."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    patch = state.get("patch_embed.proj.weight")
    return "pos_embed" in state and patch is not None and patch.dim() == 4


def encoder_from_ijepa_official(checkpoint: Mapping, heads: int | None = None, key: str = "target_encoder"
                                ) -> Encoder:
    """An I-JEPA checkpoint (the dict `read_checkpoint` returns, or one encoder state dict) → worldjepa's
    I-JEPA-form `Encoder`; `key` picks the entry (the EMA `target_encoder`, whose features I-JEPA evaluates)."""
    state = checkpoint[key] if key in checkpoint else checkpoint
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if "patch_embed.proj.weight" not in state or state["patch_embed.proj.weight"].dim() != 4:
        raise ValueError("not an I-JEPA encoder state dict: no 2D patch_embed.proj.weight; the layouts worldjepa "
                         "reads are in docs/interop.md")
    width, chans, patch, _ = state["patch_embed.proj.weight"].shape
    depth, hidden, heads = stack_shape(state, "blocks", width, heads, RELEASED_HEADS, "I-JEPA encoder")
    tokens = state["pos_embed"].shape[1] if "pos_embed" in state else 0
    grid = round(tokens ** 0.5)
    expected = {"patch_embed.proj.weight": (width, chans, patch, patch), "patch_embed.proj.bias": (width,),
                "pos_embed": (1, grid * grid, width), "norm.weight": (width,), "norm.bias": (width,),
                **expected_blocks("blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",), depth, width, hidden)}
    check_keys(state, expected, "I-JEPA encoder")
    if (state["pos_embed"].float() - sincos_table(grid, width)).abs().max() > 1e-4:
        raise ValueError("pos_embed is not I-JEPA's fixed 2D sin-cos table; worldjepa computes that table and "
                         "cannot hold a learned one")
    encoder = Encoder(ViTSize(depth, width, heads, hidden / width), patch_size=patch, tubelet_size=1,
                      in_chans=chans, separate_tokenizers=False, levels=1, position="sincos")
    ours = {"tokenizer.video.proj.weight": state["patch_embed.proj.weight"].reshape(width, -1),
            "tokenizer.video.proj.bias": state["patch_embed.proj.bias"], "tokenizer.modality": torch.zeros(2, width),
            "level_norms.0.weight": state["norm.weight"], "level_norms.0.bias": state["norm.bias"],
            **blocks_in(state, "blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",), depth, width)}
    encoder.load_state_dict({k: v.float() for k, v in ours.items()})
    encoder.images_trained = True
    return encoder.eval()

"""I-JEPA's own checkpoints (`IN1K-vit.h.14-300e.pth.tar`, `IN22K-vit.g.16-600e.pth.tar`, …).

facebookresearch/ijepa saves a dict with `encoder`, `predictor` and `target_encoder` state dicts (under
`module.`, from DistributedDataParallel) beside `opt`, `scaler`, `epoch`, `loss`, `batch_size`, `world_size` and
`lr`. The encoder's names: `patch_embed.proj` (a Conv2d), `pos_embed` (the fixed 2D sin-cos table, not trained),
`blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}`, `norm`; LayerNorm eps 1e-6. worldjepa's
I-JEPA form holds the same (`position="sincos"`, one 2D patch embedding); a table that is not the sin-cos one is
refused. Its predictor (`VisionTransformerPredictor`): `predictor_embed`, one `mask_token` [1, 1, W], a fixed
sin-cos `predictor_pos_embed` at the predictor's width, `predictor_blocks`, `predictor_norm`, `predictor_proj`
→ worldjepa's one-level `MaskedPredictor` with `position="sincos"`. The released weights are licensed
CC-BY-NC 4.0: `LICENCE` says so, and `load_published` reports it.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from ..nn.encoder import Encoder, ViTSize
from ..nn.predictor import MaskedPredictor
from ..nn.tokenizers import IMAGE
from .hf_ijepa import sincos_table
from .vit_keys import OFFICIAL_NAMES, blocks_in, blocks_out, check_keys, expected_blocks, stack_shape

LICENCE = "CC-BY-NC 4.0 (non-commercial use only), as released by Meta with facebookresearch/ijepa"
RELEASED_HEADS = {(32, 1280): 16, (40, 1408): 16}  # vit_huge (ViT-H/14, ViT-H/16), vit_giant (ViT-g/16)
# the released configs' predictors, 384 wide with the encoder's 16 heads: 12 blocks (ViT-H), 16 (ViT-g)
RELEASED_PREDICTOR_HEADS = {(12, 384): 16, (16, 384): 16}


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
    state = check_keys(state, expected, "I-JEPA encoder")
    _fixed_table(state["pos_embed"], "pos_embed")
    encoder = Encoder(ViTSize(depth, width, heads, hidden / width), patch_size=patch, tubelet_size=1,
                      in_chans=chans, separate_tokenizers=False, levels=1, position="sincos")
    ours = {"tokenizer.video.proj.weight": state["patch_embed.proj.weight"].reshape(width, -1),
            "tokenizer.video.proj.bias": state["patch_embed.proj.bias"], "tokenizer.modality": torch.zeros(2, width),
            "level_norms.0.weight": state["norm.weight"], "level_norms.0.bias": state["norm.bias"],
            **blocks_in(state, "blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",), depth, width)}
    encoder.load_state_dict({k: v.float() for k, v in ours.items()})
    encoder.images_trained = True
    return encoder.eval()


def _fixed_table(table: Tensor, what: str) -> int:
    """The side of the square grid whose sin-cos table `table` [1, N, W] is; another table is refused."""
    grid = round(table.shape[1] ** 0.5)
    if grid * grid != table.shape[1] or (table.float() - sincos_table(grid, table.shape[2])).abs().max() > 1e-4:
        raise ValueError(f"{what} is not I-JEPA's fixed 2D sin-cos table; worldjepa computes that table and cannot "
                         f"hold a learned one")
    return grid


def predictor_from_ijepa_official(checkpoint: Mapping, heads: int | None = None) -> MaskedPredictor:
    """An I-JEPA checkpoint's `predictor` entry (or that state dict) → worldjepa's sin-cos `MaskedPredictor`, whose
    one mask token is I-JEPA's and whose context head is a copy of the target head (I-JEPA predicts targets only)."""
    state = checkpoint.get("predictor", checkpoint)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if "predictor_embed.weight" not in state or "mask_token" not in state:
        raise ValueError("not an I-JEPA predictor state dict: no predictor_embed / mask_token; the layouts worldjepa "
                         "reads are in docs/interop.md")
    width, enc_dim = state["predictor_embed.weight"].shape
    depth, hidden, heads = stack_shape(state, "predictor_blocks", width, heads, RELEASED_PREDICTOR_HEADS,
                                       "I-JEPA predictor")
    tokens = state["predictor_pos_embed"].shape[1] if "predictor_pos_embed" in state else 0
    expected = {"predictor_embed.weight": (width, enc_dim), "predictor_embed.bias": (width,),
                "mask_token": (1, 1, width), "predictor_pos_embed": (1, tokens, width),
                "predictor_norm.weight": (width,), "predictor_norm.bias": (width,),
                "predictor_proj.weight": (enc_dim, width), "predictor_proj.bias": (enc_dim,),
                **expected_blocks("predictor_blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",), depth, width, hidden)}
    state = check_keys(state, expected, "I-JEPA predictor")
    _fixed_table(state["predictor_pos_embed"], "predictor_pos_embed")
    predictor = MaskedPredictor(enc_dim, levels=1, width=width, depth=depth, heads=heads, num_mask_types=1,
                                mlp_hidden=hidden, position="sincos", norm_eps=1e-6)
    ours = {"fuse.weight": state["predictor_embed.weight"], "fuse.bias": state["predictor_embed.bias"],
            "mask_tokens": state["mask_token"].reshape(1, width), "modality": torch.zeros(2, width),
            "norm.weight": state["predictor_norm.weight"], "norm.bias": state["predictor_norm.bias"],
            **{f"{head}.{p}": state[f"predictor_proj.{p}"] for head in ("target_head", "context_head")
               for p in ("weight", "bias")},
            **blocks_in(state, "predictor_blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",), depth, width)}
    predictor.load_state_dict({k: v.float() for k, v in ours.items()})
    return predictor.eval()


def ijepa_encoder_state(encoder: Encoder, image_size: int) -> dict[str, Tensor]:
    """worldjepa's I-JEPA-form encoder in I-JEPA's own names (without `module.`), with the sin-cos table of
    `image_size` images and the image modality vector folded into the patch bias (images are unchanged); works on
    the meta device."""
    if encoder.position != "sincos" or encoder.tubelet_size != 1 or encoder.tokenizer.separate:
        raise ValueError("I-JEPA's layout holds a sin-cos encoder with one 2D patch embedding (tubelet 1)")
    width, p, video = encoder.dim, encoder.patch_size, encoder.tokenizer.video
    state = {"pos_embed": sincos_table(image_size // p, width),
             "patch_embed.proj.weight": video.proj.weight.detach().view(width, video.in_chans, p, p),
             "patch_embed.proj.bias": (video.proj.bias + encoder.tokenizer.modality[IMAGE]).detach(),
             **blocks_out(encoder.blocks, "blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",)),
             "norm.weight": encoder.level_norms[-1].weight.detach(), "norm.bias": encoder.level_norms[-1].bias.detach()}
    return {k: v.contiguous() for k, v in state.items()}


def ijepa_predictor_state(predictor: MaskedPredictor, grid: int) -> dict[str, Tensor]:
    """worldjepa's sin-cos predictor in I-JEPA's names, with the table of a `grid` × `grid` patch grid (its first
    mask token is I-JEPA's one)."""
    if predictor.position != "sincos" or predictor.levels != 1:
        raise ValueError("I-JEPA's predictor layout holds a one-level sin-cos predictor")
    w = predictor.width
    state = {"mask_token": predictor.mask_tokens.detach()[:1].view(1, 1, w), "predictor_pos_embed": sincos_table(grid, w),
             "predictor_embed.weight": predictor.fuse.weight.detach(), "predictor_embed.bias": predictor.fuse.bias.detach(),
             **blocks_out(predictor.blocks, "predictor_blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",)),
             "predictor_norm.weight": predictor.norm.weight.detach(), "predictor_norm.bias": predictor.norm.bias.detach(),
             "predictor_proj.weight": predictor.target_head.weight.detach(),
             "predictor_proj.bias": predictor.target_head.bias.detach()}
    return {k: v.contiguous() for k, v in state.items()}

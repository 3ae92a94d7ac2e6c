"""The V-JEPA 2 and 2.1 encoders as Meta released them for torch.hub (`vitl.pt`, `vith.pt`, `vitg.pt`,
`vitg-384.pt`; `vjepa2_1_vitb_dist_vitG_384.pt` … `vjepa2_1_vitG_384.pt`).

A released checkpoint is a pickled dict whose `encoder`, `target_encoder` (the EMA teacher, the one the hub
loads) and `predictor` entries are state dicts with keys under `module.backbone.` (the hub strips both
prefixes). The encoder's own names: `patch_embed.proj` (a Conv3d over tubelets), `blocks.i.{norm1, attn.qkv,
attn.proj, norm2, mlp.fc1, mlp.fc2}` (query, key and value already stacked, as in worldjepa) and `norm`; a
`pos_embed` table may be present but is unused (the released encoders rotate with RoPE, with V-JEPA 2's
tiled frequencies, nn/rope.py). The width, depth, patch, tubelet and MLP width are read from the shapes; the
number of heads, which no shape shows, from the released sizes (nn/encoder.py SIZES) or the caller.
V-JEPA 2.1 adds `patch_embed_img` (stills), `img_mod_embed` / `video_mod_embed` and `norms_block.0-3` (one norm
per hierarchical level) in place of `norm`; it rotates with per-pair RoPE frequencies and interpolates RoPE
positions onto its pretraining grid (docs/interop.md).

Files are read with `torch.load(weights_only=True)` only: a pickle that would import or run anything else is
refused, never executed.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from ..nn.encoder import SIZES, Encoder, ViTSize
from ..nn.predictor import MaskedPredictor
from ..nn.tokenizers import IMAGE, VIDEO
from .vit_keys import (OFFICIAL_NAMES, blocks_in, blocks_out, check_keys, count_indexed, expected_blocks, stack_shape,
                       strip_prefixes)

ENCODER_KEYS = ("target_encoder", "ema_encoder", "encoder")  # the teacher first: the features the hub loads


def read_checkpoint(path: str | Path) -> dict:
    """A `.pt` / `.pth.tar` file's tensors and plain containers, never code."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f"{path} holds objects other than tensors and plain containers, which worldjepa "
                         f"does not unpickle (torch.load(weights_only=True) refused: {str(err).splitlines()[0]}); "
                         f"load it in the code that wrote it and save its state dict") from None


def encoder_from_vjepa2_hub(checkpoint: Mapping, heads: int | None = None, key: str | None = None) -> Encoder:
    """A released V-JEPA 2 or 2.1 checkpoint (the dict `read_checkpoint` returns, or one encoder state dict) →
    worldjepa's `Encoder`: for V-JEPA 2 with its tiled RoPE frequencies and one output; for 2.1 (recognised by
    its `norms_block`) with per-pair RoPE, RoPE interpolation onto the pretraining grid, its image tokenizer
    and modality vectors, and its hierarchical levels at the released blocks. `key` picks the entry (default:
    the first of target_encoder, ema_encoder, encoder present)."""
    if key is None:
        key = next((k for k in ENCODER_KEYS if k in checkpoint), None)
        state = checkpoint if key is None else checkpoint[key]
    elif key not in checkpoint:
        raise ValueError(f"the checkpoint has no entry {key!r}; it has {', '.join(map(str, checkpoint))}")
    else:
        state = checkpoint[key]
    state = strip_prefixes(state)
    if "patch_embed.proj.weight" not in state:
        raise ValueError("not a V-JEPA 2 encoder state dict: no patch_embed.proj.weight (keys start with "
                         f"{', '.join(sorted(state)[:4])}, …); the layouts worldjepa reads are in docs/interop.md")
    width, chans, tubelet, patch, _ = state["patch_embed.proj.weight"].shape
    released = {(size.depth, size.width): size.heads for size in reversed(SIZES.values())}  # presets, first wins
    depth, hidden, heads = stack_shape(state, "blocks", width, heads, released, "encoder")
    ignored = [k for k in state if k == "pos_embed"]  # unused by the RoPE encoders that carry it
    state = {k: v for k, v in state.items() if k not in ignored}
    v21 = "norms_block.0.weight" in state  # V-JEPA 2.1: one norm per hierarchical level, modality embeddings
    images = "patch_embed_img.proj.weight" in state
    levels = count_indexed(state, "norms_block") if v21 else 1
    expected = {"patch_embed.proj.weight": (width, chans, tubelet, patch, patch), "patch_embed.proj.bias": (width,),
                **expected_blocks("blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",), depth, width, hidden)}
    if v21:
        expected.update({f"norms_block.{i}.{p}": (width,) for i in range(levels) for p in ("weight", "bias")})
        expected.update({"img_mod_embed": (1, 1, width), "video_mod_embed": (1, 1, width)})
        if images:
            expected.update({"patch_embed_img.proj.weight": (width, chans, 1, patch, patch),
                             "patch_embed_img.proj.bias": (width,)})
    else:
        expected.update({"norm.weight": (width,), "norm.bias": (width,)})
    state = check_keys(state, expected, "released V-JEPA 2.1 encoder" if v21 else "released V-JEPA 2 encoder")

    # 2.1: per-pair RoPE and interpolate_rope onto the pretraining grid (256 px at patch 16, 252 px at patch 14)
    encoder = Encoder(ViTSize(depth, width, heads, hidden / width), patch_size=patch, tubelet_size=tubelet,
                      in_chans=chans, separate_tokenizers=images, levels=levels, position="rope", tiled_rope=not v21,
                      rope_grid=(252 if patch == 14 else 256) // patch if v21 else None,
                      taps=released_taps(depth, levels) if v21 else None)
    ours = {"tokenizer.video.proj.weight": state["patch_embed.proj.weight"].reshape(width, -1),
            "tokenizer.video.proj.bias": state["patch_embed.proj.bias"],
            "tokenizer.modality": (torch.cat([state["img_mod_embed"][0], state["video_mod_embed"][0]]) if v21
                                   else torch.zeros(2, width)),  # rows IMAGE, VIDEO
            **blocks_in(state, "blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",), depth, width)}
    norms = [f"norms_block.{i}" for i in range(levels)] if v21 else ["norm"]
    ours.update({f"level_norms.{i}.{p}": state[f"{n}.{p}"] for i, n in enumerate(norms) for p in ("weight", "bias")})
    if images:
        ours["tokenizer.image.proj.weight"] = state["patch_embed_img.proj.weight"].reshape(width, -1)
        ours["tokenizer.image.proj.bias"] = state["patch_embed_img.proj.bias"]
    encoder.load_state_dict({k: v.float() for k, v in ours.items()})
    return encoder.eval()


# V-JEPA 2.1's hierarchical layers as released (app/vjepa_2_1/models/vision_transformer.py): equally spaced
# except ViT-G's third, 37 where the paper and worldjepa's level_indices say 35
RELEASED_TAPS = {12: [2, 5, 8, 11], 24: [5, 11, 17, 23], 40: [9, 19, 29, 39], 48: [11, 23, 37, 47]}


def released_taps(depth: int, levels: int) -> list[int]:
    if levels != 4 or depth not in RELEASED_TAPS:
        raise ValueError(f"V-JEPA 2.1 taps 4 levels of 12, 24, 40 or 48 blocks; this checkpoint has {levels} "
                         f"levels over {depth} blocks")
    return list(RELEASED_TAPS[depth])


def vjepa2_hub_state(encoder: Encoder) -> dict[str, Tensor]:
    """worldjepa's encoder in the released names (without `module.backbone.`), the layout the official
    `VisionTransformer` loads: V-JEPA 2's for a `tiled_rope` encoder (the video modality vector folded into the
    patch embedding's bias, the last level's norm as `norm`), V-JEPA 2.1's otherwise (`patch_embed_img`,
    `norms_block`, `img_mod_embed`, `video_mod_embed`). Works on the meta device (shapes only)."""
    tok, width = encoder.tokenizer, encoder.dim

    def conv(embed) -> Tensor:
        return embed.proj.weight.detach().view(width, embed.in_chans, embed.tubelet, embed.patch, embed.patch)

    state = {"patch_embed.proj.weight": conv(tok.video), **blocks_out(encoder.blocks, "blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",))}
    if encoder.tiled_rope:
        state["patch_embed.proj.bias"] = (tok.video.proj.bias + tok.modality[VIDEO]).detach()
        state.update({"norm.weight": encoder.level_norms[-1].weight.detach(),
                      "norm.bias": encoder.level_norms[-1].bias.detach()})
    else:
        state["patch_embed.proj.bias"] = tok.video.proj.bias.detach()
        if tok.separate:
            state.update({"patch_embed_img.proj.weight": conv(tok.image),
                          "patch_embed_img.proj.bias": tok.image.proj.bias.detach()})
        for i, norm in enumerate(encoder.level_norms):
            state.update({f"norms_block.{i}.weight": norm.weight.detach(), f"norms_block.{i}.bias": norm.bias.detach()})
        state.update({"img_mod_embed": tok.modality[IMAGE].detach().view(1, 1, width),
                      "video_mod_embed": tok.modality[VIDEO].detach().view(1, 1, width)})
    return {k: v.contiguous() for k, v in state.items()}


class ForeignTargets(ValueError):
    """A predictor trained to predict another model's features than its encoder's (a distilled V-JEPA 2.1)."""


RELEASED_PREDICTOR_HEADS = {(12, 384): 12, (24, 384): 12}  # the hub's V-JEPA 2 predictor (12 × 384); 2.1's (24 × 384)


def predictor_from_vjepa2_hub(checkpoint: Mapping, heads: int | None = None) -> MaskedPredictor:
    """A released V-JEPA 2 or 2.1 checkpoint's `predictor` entry → worldjepa's `MaskedPredictor`.

    V-JEPA 2 (src/models/predictor.py): `predictor_embed` → `fuse`, `mask_tokens.i` [1, 1, W], `predictor_blocks`,
    `predictor_norm`, `predictor_proj` → `target_head`; one level, tiled RoPE, eps 1e-6. It has no context head
    (its loss is on masked tokens only), so `context_head` is a copy of the target head, and no modality vector.
    V-JEPA 2.1 (app/vjepa_2_1/models/predictor.py, recognised by its `predictor_embed.0` MLP over the L levels):
    `predictor_embed.{0,2}` → `fuse.{0,2}`, `video_mod_embed` / `img_mod_embed` → `modality`, `predictor_proj_context`
    → `context_head` (a copy of the target head where absent), per-pair RoPE; its RoPE positions are interpolated
    onto the pretraining grid as the encoder's are (the caller passes `encoder.rope_positions`). A 2.1 predictor
    that predicts another model's features (the distilled ViT-B/L: `teacher_embed_dim`) is refused. An unused
    `predictor_pos_embed` is ignored as the hub does."""
    state = strip_prefixes(checkpoint.get("predictor", checkpoint))
    state = {k: v for k, v in state.items() if k != "predictor_pos_embed"}
    deep = "predictor_embed.0.weight" in state  # an MLP over the levels (2.1's four)
    v21 = deep or "video_mod_embed" in state
    embed = "predictor_embed.2" if deep else "predictor_embed"
    if f"{embed}.weight" not in state or "action_encoder.weight" in state:
        raise ValueError("not a V-JEPA 2 masked-latent predictor state dict (no predictor_embed, or a 2-AC "
                         "predictor: read that with predictor_from_vjepa2_ac_hub); docs/interop.md lists the layouts")
    width, enc_dim = state[f"{embed}.weight"].shape
    levels = state["predictor_embed.0.weight"].shape[1] // enc_dim if deep else 1
    out = state["predictor_proj.weight"].shape[0] if "predictor_proj.weight" in state else levels * enc_dim
    if out != levels * enc_dim:
        raise ForeignTargets(f"this predictor predicts {out} channels, not its encoder's {levels} × {enc_dim}: it was "
                         f"trained to predict another model's features (a distilled V-JEPA 2.1), which worldjepa's "
                         f"predictor does not hold")
    depth, hidden, heads = stack_shape(state, "predictor_blocks", width, heads, RELEASED_PREDICTOR_HEADS, "predictor")
    tokens = count_indexed(state, "mask_tokens")
    expected = {f"{embed}.weight": (width, enc_dim), f"{embed}.bias": (width,),
                "predictor_norm.weight": (width,), "predictor_norm.bias": (width,),
                "predictor_proj.weight": (out, width), "predictor_proj.bias": (out,),
                **{f"mask_tokens.{i}": (1, 1, width) for i in range(tokens)},
                **expected_blocks("predictor_blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",), depth, width, hidden)}
    context = "predictor_proj_context" if "predictor_proj_context.weight" in state else "predictor_proj"
    if deep:
        expected.update({"predictor_embed.0.weight": (enc_dim, levels * enc_dim), "predictor_embed.0.bias": (enc_dim,)})
    if v21:
        expected.update({"video_mod_embed": (1, 1, width), "img_mod_embed": (1, 1, width)})
        if context == "predictor_proj_context":
            expected.update({"predictor_proj_context.weight": (out, width), "predictor_proj_context.bias": (out,)})
    state = check_keys(state, expected, "released V-JEPA 2.1 predictor" if v21 else "released V-JEPA 2 predictor")
    predictor = MaskedPredictor(enc_dim, levels=levels, width=width, depth=depth, heads=heads, num_mask_types=tokens,
                                mlp_hidden=hidden, tiled_rope=not v21, norm_eps=1e-6)
    ours = {"mask_tokens": torch.cat([state[f"mask_tokens.{i}"].reshape(1, width) for i in range(tokens)]),
            "modality": (torch.cat([state["img_mod_embed"][0], state["video_mod_embed"][0]]) if v21
                         else torch.zeros(2, width)),  # rows IMAGE, VIDEO
            "norm.weight": state["predictor_norm.weight"], "norm.bias": state["predictor_norm.bias"],
            **{f"{head}.{p}": state[f"{theirs}.{p}"] for head, theirs in (("target_head", "predictor_proj"),
                                                                         ("context_head", context))
               for p in ("weight", "bias")},
            **blocks_in(state, "predictor_blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",), depth, width)}
    fuse = {"fuse.0": "predictor_embed.0", "fuse.2": "predictor_embed.2"} if deep else {"fuse": "predictor_embed"}
    ours.update({f"{mine}.{p}": state[f"{theirs}.{p}"] for mine, theirs in fuse.items() for p in ("weight", "bias")})
    predictor.load_state_dict({k: v.float() for k, v in ours.items()})
    return predictor.eval()


def vjepa2_hub_predictor_state(predictor: MaskedPredictor) -> dict[str, Tensor]:
    """worldjepa's masked predictor in the released names (without `module.backbone.`): V-JEPA 2's layout for a
    one-level tiled-RoPE predictor (its context head has no place there), V-JEPA 2.1's otherwise."""
    params = {k: v.detach() for k, v in predictor.state_dict().items()}
    width = predictor.width
    state = {f"mask_tokens.{i}": row.view(1, 1, width) for i, row in enumerate(params["mask_tokens"])}
    state.update({"predictor_norm.weight": params["norm.weight"], "predictor_norm.bias": params["norm.bias"],
                  "predictor_proj.weight": params["target_head.weight"], "predictor_proj.bias": params["target_head.bias"],
                  **blocks_out(predictor.blocks, "predictor_blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",))})
    if predictor.levels > 1:
        state.update({f"predictor_embed.{i}.{p}": params[f"fuse.{i}.{p}"] for i in (0, 2) for p in ("weight", "bias")})
    else:
        state.update({"predictor_embed.weight": params["fuse.weight"], "predictor_embed.bias": params["fuse.bias"]})
    if not predictor.tiled_rope:
        state.update({"img_mod_embed": params["modality"][IMAGE].view(1, 1, width),
                      "video_mod_embed": params["modality"][VIDEO].view(1, 1, width),
                      "predictor_proj_context.weight": params["context_head.weight"],
                      "predictor_proj_context.bias": params["context_head.bias"]})
    return {k: v.contiguous() for k, v in state.items()}

"""The V-JEPA 2 encoder as Meta released it for torch.hub (`vitl.pt`, `vith.pt`, `vitg.pt`, `vitg-384.pt`).

A released checkpoint is a pickled dict whose `encoder`, `target_encoder` (the EMA teacher, the one the hub
loads) and `predictor` entries are state dicts with keys under `module.backbone.` (the hub strips both
prefixes). The encoder's own names: `patch_embed.proj` (a Conv3d over tubelets), `blocks.i.{norm1, attn.qkv,
attn.proj, norm2, mlp.fc1, mlp.fc2}` (query, key and value already stacked, as in worldjepa) and `norm`; a
`pos_embed` table may be present but is unused (the released encoders rotate with RoPE, with V-JEPA 2's
tiled frequencies, nn/rope.py). The width, depth, patch, tubelet and MLP width are read from the shapes; the
number of heads, which no shape shows, from the released sizes (nn/encoder.py SIZES) or the caller.

Files are read with `torch.load(weights_only=True)` only: a pickle that would import or run anything else is
refused, never executed.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from ..nn.encoder import SIZES, Encoder, ViTSize
from ..nn.tokenizers import VIDEO
from .vit_keys import blocks_in, blocks_out, check_keys, expected_blocks

_NAMES = {p: p.replace("mlp.0", "mlp.fc1").replace("mlp.2", "mlp.fc2") for p in (
    "norm1.weight", "norm1.bias", "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
    "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias")}
ENCODER_KEYS = ("target_encoder", "ema_encoder", "encoder")  # the teacher first: the features the hub loads


def read_checkpoint(path: str | Path) -> dict:
    """A `.pt` / `.pth.tar` file's tensors and plain containers, never code."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f"{path} holds objects other than tensors and plain containers, which worldjepa "
                         f"does not unpickle (torch.load(weights_only=True) refused: {str(err).splitlines()[0]}); "
                         f"load it in the code that wrote it and save its state dict") from None


def _strip(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k.replace("module.", "").replace("backbone.", ""): v for k, v in state.items()}


def encoder_from_vjepa2_hub(checkpoint: Mapping, heads: int | None = None, key: str | None = None) -> Encoder:
    """A released V-JEPA 2 checkpoint (the dict `read_checkpoint` returns, or one encoder state dict) →
    worldjepa's `Encoder` with V-JEPA 2's tiled RoPE frequencies. `key` picks the entry (default: the first of
    target_encoder, ema_encoder, encoder present)."""
    if key is None:
        key = next((k for k in ENCODER_KEYS if k in checkpoint), None)
        state = checkpoint if key is None else checkpoint[key]
    elif key not in checkpoint:
        raise ValueError(f"the checkpoint has no entry {key!r}; it has {', '.join(map(str, checkpoint))}")
    else:
        state = checkpoint[key]
    state = _strip(state)
    if "patch_embed.proj.weight" not in state:
        raise ValueError("not a V-JEPA 2 encoder state dict: no patch_embed.proj.weight (keys start with "
                         f"{', '.join(sorted(state)[:4])}, …); the layouts worldjepa reads are in docs/interop.md")
    width, chans, tubelet, patch, _ = state["patch_embed.proj.weight"].shape
    depth = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k)))
    fc1 = state.get("blocks.0.mlp.fc1.weight")
    hidden = 4 * width if fc1 is None else fc1.shape[0]  # a missing one is reported below
    if heads is None:
        released = [s for s in SIZES.values() if (s.depth, s.width) == (depth, width)]
        if not released:
            raise ValueError(f"a {depth}-block, {width}-wide encoder is not a released size: pass heads=")
        heads = released[0].heads
    ignored = [k for k in state if k == "pos_embed"]  # unused by the RoPE encoders that carry it
    state = {k: v for k, v in state.items() if k not in ignored}
    expected = {"patch_embed.proj.weight": (width, chans, tubelet, patch, patch), "patch_embed.proj.bias": (width,),
                "norm.weight": (width,), "norm.bias": (width,),
                **expected_blocks("blocks.{}.", _NAMES, ("attn.qkv",), depth, width, hidden)}
    check_keys(state, expected, "released V-JEPA 2 encoder")

    encoder = Encoder(ViTSize(depth, width, heads, hidden / width), patch_size=patch, tubelet_size=tubelet,
                      in_chans=chans, separate_tokenizers=False, levels=1, position="rope", tiled_rope=True)
    ours = {"tokenizer.video.proj.weight": state["patch_embed.proj.weight"].reshape(width, -1),
            "tokenizer.video.proj.bias": state["patch_embed.proj.bias"], "tokenizer.modality": torch.zeros(2, width),
            "level_norms.0.weight": state["norm.weight"], "level_norms.0.bias": state["norm.bias"],
            **blocks_in(state, "blocks.{}.", _NAMES, ("attn.qkv",), depth, width)}
    encoder.load_state_dict({k: v.float() for k, v in ours.items()})
    return encoder.eval()


def vjepa2_hub_state(encoder: Encoder) -> dict[str, Tensor]:
    """worldjepa's encoder in the released encoder names (without `module.backbone.`): the layout the official
    `VisionTransformer` loads. Its video tokenizer becomes `patch_embed`, the video modality vector joins its
    bias, the last level's norm becomes `norm`. Works on the meta device (shapes only)."""
    video, width = encoder.tokenizer.video, encoder.dim
    state = {"patch_embed.proj.weight": video.proj.weight.detach().view(width, video.in_chans, video.tubelet,
                                                                        video.patch, video.patch),
             "patch_embed.proj.bias": (video.proj.bias + encoder.tokenizer.modality[VIDEO]).detach(),
             "norm.weight": encoder.level_norms[-1].weight.detach(), "norm.bias": encoder.level_norms[-1].bias.detach(),
             **blocks_out(encoder.blocks, "blocks.{}.", _NAMES, ("attn.qkv",))}
    return {k: v.contiguous() for k, v in state.items()}

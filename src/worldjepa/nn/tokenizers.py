"""Tokenizers: observations → tokens (features, grid positions, modality).

Videos [B, T, C, H, W] are cut into t×p×p tubelets, images [B, C, H, W] into p×p patches; each patch is
flattened in (C, t, p, p) order (the layout of a Conv3d kernel) and mapped by one Linear, which is the
same function as a strided convolution but runs as a single matmul. Positions are integer grid
coordinates (t, h, w) in token units; images are one-frame inputs at t = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

IMAGE, VIDEO = 0, 1


@dataclass
class Tokens:
    x: Tensor  # [B, N, D] token features
    positions: Tensor  # [N, 3] float grid coordinates (t, h, w), shared by the batch
    grid: tuple[int, int, int]  # (T', H', W') with N = T'·H'·W'
    modality: int  # IMAGE or VIDEO


def grid_positions(grid: tuple[int, int, int], device: torch.device | None = None) -> Tensor:
    """[T'·H'·W', 3] float (t, h, w) coordinates in raster order (t slowest)."""
    axes = [torch.arange(n, dtype=torch.float32, device=device) for n in grid]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)


class PatchEmbed(nn.Module):
    """Linear embedding of non-overlapping `tubelet`×`patch`×`patch` blocks of [B, T, C, H, W]."""

    def __init__(self, in_chans: int, dim: int, patch: int, tubelet: int = 1):
        super().__init__()
        self.in_chans, self.patch, self.tubelet = in_chans, patch, tubelet
        self.proj = nn.Linear(in_chans * tubelet * patch * patch, dim)

    def grid(self, T: int, H: int, W: int) -> tuple[int, int, int]:
        p, t = self.patch, self.tubelet
        if H % p or W % p:
            raise ValueError(
                f"image size {H}x{W} is not divisible by the patch size {p}: resize or crop the input to a "
                f"multiple of {p} (e.g. {H // p * p}x{W // p * p})"
            )
        if T % t:
            raise ValueError(f"clip length {T} is not divisible by the tubelet size {t}")
        return T // t, H // p, W // p

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, int, int]]:
        B, T, C, H, W = x.shape
        if C != self.in_chans:
            raise ValueError(f"expected {self.in_chans} channels, got {C} (input shape {tuple(x.shape)})")
        gt, gh, gw = self.grid(T, H, W)
        p, t = self.patch, self.tubelet
        x = x.reshape(B, gt, t, C, gh, p, gw, p).permute(0, 1, 4, 6, 3, 2, 5, 7)
        return self.proj(x.reshape(B, gt * gh * gw, C * t * p * p)), (gt, gh, gw)


class Tokenizer(nn.Module):
    """Separate image (2D) and video (3D tubelet) patch embeddings plus a learnable modality vector
    added to every token (V-JEPA 2.1 pillar 3). With `separate=False` images are repeated into a
    `tubelet`-frame clip and share the video embedding (the V-JEPA 2 behaviour, kept for ablations)."""

    def __init__(self, dim: int, patch: int, tubelet: int, in_chans: int = 3, separate: bool = True):
        super().__init__()
        self.separate, self.tubelet = separate, tubelet
        self.video = PatchEmbed(in_chans, dim, patch, tubelet)
        self.image = PatchEmbed(in_chans, dim, patch, 1) if separate else None
        self.modality = nn.Parameter(torch.zeros(2, dim))

    def forward(self, obs: Tensor) -> Tokens:
        if not obs.is_floating_point():
            raise TypeError(f"expected float pixels normalised as in training (worldjepa.data.batches.to_tensor "
                            f"turns uint8 [..., H, W, 3] frames into them), got {obs.dtype} of shape {tuple(obs.shape)}")
        if obs.dim() == 4:  # image [B, C, H, W]
            if self.separate:
                x, grid = self.image(obs.unsqueeze(1))
            else:
                x, grid = self.video(obs.unsqueeze(1).expand(-1, self.tubelet, -1, -1, -1))
            modality = IMAGE
        elif obs.dim() == 5:  # clip [B, T, C, H, W]
            x, grid = self.video(obs)
            modality = VIDEO
        else:
            raise ValueError(
                f"expected an image batch [B, C, H, W] or a clip batch [B, T, C, H, W], got shape {tuple(obs.shape)}"
            )
        x = x + self.modality[modality]
        return Tokens(x, grid_positions(grid, x.device), grid, modality)

"""Mask samplers: which tokens the encoder sees (context) and which the predictor must predict.

* `MultiBlockMask` (V-JEPA, docs/methods.md §2.2): the union of `num_blocks` spatial blocks, each a "tube"
  over a temporal extent; block size (scale, aspect) is drawn once per batch, positions per sample.
  A causal mask's blocks end at the last time step (the future is predicted from the past).
  With a one-frame grid it is the V-JEPA 2.1 image mask.
* `IJEPAMask` (I-JEPA, §1.2): 4 target blocks predicted in separate passes and one large context block
  with the targets removed.

Both are vectorised over the batch, driven by an explicit `torch.Generator` (seed it per step so that
data workers, resumed runs and tests agree), and place blocks at every valid offset: a block of height h
starts at any row in [0, H − h], so the last row and column are reachable (the field's samplers draw
from [0, H − h) and never mask them). Sample-wise token counts differ, so indices are truncated to the
batch minimum, dropping a random subset (not the raster-order tail) of the surplus tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..config import MaskConfig

MAX_RESAMPLES = 100


@dataclass
class Masks:
    context: Tensor  # [B, Nc] token indices the encoder sees
    targets: Tensor  # [B, K, Nt] token indices to predict; each of the K groups is its own predictor pass
    masked: Tensor  # [B, N] bool: every token hidden from the encoder (distances are measured to these)
    mask_type: int  # which learnable mask token the predictor uses

    def rows(self, keep: slice) -> "Masks":
        """The masks of some samples of the batch (a rank's share of the global batch)."""
        if keep == slice(0, self.context.shape[0]):
            return self
        return Masks(self.context[keep], self.targets[keep], self.masked[keep], self.mask_type)


def _uniform(generator: torch.Generator, low_high: tuple[float, float]) -> float:
    low, high = low_high
    return low + torch.rand(1, generator=generator).item() * (high - low)


def block_size(generator: torch.Generator, grid: tuple[int, int, int], spatial_scale, temporal_scale,
               aspect_ratio) -> tuple[int, int, int]:
    """(t, h, w) of one block: h·w ≈ scale·H·W with h/w ≈ aspect ratio, clipped to the grid."""
    T, H, W = grid
    t = max(1, int(T * _uniform(generator, temporal_scale)))
    keep = max(1, int(H * W * _uniform(generator, spatial_scale)))
    ratio = _uniform(generator, aspect_ratio)
    h = min(H, max(1, int(round(math.sqrt(keep * ratio)))))
    w = min(W, max(1, int(round(math.sqrt(keep / ratio)))))
    return min(t, T), h, w


def _blocks(generator: torch.Generator, grid, size, batch: int, count: int, causal: bool = False) -> Tensor:
    """Boolean [batch, count, T, H, W]: `count` blocks of `size` at uniform valid offsets per sample
    (causal: every block ends at the last time step)."""
    (T, H, W), (t, h, w) = grid, size
    start = torch.randint(0, T - t + 1, (batch, count, 1), generator=generator)
    if causal:
        start = torch.full_like(start, T - t)
    top = torch.randint(0, H - h + 1, (batch, count, 1), generator=generator)
    left = torch.randint(0, W - w + 1, (batch, count, 1), generator=generator)
    in_t = (torch.arange(T) >= start) & (torch.arange(T) < start + t)
    in_h = (torch.arange(H) >= top) & (torch.arange(H) < top + h)
    in_w = (torch.arange(W) >= left) & (torch.arange(W) < left + w)
    return in_t[..., :, None, None] & in_h[..., None, :, None] & in_w[..., None, None, :]


def select(flags: Tensor, generator: torch.Generator) -> Tensor:
    """Indices of the True entries of each row of `flags` [B, N], truncated to the batch minimum by
    dropping a random subset; returned in ascending (raster) order. → [B, min count]."""
    count = int(flags.sum(1).min())
    key = torch.rand(flags.shape, generator=generator) - flags.float() * 2.0  # True rows sort first
    chosen = key.argsort(dim=1)[:, :count]
    return chosen.sort(dim=1).values


class MultiBlockMask:
    def __init__(self, grid: tuple[int, int, int], cfg: MaskConfig, mask_type: int = 0, min_context: int = 4):
        self.grid, self.cfg, self.mask_type, self.min_context = grid, cfg, mask_type, min_context
        if min_context >= grid[0] * grid[1] * grid[2]:
            raise ValueError(f"min_context={min_context} leaves nothing to mask in a {grid} grid")

    def sample(self, batch: int, generator: torch.Generator) -> Masks:
        c = self.cfg
        size = block_size(generator, self.grid, c.spatial_scale, c.temporal_scale, c.aspect_ratio)
        masked = _blocks(generator, self.grid, size, batch, c.num_blocks, c.causal).any(1).flatten(1)  # [B, N]
        for _ in range(MAX_RESAMPLES):
            bad = (~masked).sum(1) < self.min_context
            if not bad.any():
                break
            fresh = _blocks(generator, self.grid, size, int(bad.sum()), c.num_blocks, c.causal).any(1).flatten(1)
            masked[bad] = fresh
        else:
            raise ValueError(
                f"mask {c} on a {self.grid} token grid leaves fewer than {self.min_context} visible tokens: "
                "lower spatial_scale or num_blocks, or use larger images"
            )
        context = select(~masked, generator)
        targets = select(masked, generator).unsqueeze(1)
        return Masks(context, targets, masked, self.mask_type)


class IJEPAMask:
    def __init__(self, grid: tuple[int, int, int], num_targets: int = 4, target_scale=(0.15, 0.2),
                 target_aspect=(0.75, 1.5), context_scale=(0.85, 1.0), min_context: int = 4, mask_type: int = 0):
        if grid[0] != 1:
            raise ValueError(f"I-JEPA masks are for images (a one-frame grid), got {grid}")
        self.grid, self.num_targets, self.min_context, self.mask_type = grid, num_targets, min_context, mask_type
        self.target_scale, self.target_aspect, self.context_scale = target_scale, target_aspect, context_scale

    def sample(self, batch: int, generator: torch.Generator) -> Masks:
        grid = self.grid
        tsize = block_size(generator, grid, self.target_scale, (1.0, 1.0), self.target_aspect)
        csize = block_size(generator, grid, self.context_scale, (1.0, 1.0), (1.0, 1.0))

        def draw(n: int) -> tuple[Tensor, Tensor]:
            targets = _blocks(generator, grid, tsize, n, self.num_targets).flatten(2)  # [n, K, N]
            context = _blocks(generator, grid, csize, n, 1)[:, 0].flatten(1) & ~targets.any(1)
            return targets, context

        targets, context = draw(batch)
        for _ in range(MAX_RESAMPLES):
            bad = context.sum(1) < self.min_context
            if not bad.any():
                break
            targets[bad], context[bad] = draw(int(bad.sum()))
        else:
            raise ValueError(f"I-JEPA masks on a {grid} grid leave fewer than {self.min_context} context tokens")
        # every target block has exactly h·w tokens, so its indices stack without truncation
        target_idx = targets.float().argsort(dim=2, descending=True, stable=True)[..., : tsize[1] * tsize[2]]
        return Masks(select(context, generator), target_idx.sort(dim=2).values, targets.any(1), self.mask_type)


def distance_to_masked(positions: Tensor, context: Tensor, masked: Tensor) -> Tensor:
    """Euclidean grid distance from each context token to its nearest masked token.

    positions [N, 3], context [B, Nc] indices, masked [B, N] bool → [B, Nc]. One batched distance
    matrix, no loop over tokens.
    """
    dist = torch.cdist(positions[context], positions.expand(context.shape[0], -1, -1))  # [B, Nc, N]
    return dist.masked_fill(~masked.unsqueeze(1), float("inf")).amin(-1)

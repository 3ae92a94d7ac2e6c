"""Latent-prediction losses (docs/methods.md §1.1, §2.1, §4.1–4.2).

V-JEPA 2.1 dense predictive loss, computed on all L levels at once (levels concatenated along
channels, so each level weighs equally):

    L_predict = mean over masked tokens i and channels of |ẑ_i − h_i|
    L_ctx     = mean over visible tokens i and channels of |ẑ_i − h_i| / √d_min(i)
    L         = L_predict + λ_t · L_ctx

where h = per-level LayerNorm (no affine) of the teacher's output and d_min(i) is the grid distance
from visible token i to the nearest masked token. λ_t ramps linearly from 0 to λ between two steps.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def level_norm(h: Tensor, levels: int) -> Tensor:
    """LayerNorm without affine parameters on each of the `levels` equal channel chunks of h [..., L·D]."""
    chunked = h.unflatten(-1, (levels, h.shape[-1] // levels))
    return F.layer_norm(chunked, chunked.shape[-1:]).flatten(-2)


def regression(pred: Tensor, target: Tensor, kind: str = "l1") -> Tensor:
    """Element-wise error before averaging: |x − y| (V-JEPA family) or smooth-L1, β = 1 (I-JEPA code)."""
    if kind == "l1":
        return (pred - target).abs()
    return F.smooth_l1_loss(pred, target, reduction="none")


def masked_loss(pred: Tensor, target: Tensor, kind: str = "l1") -> Tensor:
    """L_predict: pred, target [B, Nt, C] → scalar mean."""
    return regression(pred, target, kind).mean()


def context_loss(pred: Tensor, target: Tensor, distance: Tensor, kind: str = "l1") -> Tensor:
    """L_ctx: pred, target [B, Nc, C], distance [B, Nc] (≥ 1) → mean of error / √distance."""
    return (regression(pred, target, kind) * distance.rsqrt().unsqueeze(-1)).mean()


def lambda_at(step: int, value: float, warmup: tuple[int, int]) -> float:
    """λ_t: 0 before warmup[0], linear to `value` at warmup[1], constant after."""
    start, end = warmup
    if step < start:
        return 0.0
    if step >= end:
        return value
    return value * (step - start) / (end - start)

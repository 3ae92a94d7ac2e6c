"""Cheap health numbers for latents, logged during training and read by `worldjepa doctor`.

A JEPA can collapse while its loss looks fine: a constant encoder predicts itself perfectly. These
numbers see it. For a set of latent vectors x [N, D] (tokens or frames of a batch):

    std        mean over dimensions of the standard deviation over the N vectors
    std_ratio  std / root-mean-square of x: 0 when every vector is the same, ≈ 1 for centred spread
    rankme     exp(entropy of the normalised singular values of the centred x) (RankMe, Garrido et al.
               2023, on centred vectors so that a shared offset does not count as a direction): 1 for
               one direction, D for a spread that fills every dimension evenly
    cosine     mean cosine similarity between different vectors: 1 when they all point the same way
    width      D, the scale rankme is read against
"""

from __future__ import annotations

import torch
from torch import Tensor

MAX_VECTORS = 1024  # a fixed subsample keeps the SVD at a few milliseconds


def spread(x: Tensor) -> dict[str, float]:
    x = x.detach().float().reshape(-1, x.shape[-1])
    if x.shape[0] > MAX_VECTORS:  # evenly spaced rows: deterministic, no random state used
        x = x[torch.linspace(0, x.shape[0] - 1, MAX_VECTORS).long()]
    centred = x - x.mean(0)
    std = float(x.std(0).mean()) if x.shape[0] > 1 else 0.0
    rms = float(x.pow(2).mean().sqrt())
    return {"std": std, "std_ratio": std / rms if rms > 0 else 0.0, "rankme": rankme(centred),
            "cosine": mean_cosine(x) if rms > 0 else 1.0, "width": x.shape[-1]}  # all zero: all the same


def rankme(x: Tensor, eps: float = 1e-7) -> float:
    s = torch.linalg.svdvals(x.double())
    total = float(s.sum())
    if total <= eps * max(x.shape):  # no spread at all: one (degenerate) direction
        return 1.0
    p = s / s.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))


def mean_cosine(x: Tensor) -> float:
    n = x.shape[0]
    if n < 2:
        return 1.0
    u = torch.nn.functional.normalize(x, dim=-1)
    total = u.sum(0)
    return float((total @ total - (u * u).sum()) / (n * (n - 1)))  # off-diagonal mean of u uᵀ

"""Planning energies: how far a rollout ends from the goal, in latent space.

    E(ẑ, z_goal) = Σ_h w_h · d(ẑ_h, z_goal),   d = squared L2 (LeWM, DINO-WM) or mean |·| (V-JEPA 2-AC)

over the H predicted steps of each candidate, with per-step weights w (`horizon_weights`).
"""

from __future__ import annotations

import torch
from torch import Tensor


def horizon_weights(horizon: int, kind: str, path_weight: float = 0.0) -> Tensor:
    """Per-step energy weights. "last": 1 on the final prediction and `path_weight` on the others (a small
    path weight breaks the tie between plans that all end at the goal in favour of getting there
    early, without making a detour around a wall look worse than waiting in front of it); "ramp":
    0.1 → 1 linearly (PLDM)."""
    if kind == "last":
        w = torch.full((horizon,), float(path_weight))
        w[-1] = 1.0
        return w
    if kind == "ramp":
        return torch.linspace(0.1, 1.0, horizon)
    raise ValueError(f"energy weights must be 'last' or 'ramp', got {kind!r}")


def latent_energy(z_pred: Tensor, z_goal: Tensor, kind: str = "l2", weights: Tensor | None = None) -> Tensor:
    """[B, C, H, *L] against [B, *L] → [B, C]: Σ_h w_h · d(ẑ_h, z_goal), d = squared L2 or mean |·|."""
    if kind not in ("l2", "l1"):
        raise ValueError(f"energy must be 'l2' or 'l1', got {kind!r}")
    H = z_pred.shape[2]
    diff = (z_pred.float() - z_goal.float()[:, None, None]).flatten(3)
    per_step = diff.pow(2).sum(-1) if kind == "l2" else diff.abs().mean(-1)  # [B, C, H]
    w = horizon_weights(H, "last") if weights is None else weights
    return (per_step * w.to(per_step.device)).sum(-1)

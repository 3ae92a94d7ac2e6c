"""The `WorldModel` protocol: what solvers, MPC, ensembles and evaluations see of a world model.

    encode(obs [B, S, S, 3] uint8 or [B, 3, S, S] normalised) -> z [B, *latent]
    rollout(z0 [B, *latent], actions [B, C, H, A], proprio0 [B, P] | None) -> ẑ [B, C, H, *latent]
                                                      (C candidate sequences; dynamics/unroll.py's proprio rule)
    energy(ẑ [B, C, H, *latent], z_goal [B, *latent]) -> [B, C]

and the action space it plans in: chunks of `action_dim` = frameskip × the world's action size, within
[action_low, action_high]. Every world model (the JEPA forms in dynamics/model.py, an ensemble of them,
the exact models in planning/oracle.py, and baselines of other paradigms) plans with the same code.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from torch import Tensor


@runtime_checkable
class WorldModel(Protocol):
    action_dim: int  # values per planned step (an action chunk)
    action_low: Tensor  # [action_dim] bounds of a chunk
    action_high: Tensor
    frameskip: int  # primitive environment steps per planned step
    proprio_dim: int  # 0: plans from pixels alone; else rollout needs proprio0 [B, proprio_dim]
    image_size: int  # the observations it reads are image_size² RGB

    def encode(self, obs: Tensor | np.ndarray) -> Tensor: ...

    def rollout(self, z0: Tensor, actions: Tensor, proprio0: Tensor | None = None) -> Tensor: ...

    def energy(self, z_pred: Tensor, z_goal: Tensor) -> Tensor: ...

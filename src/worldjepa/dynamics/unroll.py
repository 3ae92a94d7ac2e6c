"""The one way a world model is rolled forward: training, health monitors, planning, ensembles and
navigation all call `unroll`.

A predictor (either form: dynamics/compact.py, dynamics/patch.py, or a baseline of another paradigm) maps
latents, actions and proprio of steps 1..T to predictions of the latents of steps 2..T+1 ("teacher
forcing": every input is observed), and rolls out from one observed latent, feeding each prediction back
as the next input.

The proprio rule. A step whose latent was observed (encoded from a real frame) reads that frame's proprio.
A step whose latent was predicted reads the proprio of the last observed frame, held: the model predicts
latents, not proprio, so the proprio of a frame it has not seen is unknown to it, in training as in
planning. Teacher forcing therefore feeds each frame's own proprio, and every rollout from an observed
z_0 feeds p_0 at every step. Training and planning see the same inputs, so a model is never trained on
proprio that it cannot have when it plans.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor


class Predictor(Protocol):
    action_dim: int
    proprio_dim: int  # 0: the predictor reads no proprio

    def __call__(self, z: Tensor, actions: Tensor, proprio: Tensor | None = None) -> Tensor:
        """Teacher forcing: z [B, T, *L], actions [B, T, A], proprio [B, T, P] → predictions [B, T, *L],
        the one at t predicting the latent of t + 1 and causal in t."""
        ...

    def rollout(self, z0: Tensor, actions: Tensor, proprio: Tensor | None = None) -> Tensor:
        """z0 [B, *L], actions [B, H, A], the proprio input of each step [B, H, P] → [B, H, *L]: each
        prediction fed back as the next input; equal to `feed_back(self, ...)`."""
        ...


def unroll(predictor: Predictor, z0: Tensor, actions: Tensor, proprio0: Tensor | None = None) -> Tensor:
    """Predicted latents [B, H, *L] of the H steps after the observed latent z0 [B, *L] under the action
    chunks [B, H, A]; `proprio0` [B, P] is the observed frame's proprio, held over the horizon (the rule
    above). A predictor that reads no proprio ignores it."""
    if actions.dim() != 3 or actions.shape[0] != z0.shape[0]:
        raise ValueError(f"actions must be [B={z0.shape[0]}, horizon, A], got {tuple(actions.shape)}")
    proprio = None
    if predictor.proprio_dim:
        if proprio0 is None:
            raise ValueError(f"this world model reads proprio: pass the observed frame's proprio [B, "
                             f"{predictor.proprio_dim}]")
        if tuple(proprio0.shape) != (z0.shape[0], predictor.proprio_dim):
            raise ValueError(f"proprio must be [B={z0.shape[0]}, {predictor.proprio_dim}], got {tuple(proprio0.shape)}")
        proprio = proprio0[:, None].expand(-1, actions.shape[1], -1)
    return predictor.rollout(z0, actions, proprio)


def feed_back(predictor: Predictor, z0: Tensor, actions: Tensor, proprio: Tensor | None = None) -> Tensor:
    """The rollout of any predictor by its teacher-forcing call: the sequence grows by its own last
    prediction, H calls of length 1..H. A predictor with a faster equivalent (cached keys and values) uses
    that instead and is tested against this."""
    seq = z0[:, None]
    for h in range(actions.shape[1]):
        nxt = predictor(seq, actions[:, :h + 1], None if proprio is None else proprio[:, :h + 1])[:, -1:]
        seq = torch.cat([seq, nxt.to(seq.dtype)], dim=1)
    return seq[:, 1:]

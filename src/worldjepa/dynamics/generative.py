"""The trainer's objective for the world models of the other two paradigms (dynamics/autoregressive.py,
dynamics/diffusion.py): their "latents" are the frames themselves, so the encoder is the identity, and each is
trained by its own generative loss (next-token cross-entropy and the tokenizer's, or EDM denoising) on the same
episode windows as the JEPA forms. Its health monitors, planning and rollouts are the JEPA forms' own
(dynamics/objective.py, dynamics/model.py): distances between generated and real frames in pixel space.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import WMObjectiveConfig
from ..data.batches import Batch, seed_for
from ..train.objective import Losses
from .objective import WorldModelObjective


class Pixels(nn.Module):
    """The identity encoder: a frame [B, 3, S, S] (normalised pixels) is its own latent."""

    def forward(self, images: Tensor) -> Tensor:
        return images


class GenerativeObjective(WorldModelObjective):
    def __init__(self, predictor: nn.Module, cfg: WMObjectiveConfig, seed: int = 0):
        super().__init__(Pixels(), predictor, cfg, frozen_encoder=True, use_proprio=False, seed=seed)

    def loss(self, batch: Batch, step: int) -> Losses:
        if batch.video is None or batch.actions is None:
            raise ValueError("world-model batches need frames (video) and actions")
        generator = torch.Generator().manual_seed(seed_for(self.seed, step, 21))
        total, parts = self.predictor.training_loss(batch.video, batch.actions, generator, step)
        return Losses(total, parts)

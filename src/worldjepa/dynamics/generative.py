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

    @property
    def stage_starts(self) -> tuple[int, ...]:
        return getattr(self.predictor, "stage_starts", ())

    def loss(self, batch: Batch, step: int) -> Losses:
        if batch.video is None or batch.actions is None:
            raise ValueError("world-model batches need frames (video) and actions")
        generator = torch.Generator().manual_seed(seed_for(self.seed, step, 21))
        total, parts = self.predictor.training_loss(batch.video, batch.actions, generator, step)
        return Losses(total, parts)


class EmbeddedCost:
    """A pixel world model whose planning energy is measured in another model's latent space: the generated
    frames and the goal frame are encoded by `embedder` (a trained world model, e.g. the JEPA of the same data)
    and compared by its energy. Everything else is the pixel model's own. For sampling solvers (CEM, MPPI): the
    embedding carries no gradient."""

    def __init__(self, model, embedder):
        if model.image_size != embedder.image_size:
            raise ValueError(f"the embedding model reads {embedder.image_size}² frames, the pixel model makes "
                             f"{model.image_size}² ones")
        self.model, self.embedder = model, embedder

    def __getattr__(self, name):
        return getattr(self.model, name)

    def energy(self, z_pred: Tensor, z_goal: Tensor) -> Tensor:
        lead = z_pred.shape[:3]  # [B, C, H] generated frames
        embedded = self.embedder.encode(z_pred.flatten(0, 2)).unflatten(0, lead)
        return self.embedder.energy(embedded, self.embedder.encode(z_goal))

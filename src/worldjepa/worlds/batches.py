"""The physics world as a batch source for pretraining: fresh clips every step, keyed by the step."""

from __future__ import annotations

from ..config import DataConfig
from ..data.batches import Batch, seed_for, split_counts, to_tensor
from .balls import BallWorld


class WorldBatches:
    """Fresh clips from the built-in physics world every step (stills are single frames of clips)."""

    def __init__(self, cfg: DataConfig, seed: int = 0):
        self.cfg, self.seed = cfg, seed
        self.world = BallWorld(cfg.world, cfg.image_size)
        self.num_videos, self.num_images = split_counts(cfg.batch_size, cfg.image_fraction)

    def batch(self, step: int, micro: int = 0) -> Batch:
        video = image = None
        if self.num_videos:
            clips = self.world.generate(self.num_videos, self.cfg.frames, seed_for(self.seed, step, micro, 0))
            video = to_tensor(clips.frames)
        if self.num_images:
            clips = self.world.generate(self.num_images, 1, seed_for(self.seed, step, micro, 1))
            image = to_tensor(clips.frames[:, 0])
        return Batch(video, image)

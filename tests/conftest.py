"""Shared fixtures: a model and world small enough for a test to train in seconds on 2 cores."""

import os

import pytest
import torch
from hypothesis import settings

# Property-based tests draw the same examples every run, so that a red CI is a change's fault and not
# the draw's; WORLDJEPA_EXPLORE=N draws fresh ones, N times as many (docs/reliability.md).
EXPLORE = int(os.environ.get("WORLDJEPA_EXPLORE", "0"))
settings.register_profile("worldjepa", derandomize=not EXPLORE)
settings.load_profile("worldjepa")


def examples(n: int) -> int:
    return n * max(1, EXPLORE)

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("MUJOCO_GL", "egl")
torch.set_num_threads(min(2, torch.get_num_threads()))

SMALL = [
    "data.image_size=32", "data.frames=4", "data.batch_size=4",
    "model.patch_size=8", "model.depth=4", "model.width=48", "model.heads=2",
    "model.predictor_depth=1", "model.predictor_width=32", "model.predictor_heads=2",
    "train.log_every=1", "train.checkpoint_every=100", "train.precision=fp32",
    "optim.warmup_steps=2",
]


@pytest.fixture
def small_overrides():
    return list(SMALL)

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
# Under `make test` (pytest-xdist, 2 workers on 2 cores) each worker computes on one thread, except the demo
# recipe's test (tests/test_demo.py), which takes two and starts first: it is half the suite's time.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
torch.set_num_threads(1 if WORKER else min(2, torch.get_num_threads()))
LONGEST = "test_demo.py"


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.path.name != LONGEST)  # stable: the rest keep their order

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


# A world model small enough to train in seconds (the wm-two-rooms preset, shrunk).
SMALL_WM = ["image_size=32", "data.window=3", "data.frameskip=2", "data.batch_size=32", "model.depth=2",
            "model.width=64", "model.heads=2", "model.token_dim=8", "model.projector_hidden=128",
            "model.latent_dim=32", "model.predictor_depth=2", "model.predictor_width=64", "model.predictor_heads=2",
            "train.precision=fp32", "train.log_every=50", "train.checkpoint_every=1000", "optim.warmup_steps=20",
            "objective.sigreg_slices=256"]
TINY_PLAN = ["samples=16", "iterations=2", "elites=4", "horizon=2", "budget=6"]


@pytest.fixture(scope="session")
def two_rooms_store(tmp_path_factory):
    """60 collected two-rooms episodes of 20 steps at 32 px (states and proprio recorded)."""
    from worldjepa.cli import main
    from worldjepa.data.episodes import EpisodeStore

    data = tmp_path_factory.mktemp("two-rooms") / "data"
    assert main(["collect", "--world", "two-rooms", "--episodes", "60", "--steps", "20", "--out", str(data),
                 "--image-size", "32"]) == 0
    return EpisodeStore(data)


@pytest.fixture
def small_wm_overrides():
    return list(SMALL_WM)


class LinearObjective(torch.nn.Module):
    """The smallest objective the trainer accepts (train/objective.py): least squares y ≈ W x + b on
    batches whose `image` holds x [B, 3] and `actions` holds y [B, 2]. Its loss and gradients have closed
    forms, so trainer tests can check values."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Linear(3, 2)

    def trainable(self):
        return self.net

    def loss(self, batch, step):
        from worldjepa.train.objective import Losses

        err = (self.net(batch.image) - batch.actions).pow(2).mean()
        return Losses(err, {"mse": float(err.detach())})

    def after_step(self, step):
        return {}

    def monitors(self, batch, step):
        return {}


class LinearSource:
    """Batches of LinearObjective, a pure function of (step, micro): y = A x + c + noise."""

    def __init__(self, batch_size: int = 8):
        self.batch_size = batch_size

    def batch(self, step, micro=0):
        from worldjepa.data.batches import Batch

        g = torch.Generator().manual_seed(1000 * step + micro)
        x = torch.randn(self.batch_size, 3, generator=g)
        y = x @ torch.tensor([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0]]) + 0.1 * torch.randn(self.batch_size, 2, generator=g)
        return Batch(image=x, actions=y)


def moving_square(actions, top: int = 6):
    """A toy world for the generative baselines: 16 px frames of a bright 4 × 4 square on a dark field (rows
    top..top+3), moved 4 px right (action +1) or left (−1). Returns (frames [B, 2, 3, 16, 16], actions [B, 1, 1])."""
    B = actions.shape[0]
    frames = torch.full((B, 2, 3, 16, 16), -1.0)
    frames[:, 0, :, top:top + 4, 6:10] = 1.0
    for b in range(B):
        x = 6 + 4 * int(actions[b])
        frames[b, 1, :, top:top + 4, x:x + 4] = 1.0
    return frames, actions[:, None, None].float()

"""Object-state probes on the physics world: ball positions and velocities from frozen features.

Probe input (chosen deliberately): the encoder's patch grids at two consecutive tubelet steps,
flattened ([2·H'·W'·D] per sample, 4 frames). With 3D-RoPE there is no absolute position table, so a
pooled vector carries little absolute position; the flattened grid keeps *where* each feature is, and
the probe must read *what* is there (which ball, where inside the patch). Two steps, because a linear
read-out of velocity needs at least two observations of position: a JEPA's predictor can infer motion
from positions at several times, so nothing forces the encoder to store motion inside one tubelet.
Targets are the balls' centres (x, y) and velocities (vx, vy), averaged over the window's frames, in a
fixed ball order (ball k has colour k, so identities are visible). Probe-train and probe-test clips
come from seeds that training never uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..config import WorldConfig
from ..data.batches import seed_for
from ..nn.encoder import Encoder
from ..worlds.balls import BallWorld, Clips
from .features import patch_features
from .probes import probe_r2

PROBE_STREAM = 7_777  # seed stream disjoint from training batches


@dataclass
class StateProbeData:
    clips: Clips
    positions: Tensor  # [B·(T'−1), K·2]
    velocities: Tensor  # [B·(T'−1), K·2]


def probe_clips(world_cfg: WorldConfig, image_size: int, n_clips: int, frames: int, tubelet: int,
                seed: int, split: int) -> StateProbeData:
    clips = BallWorld(world_cfg, image_size).generate(n_clips, frames, seed_for(seed, PROBE_STREAM, split))

    def per_window(a: np.ndarray) -> Tensor:  # [B, T, K, 2] → [B·(T'−1), K·2], mean over 2 tubelets
        B, T, K, _ = a.shape
        steps = torch.from_numpy(a.reshape(B, T // tubelet, tubelet, K * 2).mean(2))  # [B, T', K·2]
        return ((steps[:, :-1] + steps[:, 1:]) / 2).reshape(-1, K * 2)

    return StateProbeData(clips, per_window(clips.positions), per_window(clips.velocities))


def grid_samples(features: Tensor) -> Tensor:
    """[B, T', H', W', D] → [B·(T'−1), 2·H'·W'·D]: the flattened patch grids of steps t' and t'+1."""
    B, T = features.shape[:2]
    pairs = torch.cat([features[:, :-1].flatten(2), features[:, 1:].flatten(2)], dim=-1)
    return pairs.reshape(B * (T - 1), -1)


def state_probe_r2(encoder: Encoder, train: StateProbeData, test: StateProbeData) -> dict[str, float]:
    """Ridge probes from flattened patch-grid pairs to positions and velocities → test R² of each."""
    x_train = grid_samples(patch_features(encoder, train.clips.frames))
    x_test = grid_samples(patch_features(encoder, test.clips.frames))
    return _r2(x_train, train, x_test, test)


def _r2(x_train: Tensor, train: StateProbeData, x_test: Tensor, test: StateProbeData) -> dict[str, float]:
    r2 = probe_r2(x_train, {"position": train.positions, "velocity": train.velocities},
                  x_test, {"position": test.positions, "velocity": test.velocities})
    return {"position_r2": r2["position"], "velocity_r2": r2["velocity"]}


def pixel_grid(frames: np.ndarray, patch: int, tubelet: int) -> Tensor:
    """Raw pixels at half resolution arranged like a patch-feature grid (each token = its t×p/2×p/2×3
    pixel values, normalised): the probe's reference input, what a linear read-out gets with no encoder.
    Half resolution keeps the input about as wide as a feature grid (96 vs 192 numbers per token at
    patch 8, tubelet 2), so the probe costs the same."""
    from ..data.batches import to_tensor

    x = to_tensor(frames)  # [B, T, 3, H, W]
    B, T, C, H, W = x.shape
    x = torch.nn.functional.avg_pool2d(x.flatten(0, 1), 2).reshape(B, T, C, H // 2, W // 2)
    B, T, C, H, W = x.shape
    patch = patch // 2
    x = x.reshape(B, T // tubelet, tubelet, C, H // patch, patch, W // patch, patch)
    return x.permute(0, 1, 4, 6, 2, 3, 5, 7).reshape(B, T // tubelet, H // patch, W // patch, -1)


def pixel_probe_r2(train: StateProbeData, test: StateProbeData, patch: int, tubelet: int) -> dict[str, float]:
    x_train = grid_samples(pixel_grid(train.clips.frames, patch, tubelet))
    x_test = grid_samples(pixel_grid(test.clips.frames, patch, tubelet))
    return _r2(x_train, train, x_test, test)

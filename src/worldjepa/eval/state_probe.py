"""Object-state probes on the physics world: ball positions and velocities from frozen features.

The probe's input, chosen deliberately. An encoder with 3D-RoPE has no absolute position table, so
its features say *what* is at a patch, not *where* the patch is, and a mean-pooled vector carries little
absolute position. The probe therefore pools the patch grid with its first spatial moments:

    m(t) = [ mean_p f_p,  mean_p x_p·f_p,  mean_p y_p·f_p ]      (x_p, y_p: patch centre in [−½, ½])

for two consecutive tubelet steps t, t+1 (4 frames; 6·D numbers), and fits ridge regression on that.
This is exactly a linear probe on the flattened patch grid whose weight for patch p is constrained to
be affine in the patch position, W_p = b + x_p·a_x + y_p·a_y: translation-equivariant, as the features
are, and far less data-hungry than a free weight per patch (docs/results.md compares both). Two steps,
because a linear read-out of velocity needs two observations of position: nothing forces a JEPA
encoder to store motion inside one tubelet when its predictor can infer motion from several.

Targets are the balls' centres (x, y) and velocities (vx, vy), averaged over the window's frames, in a
fixed ball order (ball k has colour k, so identities are visible). Probe-train and probe-test clips
come from seeds that training never uses. Raw pixels, laid out on the same token grid, go through the
same probe as a reference. `StateTask` is the suite's task (eval/tasks.py): R² of positions and
velocities, from frozen features (cached) and from pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ..config import WorldConfig
from ..data.batches import seed_for, to_tensor
from ..nn.encoder import Encoder
from ..worlds.balls import BallWorld, Clips
from .features import patch_features
from .probes import probe_r2
from .tasks import Row, RunKind, fmt

if TYPE_CHECKING:
    from .suite import EvalContext

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


def moment_pool(grid: Tensor) -> Tensor:
    """[B, T', H', W', D] → [B, T', 3·D]: the mean of the patch features and their first moments in x, y."""
    B, T, H, W, D = grid.shape
    ys = (torch.arange(H, dtype=grid.dtype) + 0.5) / H - 0.5
    xs = (torch.arange(W, dtype=grid.dtype) + 0.5) / W - 0.5
    basis = torch.stack([torch.ones(H, W), xs.expand(H, W), ys[:, None].expand(H, W)]).to(grid.dtype) / (H * W)
    return torch.einsum("bthwd,mhw->btmd", grid, basis).flatten(2)


def window_samples(steps: Tensor) -> Tensor:
    """[B, T', F] per-step inputs → [B·(T'−1), 2·F]: steps t' and t'+1 side by side."""
    B, T = steps.shape[:2]
    return torch.cat([steps[:, :-1], steps[:, 1:]], dim=-1).reshape(B * (T - 1), -1)


PROBES = ("moments", "grid")


def probe_inputs(grid: Tensor, probe: str = "moments") -> Tensor:
    """Probe input from a feature grid [B, T', H', W', F]: moment-pooled (default) or, for comparison,
    the whole flattened grid (a free weight per patch; ~20× wider, slower and more data-hungry)."""
    if probe not in PROBES:
        raise ValueError(f"probe must be one of {PROBES}, got {probe!r}")
    steps = moment_pool(grid) if probe == "moments" else grid.flatten(2)
    return window_samples(steps)


def pixel_grid(frames: np.ndarray, patch: int, tubelet: int) -> Tensor:
    """Raw pixels arranged like a patch-feature grid: each token is its t×p×p×3 normalised values."""
    x = to_tensor(frames)  # [B, T, 3, H, W]
    B, T, C, H, W = x.shape
    x = x.reshape(B, T // tubelet, tubelet, C, H // patch, patch, W // patch, patch)
    return x.permute(0, 1, 4, 6, 2, 3, 5, 7).reshape(B, T // tubelet, H // patch, W // patch, -1)


def _r2(x_train: Tensor, train: StateProbeData, x_test: Tensor, test: StateProbeData) -> dict[str, float]:
    r2 = probe_r2(x_train, {"position": train.positions, "velocity": train.velocities},
                  x_test, {"position": test.positions, "velocity": test.velocities})
    return {"position_r2": r2["position"], "velocity_r2": r2["velocity"]}


def state_probe_r2(encoder: Encoder, train: StateProbeData, test: StateProbeData,
                   probe: str = "moments") -> dict[str, float]:
    """Test R² of ridge probes from the encoder's patch features to ball positions and velocities."""
    x_train = probe_inputs(patch_features(encoder, train.clips.frames), probe)
    x_test = probe_inputs(patch_features(encoder, test.clips.frames), probe)
    return _r2(x_train, train, x_test, test)


def pixel_probe_r2(train: StateProbeData, test: StateProbeData, patch: int, tubelet: int,
                   probe: str = "moments") -> dict[str, float]:
    """The same probe on raw pixels: what a linear read-out gets with no encoder at all."""
    x_train = probe_inputs(pixel_grid(train.clips.frames, patch, tubelet), probe)
    x_test = probe_inputs(pixel_grid(test.clips.frames, patch, tubelet), probe)
    return _r2(x_train, train, x_test, test)


class StateTask:
    """Ball positions and velocities from frozen features (moment-pooled ridge); raw pixels as the reference."""

    name = "state"
    kind: RunKind = "pretrain"
    needs_labels = False

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        (patch, tubelet), (n, m) = ctx.grid, (ctx.size.probe_clips, ctx.size.test_clips)
        train, test = ctx.held_out(probe_clips, tubelet)
        targets = lambda data: {"position": data.positions, "velocity": data.velocities}  # noqa: E731
        out = {}
        for source, (x_train, x_test) in {
            "encoder": (ctx.features("state-train", f"{n}", train.clips.frames),
                        ctx.features("state-test", f"{m}", test.clips.frames)),
            "pixels": (pixel_grid(train.clips.frames, patch, tubelet), pixel_grid(test.clips.frames, patch, tubelet)),
        }.items():
            r2 = probe_r2(probe_inputs(x_train), targets(train), probe_inputs(x_test), targets(test))
            suffix = "" if source == "encoder" else "_pixels"
            out.update({f"position_r2{suffix}": r2["position"], f"velocity_r2{suffix}": r2["velocity"]})
        return {**out, "clips": {"train": n, "test": m}}

    def rows(self, result: dict[str, Any]) -> list[Row]:
        return [Row(self.name, f"{quantity} R²", fmt(result[f"{quantity}_r2"]),
                    f"pixels {fmt(result[f'{quantity}_r2_pixels'])}") for quantity in ("position", "velocity")]

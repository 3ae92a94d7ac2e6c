"""Dense linear probes on patch features, and the depth task (the NYUv2 linear-probe analogue).

A dense probe is one linear map shared by every patch: patch feature [D] → the K values of that patch's
pixels (K = t·p·p for a t×p×p tubelet), fitted by ridge regression on all patches at once (probes.py;
standardising the features is the test-time form of the published probe's BatchNorm). Predicting each
pixel of the patch, not one value per patch, keeps the error in pixels, as NYUv2's RMSE is.

Depth: clips of the built-in world with their depth maps, from seeds that training never uses; the
score is the RMSE of predicted depth over all pixels, for the encoder, for raw pixels through the same
probe, and for the constant mean depth. `DepthTask` is the suite's task (eval/tasks.py): clips → frozen
features (cached) → probe → RMSE, and depth.png (frames, true depth, the probe's depth).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ..config import WorldConfig
from ..data.batches import seed_for
from ..plots import pyplot, save_figure
from ..worlds.balls import BallWorld
from .metrics import rmse
from .probes import RidgeProbe, fit_ridge
from .state_probe import pixel_grid
from .tasks import Row, RunKind, fmt

if TYPE_CHECKING:
    from .suite import EvalContext

DEPTH_STREAM = 7_778  # seeds disjoint from training and from the state probe's


def fit_dense(features: Tensor, targets: Tensor) -> RidgeProbe:
    """features [..., D], targets [..., K] (same leading shape) → one ridge map D → K for every patch."""
    if features.shape[:-1] != targets.shape[:-1]:
        raise ValueError(f"features {tuple(features.shape)} and targets {tuple(targets.shape)} must share "
                         "their leading (sample and patch) dimensions")
    return fit_ridge(features.reshape(-1, features.shape[-1]), targets.reshape(-1, targets.shape[-1]))


def predict_dense(probe: RidgeProbe, features: Tensor) -> Tensor:
    return probe.predict(features.reshape(-1, features.shape[-1])).reshape(*features.shape[:-1], -1)


def to_patches(maps: np.ndarray, patch: int, tubelet: int) -> Tensor:
    """Per-pixel maps [B, T, S, S] → per-token targets [B, T', H', W', t·p·p]."""
    B, T, S, _ = maps.shape
    x = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))
    x = x.reshape(B, T // tubelet, tubelet, S // patch, patch, S // patch, patch)
    return x.permute(0, 1, 3, 5, 2, 4, 6).reshape(B, T // tubelet, S // patch, S // patch, -1)


def from_patches(tokens: Tensor, patch: int, tubelet: int) -> Tensor:
    """The inverse of `to_patches`."""
    B, Tp, Hp, Wp, _ = tokens.shape
    x = tokens.reshape(B, Tp, Hp, Wp, tubelet, patch, patch).permute(0, 1, 4, 2, 5, 3, 6)
    return x.reshape(B, Tp * tubelet, Hp * patch, Wp * patch)


def depth_clips(world: WorldConfig, image_size: int, clips: int, frames: int, seed: int, split: int):
    return BallWorld(world, image_size).generate(clips, frames, seed_for(seed, DEPTH_STREAM, split), depth=True)


def depth_rmse(train_features: Tensor, train_depth: np.ndarray, test_features: Tensor, test_depth: np.ndarray,
               patch: int, tubelet: int) -> tuple[float, Tensor]:
    """RMSE of a dense probe's depth on the test clips, and its predicted depth maps [B, T, S, S]."""
    probe = fit_dense(train_features, to_patches(train_depth, patch, tubelet))
    pred = from_patches(predict_dense(probe, test_features).float(), patch, tubelet)
    return rmse(pred.numpy(), test_depth), pred


class DepthTask:
    """Depth of held-out clips from frozen features; raw pixels and the mean depth as references."""

    name = "depth"
    kind: RunKind = "pretrain"
    needs_labels = False

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        (patch, tubelet), (n, m) = ctx.grid, (ctx.size.probe_clips, ctx.size.test_clips)
        train, test = ctx.held_out(depth_clips)
        f_train = ctx.features("depth-train", f"{n}", train.frames)
        f_test = ctx.features("depth-test", f"{m}", test.frames)
        score, pred = depth_rmse(f_train, train.depth, f_test, test.depth, patch, tubelet)
        pixels, _ = depth_rmse(pixel_grid(train.frames, patch, tubelet), train.depth,
                               pixel_grid(test.frames, patch, tubelet), test.depth, patch, tubelet)
        depth_figure(test.frames[:4], test.depth[:4], pred[:4].numpy(), ctx.out / "depth.png")
        mean_depth = rmse(np.full_like(test.depth, train.depth.mean()), test.depth)
        return {"rmse": score, "rmse_pixels": pixels, "rmse_mean_depth": mean_depth,
                "clips": {"train": n, "test": m}, "probe": "ridge per patch → its t·p·p depth pixels"}

    def rows(self, result: dict[str, Any]) -> list[Row]:
        return [Row(self.name, "RMSE (lower is better)", fmt(result["rmse"]),
                    f"pixels {fmt(result['rmse_pixels'])}, mean depth {fmt(result['rmse_mean_depth'])}")]


def depth_figure(frames: np.ndarray, true: np.ndarray, pred: np.ndarray, path: Path) -> Path:
    """Frames [N, T, S, S, 3], true and predicted depth [N, T, S, S] → one column per clip (its first frame)."""
    plt = pyplot()
    n = len(frames)
    fig, axes = plt.subplots(3, n, figsize=(1.8 * n, 5.4), squeeze=False)
    lo, hi = float(true.min()), float(true.max())  # one colour scale for truth and probe
    for i in range(n):
        axes[0, i].imshow(frames[i, 0])
        axes[1, i].imshow(true[i, 0], vmin=lo, vmax=hi, cmap="magma_r")
        axes[2, i].imshow(pred[i, 0], vmin=lo, vmax=hi, cmap="magma_r")
    for ax, label in zip(axes[:, 0], ("frame", "true depth", "probe")):
        ax.set_ylabel(label, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return save_figure(fig, path)

"""Pictures of a run: frames beside the PCA of their patch features, and the training curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..plots import pyplot, save_figure
from ..train.log import read_log, step_records




def pca_rgb(features: Tensor) -> np.ndarray:
    """[..., D] → [..., 3] in [0, 1]: the first three principal components of all the tokens given,
    each stretched to its 1st–99th percentile range (so one outlier token does not wash out the map)."""
    flat = features.reshape(-1, features.shape[-1]).double()
    flat = flat - flat.mean(0)
    _, _, v = torch.linalg.svd(flat, full_matrices=False)
    comps = flat @ v[:3].T
    lo, hi = torch.quantile(comps, 0.01, dim=0), torch.quantile(comps, 0.99, dim=0)
    comps = ((comps - lo) / (hi - lo).clamp_min(1e-9)).clamp(0, 1)
    return comps.reshape(*features.shape[:-1], 3).numpy()


def pca_figure(frames: np.ndarray, features: dict[str, Tensor], path: str | Path, tubelet: int = 2) -> Path:
    """frames [B, T, H, W, 3] uint8 and named features [B, T', H', W', D] → one PNG: for each clip a row
    of frames (first frame of each tubelet) and, under it, a row of PCA colour maps per feature set."""
    plt = pyplot()
    B, Tp = next(iter(features.values())).shape[:2]
    rows = B * (1 + len(features))
    fig, axes = plt.subplots(rows, Tp, figsize=(1.6 * Tp, 1.6 * rows), squeeze=False)
    maps = {name: pca_rgb(f) for name, f in features.items()}  # one PCA per feature set, over all clips
    for b in range(B):
        base = b * (1 + len(features))
        for t in range(Tp):
            axes[base, t].imshow(frames[b, t * tubelet])
            for j, name in enumerate(maps):
                axes[base + 1 + j, t].imshow(maps[name][b, t], interpolation="nearest")
        axes[base, 0].set_ylabel(f"clip {b}", fontsize=8)
        for j, name in enumerate(maps):
            axes[base + 1 + j, 0].set_ylabel(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for t in range(Tp):
        axes[0, t].set_title(f"t={t * tubelet}", fontsize=8)
    fig.suptitle("frames and the first 3 principal components of their patch features (as RGB)", fontsize=9)
    return save_figure(fig, path)


def loss_figure(run_dir: str | Path, path: str | Path) -> Path | None:
    """Training loss (and its parts) against step, from the run's log.jsonl."""
    records = step_records(read_log(run_dir))
    if not records:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    steps = [r["step"] for r in records]
    for key in [k for k in records[-1] if k == "loss" or k.endswith("/predict") or k.endswith("/context")]:
        ax.plot(steps, [r.get(key, np.nan) for r in records], label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("L1 in target space")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)

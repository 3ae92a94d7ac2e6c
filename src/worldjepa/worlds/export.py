"""Write the physics world to disk: one video per clip plus a ground-truth file.

    DIR/clip_00000.mp4 …        H.264 (4:4:4) at the world's frame rate; `worldjepa pretrain
                                data.source=folder data.path=DIR` trains on them like any videos
    DIR/ground_truth.npz        positions [N, T, K, 2], velocities, radii [N, K], layers [N, K],
                                walls [N, T, K, 4], collisions [N, T, K, K], occluder [N]
                                (+ depth [N, T, H, W] float16 with depth=True)
    DIR/world.json              the world config, clip count, frames and seed
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..config import WorldConfig
from ..data.video import write_video
from .balls import BallWorld


def export_world(out: str | Path, clips: int, frames: int = 16, seed: int = 0, image_size: int = 64,
                 cfg: WorldConfig | None = None, depth: bool = False, chunk: int = 64,
                 progress: bool = True) -> Path:
    cfg = cfg or WorldConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    world = BallWorld(cfg, image_size)
    keys = ("positions", "velocities", "radii", "layers", "walls", "collisions", "occluder")
    truth: dict[str, list[np.ndarray]] = {k: [] for k in keys + (("depth",) if depth else ())}
    with tqdm(total=clips, disable=not progress, unit="clip") as bar:
        for start in range(0, clips, chunk):
            n = min(chunk, clips - start)
            batch = world.generate(n, frames, seed=seed * 1_000_003 + start, depth=depth)
            for i in range(n):
                write_video(out / f"clip_{start + i:05d}.mp4", batch.frames[i], fps=cfg.fps)
            for k in keys:
                truth[k].append(getattr(batch, k))
            if depth:
                truth["depth"].append(batch.depth.astype(np.float16))
            bar.update(n)
    np.savez_compressed(out / "ground_truth.npz", **{k: np.concatenate(v) for k, v in truth.items()})
    (out / "world.json").write_text(json.dumps(
        {"clips": clips, "frames": frames, "seed": seed, "image_size": image_size,
         "world": dataclasses.asdict(cfg)}, indent=2))
    return out

"""Loading phone videos fast enough to train on: the folder reader and shards against `tiny-cpu`'s own step.

    python benchmarks/data_loading.py --out benchmarks/results/data_loading.json

Writes a folder of phone-like videos (H.264, 1280 × 720, 30 fps, 20 s, a keyframe every 250 frames; moving
shapes on a moving gradient), then measures in one run:
- the `tiny-cpu` training step on batches made beforehand (clips of 8 frames at 64 px, 16 per batch): the rate
  a loader has to beat;
- the folder reader (`data.source=folder`) on those videos: clips per second;
- `worldjepa shard` of the same folder (the one-off time), then the shard reader (`data.source=shards`).
Each loader's rate is given as a multiple of the training step's. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from worldjepa import config
from worldjepa.data.folder import FolderBatches
from worldjepa.data.shards import ShardBatches, write_shards
from worldjepa.pretrain import build_objective, build_source
from worldjepa.train.trainer import Trainer


def phone_video(path: Path, seconds: float, seed: int, width: int = 1280, height: int = 720, fps: int = 30) -> None:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([(xx * 255 // width), (yy * 255 // height), ((xx + yy) * 255 // (width + height))], -1)
    shapes = [(rng.integers(0, width), rng.integers(0, height), rng.integers(40, 160), rng.integers(0, 255, 3),
               rng.normal(0, 8, 2)) for _ in range(6)]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": "250", "keyint_min": "250", "preset": "veryfast", "crf": "23"}
        for t in range(int(seconds * fps)):
            frame = np.roll(base, 3 * t, axis=1).astype(np.uint8)
            for x, y, r, colour, v in shapes:
                cx, cy = int(x + v[0] * t) % width, int(y + v[1] * t) % height
                frame[max(0, cy - r):cy + r, max(0, cx - r):cx + r] = colour
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def clips_per_second(source, batches: int) -> float:
    source.batch(10_000)  # opens files, maps shards
    start = time.perf_counter()
    clips = sum(source.batch(step).video.shape[0] for step in range(batches))
    return clips / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batches", type=int, default=5, help="batches timed per loader")
    parser.add_argument("--out", default="benchmarks/results/data_loading.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    common = ["data.image_fraction=0", "data.batch_size=16"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videos"
        folder.mkdir()
        t0 = time.perf_counter()
        for i in range(args.videos):
            phone_video(folder / f"phone{i}.mp4", args.seconds, seed=i)
        write_s = time.perf_counter() - t0

        cfg = config.load("tiny-cpu", common)
        trainer = Trainer(build_objective(cfg), None, cfg.optim, cfg.train, Path(tmp) / "run", kind="pretrain",
                          progress=False)
        world = build_source(cfg)
        batches = [world.batch(s) for s in range(6)]
        trainer.step([batches[0]], 0)
        start = time.perf_counter()
        for s, b in enumerate(batches[1:], 1):
            trainer.step([b], s)
        train_rate = 5 * cfg.data.batch_size / (time.perf_counter() - start)

        folder_cfg = config.load("tiny-cpu", [*common, "data.source=folder", f"data.path={folder}"]).data
        folder_rate = clips_per_second(FolderBatches(folder_cfg), args.batches)

        t0 = time.perf_counter()
        summary = write_shards(folder, Path(tmp) / "shards", size=cfg.data.image_size, progress=False)
        shard_s = time.perf_counter() - t0
        shard_cfg = config.load("tiny-cpu", [*common, "data.source=shards", f"data.path={Path(tmp) / 'shards'}"]).data
        shard_rate = clips_per_second(ShardBatches(shard_cfg), max(args.batches, 50))

    rows = [("tiny-cpu training step (the rate to beat)", train_rate, None),
            ("folder reader, phone videos", folder_rate, None),
            ("shard reader", shard_rate, shard_s)]
    print(f"{args.videos} phone-like videos (H.264 1280x720, 30 fps, {args.seconds:g} s, keyframe every 250), "
          f"written in {write_s:.0f} s; clips of {cfg.data.frames} frames at {cfg.data.image_size} px")
    print(f"{'':<42} {'clips/s':>8} {'x training':>10} {'one-off':>9}")
    for name, rate, once in rows:
        print(f"{name:<42} {rate:>8.1f} {rate / train_rate:>10.2f} {'' if once is None else f'{once:.0f} s':>9}")
    result = {"videos": args.videos, "seconds": args.seconds, "train_clips_per_s": train_rate,
              "folder_clips_per_s": folder_rate, "shard_clips_per_s": shard_rate, "shard_seconds": shard_s,
              "shard_bytes": summary["bytes"], "folder_vs_training": folder_rate / train_rate,
              "shards_vs_training": shard_rate / train_rate}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

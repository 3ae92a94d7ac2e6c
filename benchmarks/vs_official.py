"""worldjepa's V-JEPA 2.1 training step against the official code's, side by side in one run.

    python benchmarks/vs_official.py --harness PEERS/time_vjepa21.py --checkout VJEPA2 --python PEER_VENV/bin/python
        [--rounds 3] [--steps 6] [--precisions fp32,bf16] [--out benchmarks/results/vs_official.json]

The official step is timed by a peer-timing script (`--harness`: it builds facebookresearch/vjepa2's
app/vjepa_2_1 modules from `--checkout` in its own venv, `--python`, and times one optimisation step: teacher,
context encoder per mask, predictor, L1 + context loss, backward, AdamW, EMA); worldjepa's step is
`benchmarks/pretrain_throughput.py`'s `training_step`, the trainer's own. Both at the official comparison
configuration: ViT-tiny 12 x 192 with 3 heads, predictor 12 x 96 with 3 heads, 16 clips of 8 x 64 x 64 px, patch
8, tubelet 2 (256 tokens), masks 8 blocks x 0.15 + 2 blocks x 0.7, clips only. The two alternate, round by round,
so that both see the same machine (these machines drift by up to 3x within minutes): each round times the official
step (median of --steps) and then worldjepa's (median of --steps); the ratio reported is the median of the
rounds' ratios.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from pretrain_throughput import training_step  # noqa: E402

from worldjepa import config  # noqa: E402
from worldjepa.pretrain import build_objective, build_source  # noqa: E402

OFFICIAL = ["model.encoder=tiny", "model.patch_size=8", "model.tubelet_size=2", "model.predictor_depth=12",
            "model.predictor_width=96", "model.predictor_heads=3", "data.image_size=64", "data.frames=8",
            "data.batch_size=16", "data.image_fraction=0", "train.steps=1000"]


def official_step(args, precision: str) -> float:
    """Median seconds of the official step, from the harness's JSON line."""
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "official.jsonl"
        subprocess.run([args.python, args.harness, args.checkout, "--modes", "video", "--batches", "16",
                        "--precisions", precision, "--steps", str(args.steps), "--warmup", "2", "--json", str(record)],
                       check=True, capture_output=True, text=True)
        rows = [json.loads(line) for line in record.read_text().splitlines()]
    return next(r["median_s"] for r in rows if r["metric"] == "train-step")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--harness", required=True, help="the peer-timing script time_vjepa21.py")
    p.add_argument("--checkout", required=True, help="a work tree of facebookresearch/vjepa2 with app/vjepa_2_1")
    p.add_argument("--python", required=True, help="the Python of the venv the official code runs in")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--out", default="benchmarks/results/vs_official.json")
    args = p.parse_args(argv)

    cfg = config.load("tiny-cpu", OFFICIAL)
    objective = build_objective(cfg)
    optimizer = torch.optim.AdamW(objective.trainable().parameters(), lr=1e-4, fused=True)
    batch = build_source(cfg).batch(0)
    step = 0
    rows = []
    for precision in args.precisions.split(","):
        bf16 = precision == "bf16"
        for _ in range(2):  # warm-up
            training_step(objective, optimizer, batch, step, bf16)
            step += 1
        for r in range(args.rounds):
            theirs = official_step(args, precision)
            times = []
            for _ in range(args.steps):
                t = time.perf_counter()
                training_step(objective, optimizer, batch, step, bf16)
                times.append(time.perf_counter() - t)
                step += 1
            ours = statistics.median(times)
            rows.append({"precision": precision, "round": r, "official_s": theirs, "worldjepa_s": ours,
                         "official_clips_per_s": 16 / theirs, "worldjepa_clips_per_s": 16 / ours,
                         "speedup": theirs / ours})
            print(f"{precision} round {r}: official {16 / theirs:6.2f} clips/s, worldjepa {16 / ours:6.2f} clips/s, "
                  f"{theirs / ours:.2f}x", flush=True)
    summary = {p_: statistics.median(r["speedup"] for r in rows if r["precision"] == p_)
               for p_ in args.precisions.split(",")}
    result = {"configuration": OFFICIAL, "threads": torch.get_num_threads(), "torch": torch.__version__,
              "machine": platform.processor() or platform.machine(), "rows": rows, "median_speedup": summary}
    print("median speed-up over the official step: " + ", ".join(f"{k} {v:.2f}x" for k, v in summary.items()))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)

"""Pretraining throughput and MFU, fp32 against bf16, with the matmul ceiling measured in the same run.

    python benchmarks/pretrain_throughput.py [--config tiny-cpu] [--steps 8] [--out benchmarks/results]

A training step here is the whole thing the trainer does: teacher forward, student forward on every
mask's context, predictor, backward, gradient clipping, AdamW, EMA update. FLOPs are counted once with
torch's FlopCounterMode on the bf16 path (whose attention runs as plain batched matmuls, so attention is
counted too; the count does not depend on dtype). MFU = achieved FLOP/s ÷ the dense-matmul FLOP/s of
the same dtype, measured in a short burst right before each timed step; the MFU reported is the median
of those per-step ratios (robust to a shared machine whose speed drifts), times are medians too.
fp32 and bf16 steps are interleaved so both see the same machine load. A bare ViT forward+backward (no masking, no
predictor) is measured the same way as a reference for what the hardware gives a plain model.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from worldjepa import config
from worldjepa.device import autocast
from worldjepa.pretrain import build_objective, build_source, token_grids


def matmul_ceiling(dtype: torch.dtype, n: int = 2048, reps: int = 3) -> float:
    """Best FLOP/s of a few square matmuls of the given dtype (a short burst, ~0.1 s)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = 0.0
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def training_step(objective, optimizer, batch, step: int, bf16: bool) -> None:
    optimizer.zero_grad(set_to_none=True)
    with autocast("cpu", "bf16" if bf16 else "fp32"):
        losses = objective.loss(batch, step)
    losses.total.backward()
    torch.nn.utils.clip_grad_norm_(objective.trainable().parameters(), 10.0)
    optimizer.step()
    objective.after_step(step)


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def bare_vit(encoder, clips: torch.Tensor, bf16: bool) -> None:
    with autocast("cpu", "bf16" if bf16 else "fp32"):
        out = encoder(clips)
    out.float().square().mean().backward()


def timed(fn, steps: int) -> list[float]:
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="tiny-cpu")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)

    cfg = config.load(args.config, ["train.steps=1000"] + args.overrides)
    objective = build_objective(cfg)
    optimizer = torch.optim.AdamW(objective.trainable().parameters(), lr=1e-4, fused=True)  # as the trainer
    batch = build_source(cfg).batch(0)
    clips = batch.size
    video_grid, _ = token_grids(cfg)
    tokens_per_clip = video_grid[0] * video_grid[1] * video_grid[2]

    flops_step = count_flops(lambda: training_step(objective, optimizer, batch, 0, bf16=True))
    encoder = objective.encoder
    flops_vit = count_flops(lambda: bare_vit(encoder, batch.video, bf16=True))

    for precision in ("fp32", "bf16"):  # warm-up
        training_step(objective, optimizer, batch, 1, precision == "bf16")
        bare_vit(encoder, batch.video, precision == "bf16")
    # Each timed step is preceded by a ceiling burst of the same dtype, and MFU is computed per pair:
    # on a shared machine whose speed drifts, the ratio of two things measured together is stable.
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    work = {"train step": (flops_step, lambda i, bf16: training_step(objective, optimizer, batch, 2 + i, bf16)),
            "bare ViT fwd+bwd": (flops_vit, lambda i, bf16: bare_vit(encoder, batch.video, bf16))}
    for i in range(args.steps):
        for name, (_, fn) in work.items():
            for precision in ("fp32", "bf16"):
                dtype = torch.float32 if precision == "fp32" else torch.bfloat16
                ceiling = matmul_ceiling(dtype)
                seconds = timed(lambda: fn(i, precision == "bf16"), 1)[0]
                samples.setdefault((name, precision), []).append((seconds, ceiling))

    rows = []
    for (name, precision), pairs in samples.items():
        flops = work[name][0]
        t = statistics.median(s for s, _ in pairs)
        rows.append({
            "what": name, "precision": precision, "seconds_per_step": t, "clips_per_s": clips / t,
            "tokens_per_s": clips * tokens_per_clip / t, "gflop_per_step": flops / 1e9, "gflops": flops / t / 1e9,
            "ceiling_gflops": statistics.median(c for _, c in pairs) / 1e9,
            "mfu": statistics.median(flops / s / c for s, c in pairs),
        })
    step = {r["precision"]: r for r in rows if r["what"] == "train step"}
    result = {
        "config": args.config, "overrides": args.overrides, "batch_clips": clips, "tokens_per_clip": tokens_per_clip,
        "threads": torch.get_num_threads(), "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
        "rows": rows, "bf16_speedup": step["fp32"]["seconds_per_step"] / step["bf16"]["seconds_per_step"],
    }

    print(f"{args.config}: {clips} clips × {tokens_per_clip} tokens, {torch.get_num_threads()} threads, torch {torch.__version__}")
    header = (f"{'what':<18}{'prec':<6}{'s/step':>8}{'clips/s':>9}{'tokens/s':>10}{'GFLOP/step':>12}{'GFLOP/s':>9}"
              f"{'ceiling':>9}{'MFU':>7}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['what']:<18}{r['precision']:<6}{r['seconds_per_step']:>8.3f}{r['clips_per_s']:>9.1f}"
              f"{r['tokens_per_s']:>10.0f}{r['gflop_per_step']:>12.1f}{r['gflops']:>9.0f}"
              f"{r['ceiling_gflops']:>9.0f}{r['mfu']:>7.1%}")
    print(f"bf16 speed-up on the training step: {result['bf16_speedup']:.2f}x")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pretrain_throughput.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)

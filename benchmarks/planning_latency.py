"""Planning latency: one CEM plan (LeWM settings: 300 samples × 30 iterations, horizon 5) from one start.

    python benchmarks/planning_latency.py [--config wm-two-rooms] [--repeats 3] [--out benchmarks/results] [key=value ...]

Times `solver.solve(model, z0, z_goal)` for a single environment (batch 1), for
  - the compact world model of the config (one latent per frame), fp32 and bf16 autocast;
  - the patch-token form (V-JEPA 2-AC: 64 patch tokens + 1 action token per frame, block-causal) on a
    tiny-cpu-width frozen encoder, with the same predictor depth and width, so the two rows differ only
    in tokens per frame. It is too slow for all 30 iterations on a CPU, so it runs `--patch-iterations`
    iterations and the table gives the measured time per iteration and that time × 30.
Latency does not depend on the weights, so the models are freshly initialised. Medians of `--repeats`
runs after one warm-up; prints a table and writes JSON. The fp32 matmul ceiling is measured in the same
run, because a shared machine's speed drifts (by 3× on the development machine): a plan's time is
only comparable together with the ceiling it ran at.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from worldjepa.config import load_world_model
from worldjepa.data.episodes import StoreMeta
from worldjepa.dynamics.model import FrozenPatchEncoder, JEPAWorldModel, build_objective
from worldjepa.dynamics.objective import WorldModelObjective
from worldjepa.dynamics.patch import PatchActionPredictor
from worldjepa.nn.encoder import Encoder
from worldjepa.planning.solvers import make_solver

sys.path.insert(0, str(Path(__file__).parent))
from pretrain_throughput import matmul_ceiling  # noqa: E402


def time_plan(model, plan_cfg, image_size: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 255, (2, image_size, image_size, 3), dtype=np.uint8)
    z = model.encode(obs)
    solver = make_solver(plan_cfg)
    solver.solve(model, z[:1], z[1:], seed=0)  # warm-up
    times = []
    for r in range(repeats):
        t = time.perf_counter()
        solver.solve(model, z[:1], z[1:], seed=r + 1)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="wm-two-rooms")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--patch-iterations", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("overrides", nargs="*", help="config overrides section.key=value")
    args = ap.parse_args()

    cfg = load_world_model(args.config, args.overrides)
    plan = dataclasses.replace(cfg.plan, solver="cem")
    k = cfg.data.frameskip
    meta = StoreMeta("bench", cfg.image_size, 2, [-1.0, -1.0], [1.0, 1.0])
    low, high = np.tile(meta.action_low, k), np.tile(meta.action_high, k)
    rows = []
    compact = build_objective(cfg, meta)
    for precision in ("fp32", "bf16"):
        model = JEPAWorldModel(compact, cfg.image_size, low, high, precision=precision, frameskip=k)
        seconds = time_plan(model, plan, cfg.image_size, args.repeats)
        rows.append({"form": "compact", "precision": precision, "iterations": plan.iterations,
                     "seconds_per_plan": seconds, "measured": True})

    m = cfg.model
    vit = Encoder("tiny-cpu", m.patch_size, tubelet_size=1, levels=1).eval()
    side = cfg.image_size // m.patch_size
    predictor = PatchActionPredictor(vit.dim, (side, side), 2 * k, m.predictor_width, m.predictor_depth, m.predictor_heads)
    patch = WorldModelObjective(FrozenPatchEncoder(vit), predictor, cfg.objective, frozen_encoder=True)
    short = dataclasses.replace(plan, iterations=args.patch_iterations)
    for precision in ("fp32", "bf16"):
        model = JEPAWorldModel(patch, cfg.image_size, low, high, energy="l1", precision=precision, frameskip=k)
        seconds = time_plan(model, short, cfg.image_size, max(1, args.repeats - 2))
        rows.append({"form": "patch", "precision": precision, "iterations": args.patch_iterations,
                     "seconds_per_plan": seconds / args.patch_iterations * plan.iterations, "measured": False})

    ceiling = matmul_ceiling(torch.float32) / 1e9
    print(f"CEM {plan.samples} samples × {plan.iterations} iterations × horizon {plan.horizon} "
          f"(frame-skip {k}), one environment, {torch.get_num_threads()} threads, "
          f"fp32 matmul ceiling now {ceiling:.0f} GFLOP/s")
    print(f"{'form':8} {'precision':9} {'s/plan':>8}  note")
    for r in rows:
        note = "" if r["measured"] else f"{r['iterations']} iterations measured, ×{plan.iterations // r['iterations']}"
        print(f"{r['form']:8} {r['precision']:9} {r['seconds_per_plan']:8.3f}  {note}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"config": args.config, "samples": plan.samples, "iterations": plan.iterations, "horizon": plan.horizon,
              "frameskip": k, "threads": torch.get_num_threads(), "fp32_matmul_gflops": ceiling, "torch": torch.__version__,
              "machine": platform.processor() or platform.machine(), "rows": rows}
    (out / "planning_latency.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out / 'planning_latency.json'}")


if __name__ == "__main__":
    main()

"""Planning latency: one CEM plan (LeWM settings: 300 samples × 30 iterations, horizon 5) from one start.

    python benchmarks/planning_latency.py [--config wm-two-rooms] [--repeats 3] [--out benchmarks/results] [key=value ...]
    python benchmarks/planning_latency.py --preset lewm [--peer CHECKOUT --peer-harness DIR] [--repeats 3]

Times `solver.solve(model, z0, z_goal)` for a single environment (batch 1), for
  - the compact world model of the config (one latent per frame), fp32 and bf16 autocast;
  - the patch-token form (V-JEPA 2-AC: 64 patch tokens + 1 action token per frame, block-causal, its rollout
    cached like the compact one's) on a tiny-cpu-width frozen encoder, with the same predictor depth and
    width, so the two rows differ only in tokens per frame; measured over all the iterations (set
    `--patch-iterations N` to time N and scale, on a slow machine);
  - the patch form at V-JEPA 2-AC's own CEM setting (800 samples × 10 iterations, horizon 1).
FLOPs per plan are counted with torch's FlopCounterMode on one iteration × iterations (attention included:
the larger of the fp32 and bf16 counts, since the CPU's fused fp32 attention kernel is not counted);
each row's GFLOP/s is set against the matmul ceiling of its precision measured in the same run, because a
shared machine's speed drifts (by 3× on the development machine). Latency does not depend on the weights,
so the models are freshly initialised. Medians of `--repeats` runs after one warm-up (the patch rows:
one fewer); prints a table and writes JSON.

`--preset lewm` builds the compact model at LeWM's size instead (the `wm-lewm` preset: ViT-tiny, patch 14 at 224 px, mean-pooled into
a 192-2048-192 BatchNorm projector; predictor 6 × 192 with 16 heads × 64, MLP 2048, AdaLN-zero, and a
192-2048-192 output MLP; 2-d actions × frame-skip 5) and times one plan of it, encoding the start and goal
frames included, with LeWM's CEM (300 × 30, top 30, horizon 5). With `--peer` (a work tree of
galilai-group/stable-worldmodel) and `--peer-harness` (a folder holding the timing harness `time_lewm.py`,
which builds LeWM from that checkout and plans with its own CEMSolver), LeWM's own plan is timed in the same
run, alternating with ours, in fp32 and in bf16; both parameter counts are printed, and the ratio is the
median over the alternations. The script then needs the peer's packages (transformers, einops, gymnasium).
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
from torch.utils.flop_counter import FlopCounterMode

from worldjepa.config import load_world_model
from worldjepa.data.episodes import StoreMeta
from worldjepa.dynamics.model import FrozenPatchEncoder, JEPAWorldModel, build_objective
from worldjepa.dynamics.objective import WorldModelObjective
from worldjepa.dynamics.patch import PatchActionPredictor
from worldjepa.nn.encoder import Encoder
from worldjepa.planning.solvers import make_solver

sys.path.insert(0, str(Path(__file__).parent))
from pretrain_throughput import matmul_ceiling  # noqa: E402


def time_plan(model, plan_cfg, image_size: int, repeats: int) -> tuple[float, float]:
    """(median seconds per plan, FLOPs per plan)."""
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 255, (2, image_size, image_size, 3), dtype=np.uint8)
    z = model.encode(obs)
    one = dataclasses.replace(plan_cfg, iterations=1)
    with FlopCounterMode(display=False) as counter:
        make_solver(one).solve(model, z[:1], z[1:], seed=0)
    flops = counter.get_total_flops() * plan_cfg.iterations
    solver = make_solver(plan_cfg)
    solver.solve(model, z[:1], z[1:], seed=0)  # warm-up
    times = []
    for r in range(repeats):
        t = time.perf_counter()
        solver.solve(model, z[:1], z[1:], seed=r + 1)
        times.append(time.perf_counter() - t)
    return statistics.median(times), flops


def millions(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def lewm(args) -> None:
    """Our compact model at LeWM's size against LeWM's own planner, alternating in one run."""
    cfg = load_world_model("wm-lewm", args.overrides)
    k, size = cfg.data.frameskip, cfg.image_size
    meta = StoreMeta("bench", size, 2, [-1.0, -1.0], [1.0, 1.0])
    low, high = np.tile(meta.action_low, k), np.tile(meta.action_high, k)
    ours = build_objective(cfg, meta)
    counts = {"worldjepa": {"encoder": millions(ours.encoder), "predictor": millions(ours.predictor),
                            "total": millions(ours)}}
    obs = np.random.default_rng(0).integers(0, 255, (2, size, size, 3), dtype=np.uint8)
    plan_cfg = dataclasses.replace(cfg.plan, solver="cem")

    def our_plan(precision: str):
        model = JEPAWorldModel(ours, size, low, high, precision=precision, frameskip=k)
        solver = make_solver(plan_cfg)

        def plan():  # the start and goal frames encoded, then one CEM solve, as the peer's solve() does
            z = model.encode(obs)
            solver.solve(model, z[:1], z[1:], seed=0)
        return plan

    peer_plan = None
    if args.peer:
        if not args.peer_harness:
            raise SystemExit("--peer needs --peer-harness DIR: the folder holding time_lewm.py")
        sys.path.insert(0, str(Path(args.peer_harness).resolve()))
        import _bench
        import time_lewm

        peer = time_lewm.import_peer(_bench.add_checkout(args.peer))
        torch.manual_seed(0)
        model = time_lewm.build(peer, size, cfg.model.patch_size)
        parts = {"encoder": [model.encoder, model.projector],
                 "predictor": [model.predictor, model.action_encoder, model.pred_proj]}
        counts["LeWM"] = {name: sum(millions(m) for m in mods) for name, mods in parts.items()}
        counts["LeWM"]["total"] = millions(model)

        def peer_plan(precision: str):
            torch.manual_seed(0)
            return time_lewm.plan_fn(peer, time_lewm.build(peer, size, cfg.model.patch_size), size, precision,
                                     torch.Generator().manual_seed(0))

    print(f"LeWM size, one environment, {torch.get_num_threads()} threads; parameters (millions):")
    for who, c in counts.items():
        print(f"  {who:10} encoder {c['encoder']:.3f}  predictor {c['predictor']:.3f}  total {c['total']:.3f}")
    if "LeWM" in counts:
        print(f"  worldjepa / LeWM: {counts['worldjepa']['total'] / counts['LeWM']['total']:.4f}")
    rows = []
    for precision in ("fp32", "bf16"):
        plans = {"worldjepa": our_plan(precision), **({"LeWM": peer_plan(precision)} if peer_plan else {})}
        for plan in plans.values():
            plan()  # warm-up
        times = {who: [] for who in plans}
        for _ in range(args.repeats):  # alternate, so that a drift of the machine hits both alike
            for who, plan in plans.items():
                t = time.perf_counter()
                plan()
                times[who].append(time.perf_counter() - t)
        row = {"precision": precision, **{f"{who}_seconds": times[who] for who in times}}
        if "LeWM" in times:
            row["ratios"] = [p / o for p, o in zip(times["LeWM"], times["worldjepa"])]
            row["median_ratio"] = statistics.median(row["ratios"])
        rows.append(row)
        print(f"{precision}: worldjepa {statistics.median(times['worldjepa']):.2f} s/plan"
              + (f", LeWM {statistics.median(times['LeWM']):.2f} s/plan, LeWM / worldjepa median "
                 f"{row['median_ratio']:.2f}× (each alternation: "
                 + ", ".join(f"{r:.2f}" for r in row["ratios"]) + ")" if "LeWM" in times else ""))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"config": "wm-lewm", "overrides": args.overrides, "parameters_millions": counts,
              "repeats": args.repeats, "threads": torch.get_num_threads(), "torch": torch.__version__,
              "machine": platform.processor() or platform.machine(), "rows": rows}
    (out / "planning_latency_lewm.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out / 'planning_latency_lewm.json'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="wm-two-rooms")
    ap.add_argument("--preset", choices=("lewm",), default=None, help="lewm: LeWM's size, against its own planner")
    ap.add_argument("--peer", default=None, help="with --preset lewm: a stable-worldmodel work tree")
    ap.add_argument("--peer-harness", default=None, help="with --peer: the folder holding time_lewm.py")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--patch-iterations", type=int, default=0,
                    help="time the patch form over this many CEM iterations and scale (0: all of them)")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("overrides", nargs="*", help="config overrides section.key=value")
    args = ap.parse_args()
    if args.preset == "lewm":
        return lewm(args)

    cfg = load_world_model(args.config, args.overrides)
    plan = dataclasses.replace(cfg.plan, solver="cem")
    k = cfg.data.frameskip
    meta = StoreMeta("bench", cfg.image_size, 2, [-1.0, -1.0], [1.0, 1.0])
    low, high = np.tile(meta.action_low, k), np.tile(meta.action_high, k)
    rows = []
    compact = build_objective(cfg, meta)
    for precision in ("fp32", "bf16"):
        model = JEPAWorldModel(compact, cfg.image_size, low, high, precision=precision, frameskip=k)
        seconds, flops = time_plan(model, plan, cfg.image_size, args.repeats)
        rows.append({"form": "compact", "precision": precision, "setting": "LeWM", "samples": plan.samples,
                     "iterations": plan.iterations, "horizon": plan.horizon, "seconds_per_plan": seconds,
                     "flops_per_plan": flops, "measured_iterations": plan.iterations})

    m = cfg.model
    vit = Encoder("tiny-cpu", m.patch_size, tubelet_size=2, levels=1).eval()
    side = cfg.image_size // m.patch_size
    predictor = PatchActionPredictor(vit.dim, (side, side), 2 * k, m.predictor_width, m.predictor_depth, m.predictor_heads)
    patch = WorldModelObjective(FrozenPatchEncoder(vit), predictor, cfg.objective, frozen_encoder=True)
    measured = args.patch_iterations or plan.iterations
    vjepa_ac = dataclasses.replace(plan, samples=800, iterations=10, elites=10, horizon=1)  # V-JEPA 2-AC's CEM
    for setting, patch_plan in (("LeWM", plan), ("V-JEPA 2-AC", vjepa_ac)):
        timed = dataclasses.replace(patch_plan, iterations=min(measured, patch_plan.iterations))
        for precision in ("fp32", "bf16"):
            model = JEPAWorldModel(patch, cfg.image_size, low, high, energy="l1", precision=precision, frameskip=k)
            seconds, flops = time_plan(model, timed, cfg.image_size, max(1, args.repeats - 1))
            scale = patch_plan.iterations / timed.iterations
            rows.append({"form": "patch", "precision": precision, "setting": setting, "samples": patch_plan.samples,
                         "iterations": patch_plan.iterations, "horizon": patch_plan.horizon,
                         "seconds_per_plan": seconds * scale, "flops_per_plan": flops * scale,
                         "measured_iterations": timed.iterations})

    # The fused fp32 attention kernel of the CPU is invisible to FlopCounterMode, the explicit bf16 path is not:
    # the work is the same in both precisions, so each row gets the larger count of its pair
    for r in rows:
        r["flops_per_plan"] = max(o["flops_per_plan"] for o in rows if (o["form"], o["setting"]) == (r["form"], r["setting"]))
    ceilings = {"fp32": matmul_ceiling(torch.float32) / 1e9, "bf16": matmul_ceiling(torch.bfloat16) / 1e9}
    print(f"one environment, {torch.get_num_threads()} threads, frame-skip {k}; matmul ceilings now: fp32 "
          f"{ceilings['fp32']:.0f} GFLOP/s, bf16 {ceilings['bf16']:.0f} GFLOP/s")
    print(f"{'form':8} {'setting':12} {'samples×it×H':>13} {'prec':5} {'s/plan':>8} {'GFLOP/plan':>11} "
          f"{'GFLOP/s':>8} {'of ceiling':>10}  note")
    for r in rows:
        rate = r["flops_per_plan"] / r["seconds_per_plan"] / 1e9
        r["gflops_per_s"], r["fraction_of_ceiling"] = rate, rate / ceilings[r["precision"]]
        note = "" if r["measured_iterations"] == r["iterations"] else \
            f"{r['measured_iterations']} iterations measured, scaled"
        print(f"{r['form']:8} {r['setting']:12} {r['samples']:>5}×{r['iterations']:>2}×{r['horizon']:<3} "
              f"{r['precision']:5} {r['seconds_per_plan']:8.2f} {r['flops_per_plan'] / 1e9:11.1f} {rate:8.1f} "
              f"{r['fraction_of_ceiling']:10.1%}  {note}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"config": args.config, "frameskip": k, "threads": torch.get_num_threads(), "matmul_gflops": ceilings,
              "torch": torch.__version__,
              "machine": platform.processor() or platform.machine(), "rows": rows}
    (out / "planning_latency.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out / 'planning_latency.json'}")


if __name__ == "__main__":
    main()

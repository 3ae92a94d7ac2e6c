"""Push-T on gym-pusht by stable-worldmodel's protocol, over several seeds: collect, train, plan, tabulate.

    python benchmarks/push_t_protocol.py --trajectories 1000 --seeds 0 1 2 --out runs/push-t
    python benchmarks/push_t_protocol.py --trajectories 5000 --seeds 1 --steps 7500 --workers 2 \\
        --out runs/push-t-5k                   # 5 K trajectories, three times the training (docs/planning.md)
    python benchmarks/push_t_protocol.py --trajectories 18500 --seeds 0 1 2 --device cuda \\
        --batch-size 256 --steps 20000 --workers 16 --out runs/push-t-18k   # the GPU recipe (docs/planning.md)

    python benchmarks/push_t_protocol.py --seeds 0 1 --data-dir runs/push-t --out runs/push-t-noprop \\
        --set model.use_proprio=false          # a variant of the preset on the same stores

For every seed: `collect` the trajectories (the scripted expert with noise on half of them, random walks on
the rest; 100 steps each), `train-wm` the wm-push-t preset on them, and `plan` 50 goal episodes (goal = the
state 25 expert steps ahead, 50-step budget, CEM 300 x 30, horizon 5, action block 5). Success is the pose
criterion (block within 20 and pi/9); gym-pusht's own 95%-coverage criterion is reported beside it. Finished
stages are reused, so an interrupted run resumes where it stopped. Prints a table of each seed and the mean
± standard deviation, with data size, collection, training and planning times; writes OUT/summary.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from worldjepa.config import load_world_model
from worldjepa.dynamics.model import train_world_model
from worldjepa.planning.evaluate import evaluate_planning
from worldjepa.worlds import make_world
from worldjepa.worlds.collect import collect


def run_seed(seed: int, args: argparse.Namespace) -> dict:
    out, stores = Path(args.out), Path(args.data_dir or args.out)
    data, run = stores / f"data-{args.trajectories}-seed{seed}", out / f"wm-{args.trajectories}-seed{seed}"
    row: dict = {"seed": seed, "trajectories": args.trajectories, "steps_per_trajectory": args.length,
                 "expert_share": args.expert_share, "noise": args.noise}
    done = stores / f"{data.name}.seconds"  # written when the collection finished
    if not done.exists():
        start = time.perf_counter()
        collect(make_world("push-t", image_size=64), "push-t", data, args.trajectories, args.length,
                expert_share=args.expert_share, noise=args.noise, seed=seed, progress=not args.quiet,
                workers=args.workers)
        done.write_text(f"{time.perf_counter() - start:.1f}\n")
    row["collect_seconds"] = float(done.read_text())
    overrides = [f"train.seed={seed}", f"train.device={args.device}"] + \
        ([f"train.steps={args.steps}"] if args.steps else []) + \
        ([f"data.batch_size={args.batch_size}"] if args.batch_size else []) + args.set
    trained = train_world_model(load_world_model("wm-push-t", overrides), data, run, progress=not args.quiet)
    row["train_steps"], row["train_seconds"] = trained["steps"], trained["train_seconds"]
    results = run / "plan" / "results.json"  # planned after the last checkpoint: reused
    fresh = results.exists() and results.stat().st_mtime > (run / "checkpoint.safetensors").stat().st_mtime
    planned = json.loads(results.read_text()) if fresh else {}
    if planned.get("episodes") != args.episodes:
        planned = evaluate_planning(run, run / "plan", episodes=args.episodes, progress=not args.quiet,
                                    device=args.device)
    row.update(success=planned["success_rate"], coverage_success=planned["success_by"].get("coverage"),
               seconds_per_plan=planned["seconds_per_plan"],
               final_distance_median=planned["final_distance_median"], device=planned["device"])
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trajectories", type=int, default=1000, help="expert and random trajectories per seed")
    ap.add_argument("--length", type=int, default=100, help="steps per trajectory")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--expert-share", type=float, default=0.5,
                    help="share of trajectories run by the noisy expert (the rest: smooth random walks)")
    ap.add_argument("--noise", type=float, default=0.3, help="the expert's action noise (std)")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the preset's)")
    ap.add_argument("--batch-size", type=int, default=None, help="training batch (default: the preset's)")
    ap.add_argument("--episodes", type=int, default=50, help="goal episodes planned per seed")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=1, help="processes collecting at once (the data is the same)")
    ap.add_argument("--out", default="runs/push-t")
    ap.add_argument("--data-dir", default=None, help="where the collected stores live (default: --out), so that "
                                                       "a variant of the preset reuses them")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of the wm-push-t preset")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    rows = [run_seed(seed, args) for seed in args.seeds]
    print(f"\nPush-T (gym-pusht), {args.trajectories} trajectories x {args.length} steps, {args.episodes} goals per seed")
    print("| seed | success (pose) | success (95% coverage) | median block error | collect | train | s per plan |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['seed']} | {r['success']:.0%} | {r['coverage_success']:.0%} | {r['final_distance_median']:.1f} | "
              f"{r['collect_seconds'] / 60:.1f} min | {r['train_seconds'] / 60:.1f} min ({r['train_steps']} steps) | "
              f"{r['seconds_per_plan']:.2f} |")
    rates = [r["success"] for r in rows]
    spread = statistics.stdev(rates) if len(rates) > 1 else 0.0
    print(f"| mean ± sd | {statistics.mean(rates):.0%} ± {spread:.0%} | "
          f"{statistics.mean(r['coverage_success'] for r in rows):.0%} | | | | |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"protocol": "stable-worldmodel Push-T: goal 25 expert steps ahead, 50-step budget, CEM 300x30, "
                           "horizon 5, action block 5; success = block within 20 and pi/9",
               "trajectories": args.trajectories, "overrides": args.set, "seeds": rows, "success_mean": statistics.mean(rates),
               "success_sd": spread}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {out / 'summary.json'}")


if __name__ == "__main__":
    main()

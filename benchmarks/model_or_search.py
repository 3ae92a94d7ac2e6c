"""Is a planner's miss its world model's or its search's? The expert's own path scored beside the solver's plan.

    python benchmarks/model_or_search.py --run runs/push-t-5k-20k/wm-5000-seed1 [--episodes 50] [--out DIR]
    python benchmarks/model_or_search.py --run RUN --goals STORE [--goal-offset 25]   # recorded episodes' steps
    python benchmarks/model_or_search.py --run RUN --ensemble RUN2 --ensemble RUN3 disagreement=1.0

Draws the tasks `worldjepa plan` draws (the run's plan seed; or goals `--goal-offset` steps ahead on the
recorded episodes of `--goals`), each with the actions that lead from its start to its goal (planning/
diagnose.py). From every start, with the run's planner: the model's energy of that path, of the solver's
first plan and of `--random` uniform plans; then both the path and the plan run open loop in the world, and
the frame the plan really reached is scored beside the rollout's last step. A solver whose plans score below
the path and miss is failed by its model. Prints a table, writes OUT/model_or_search.json (default: the run's
folder).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from worldjepa.planning.diagnose import check_paths
from worldjepa.planning.evaluate import draw_tasks, plan_overrides, planning_model
from worldjepa.planning.solvers import make_solver
from worldjepa.worlds import make_world

PER_TASK = ("path_energy", "plan_energy", "plan_last_energy", "outcome_energy", "path_distance", "plan_distance",
            "path_reached", "plan_reached")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a train-wm run folder")
    ap.add_argument("--episodes", type=int, default=None, help="tasks (default: the run's plan.episodes)")
    ap.add_argument("--random", type=int, default=300, help="random plans per task, for scale")
    ap.add_argument("--goals", default=None, help="an episode store: tasks from its recorded episodes")
    ap.add_argument("--goal-offset", type=int, default=25, help="with --goals: steps from start to goal")
    ap.add_argument("--ensemble", action="append", default=[], help="another run of the same world: plan with all")
    ap.add_argument("--out", default=None, help="where model_or_search.json goes (default: the run folder)")
    ap.add_argument("overrides", nargs="*", help="plan settings, key=value (as `worldjepa plan` takes them)")
    args = ap.parse_args()

    model, cfg, meta = planning_model(args.run, plan_overrides(args.overrides), args.ensemble)
    plan = cfg.plan
    n = plan.episodes if args.episodes is None else args.episodes
    worlds = [make_world(meta.world, image_size=cfg.image_size) for _ in range(n)]
    t0 = time.perf_counter()
    try:
        tasks = draw_tasks(worlds[0], n, plan.seed, args.goals, args.goal_offset)
        check = check_paths(model, worlds, tasks, make_solver(plan), plan.horizon, random=args.random, seed=plan.seed)
    except ValueError as err:
        raise SystemExit(f"model_or_search: {err}")
    s = {"run": str(args.run), "ensemble": args.ensemble, "world": meta.world,
         "plan": f"{plan.solver} {plan.samples} x {plan.iterations}, horizon {plan.horizon}, frame-skip "
                 f"{cfg.data.frameskip}", **check.summary(), "seconds": time.perf_counter() - t0,
         "per_task": {k: getattr(check, k).tolist() for k in PER_TASK}}
    print(f"{meta.world}, {s['tasks']} tasks, {s['plan']}  ({s['seconds']:.0f} s)\n")
    print("| plan | reached at its last step, open loop | median task distance | median energy |\n|---|---|---|---|")
    print(f"| the task's known path | {s['path_reached']:.0%} | {s['path_distance_median']:.1f} | "
          f"{s['path_energy_median']:.3f} |")
    print(f"| the solver's first plan | {s['plan_reached']:.0%} | {s['plan_distance_median']:.1f} | "
          f"{s['plan_energy_median']:.3f} |")
    print(f"| — its rollout's last step / the frame it really reached | | | {s['plan_last_energy_median']:.3f} / "
          f"{s['outcome_energy_median']:.3f} |")
    print(f"| random plans: median (best of {args.random}) | | | {s['random_energy_median']:.3f} "
          f"({s['best_random_energy_median']:.3f}) |")
    misses = (f"on {s['misses_below_path']:.0%} of the {s['misses']} whose plan misses" if s["misses"]
              else "no plan misses")
    print(f"\nthe model prefers the solver's plan to the known path on {s['plan_below_path']:.0%} of tasks ({misses}); "
          f"{s['random_below_path_median']:.0f} of {args.random} random plans score below the path (median)")
    out = Path(args.out or args.run)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_or_search.json").write_text(json.dumps(s, indent=2))
    print(f"wrote {out / 'model_or_search.json'}")


if __name__ == "__main__":
    main()

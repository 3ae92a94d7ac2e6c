"""Is a planner's miss its world model's or its search's? The expert's own path scored beside the solver's plan.

    python benchmarks/model_or_search.py --run runs/push-t-5k-20k/wm-5000-seed1 [--episodes 50] [--out DIR]
    python benchmarks/model_or_search.py --run RUN --goals STORE [--goal-offset 25]   # recorded episodes' steps
    python benchmarks/model_or_search.py --run RUN --ensemble RUN2 --ensemble RUN3 disagreement=1.0

Draws the tasks `worldjepa plan` draws (the run's plan seed; or goals `--goal-offset` steps ahead on the
recorded episodes of `--goals`), each with the actions that lead from its start to its goal (planning/
diagnose.py). From every start, with the run's planner: the model's energy of that path, of the solver's
first plan and of `--random` uniform plans; then both the path and the plan run open loop in the world.
A solver that finds plans the model scores below the path, plans that miss, says the model is what fails.
Prints a table, writes OUT/model_or_search.json (default: the run's folder).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from worldjepa.data.episodes import EpisodeStore
from worldjepa.dynamics.ensemble import EnsembleWorldModel
from worldjepa.dynamics.model import load_world_model
from worldjepa.planning.diagnose import check_paths
from worldjepa.planning.evaluate import plan_overrides
from worldjepa.planning.goals import dataset_tasks
from worldjepa.planning.solvers import make_solver
from worldjepa.worlds import make_world


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

    overrides = plan_overrides(args.overrides)
    model, cfg, meta = load_world_model(args.run, overrides)
    plan = cfg.plan
    if args.ensemble:
        members = [model] + [load_world_model(run, overrides)[0] for run in args.ensemble]
        model = EnsembleWorldModel(members, plan.disagreement)
    n = args.episodes or plan.episodes
    worlds = [make_world(meta.world, image_size=cfg.image_size) for _ in range(n)]
    rng = np.random.default_rng(plan.seed)
    if args.goals:
        tasks = dataset_tasks(EpisodeStore(args.goals, image_size=cfg.image_size), worlds[0], n, args.goal_offset, rng)
    else:
        tasks = [worlds[0].sample_task(rng) for _ in range(n)]
    t0 = time.perf_counter()
    check = check_paths(model, worlds, tasks, make_solver(plan), plan.horizon, random=args.random, seed=plan.seed)
    s = {"run": str(args.run), "ensemble": args.ensemble, "world": meta.world, "plan": f"{plan.solver} {plan.samples} x {plan.iterations}, "
         f"horizon {plan.horizon}, frame-skip {cfg.data.frameskip}", **check.summary(),
         "seconds": time.perf_counter() - t0,
         "per_task": {k: getattr(check, k).tolist() for k in ("path_energy", "plan_energy", "outcome_energy",
                                                               "path_distance",
                                                               "plan_distance", "path_reached", "plan_reached")}}
    print(f"{meta.world}, {s['tasks']} tasks, {s['plan']}  ({s['seconds']:.0f} s)\n")
    print("| plan | reached, open loop | median task distance | median energy |\n|---|---|---|---|")
    print(f"| the task's known path | {s['path_reached']:.0%} | {s['path_distance_median']:.1f} | "
          f"{s['path_energy_median']:.3f} |")
    print(f"| the solver's first plan | {s['plan_reached']:.0%} | {s['plan_distance_median']:.1f} | "
          f"{s['plan_energy_median']:.3f} |")
    print(f"| what the solver's plan really reached (its last frame encoded) | | | {s['outcome_energy_median']:.3f} |")
    print(f"| random (best of {args.random}) | | | {s['random_energy_median']:.3f} "
          f"({s['best_random_energy_median']:.3f}) |")
    print(f"\nthe solver's plan scores below the known path on {s['plan_below_path']:.0%} of tasks, on "
          f"{s['misses_below_path']:.0%} of the {s['misses']} whose plan misses (those misses are the model's); "
          f"the path ranks {s['path_rank_among_random']:.0f} of {args.random} random plans (median)")
    out = Path(args.out or args.run)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_or_search.json").write_text(json.dumps(s, indent=2))
    print(f"wrote {out / 'model_or_search.json'}")


if __name__ == "__main__":
    main()

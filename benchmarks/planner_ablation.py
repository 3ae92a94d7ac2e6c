"""Which planner settings reach goals in two-rooms when the model is exact?

    python benchmarks/planner_ablation.py [--episodes 50] [--out benchmarks/results]

Runs the MPC loop with `ExactTwoRoomsModel` (latent = agent position, rollout = the world's own
dynamics), so every failure is the planner's: goals sit in the other room, and a plan must find the
door. Same tasks (seed 0) for every row; LeWM's CEM budget (300 samples × 30 iterations, 30 elites,
horizon 5, frame-skip 5), one chunk executed per plan, 50-step episodes. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from worldjepa.config import PlanConfig
from worldjepa.planning.mpc import run_mpc
from worldjepa.planning.solvers import make_solver
from worldjepa.planning.oracle import ExactTwoRoomsModel
from worldjepa.worlds.two_rooms import TwoRooms

BASE = PlanConfig(solver="cem", horizon=5, samples=300, iterations=30, elites=30, budget=50, seed=0)
ROWS = [  # (label, energy weights, path weight, plan overrides)
    ("CEM, final-step energy, white noise", "last", 0.0, {}),
    ("CEM, PLDM ramp weights 0.1→1, white noise", "ramp", 0.0, {}),
    ("CEM, final + 0.01 × path, white noise", "last", 0.01, {}),
    ("CEM, final + 0.01 × path, correlated noise ρ=0.8 (preset)", "last", 0.01, {"noise_correlation": 0.8}),
    ("MPPI, final + 0.01 × path, correlated noise ρ=0.8", "last", 0.01, {"solver": "mppi", "noise_correlation": 0.8}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    worlds = [TwoRooms() for _ in range(args.episodes)]
    rng = np.random.default_rng(0)
    tasks = [worlds[0].sample_task(rng) for _ in worlds]
    results = []
    print(f"{'planner (exact model, ' + str(args.episodes) + ' goals in the other room)':62} {'success':>8} {'steps':>6} {'s':>6}")
    for label, weights, path_weight, overrides in ROWS:
        cfg = dataclasses.replace(BASE, **overrides)
        model = ExactTwoRoomsModel(worlds[0], frameskip=5, weights=weights, path_weight=path_weight)
        t = time.perf_counter()
        r = run_mpc(worlds, tasks, model, make_solver(cfg), cfg, frameskip=5, progress=False)
        s = r.summary()
        results.append({"planner": label, "weights": weights, "path_weight": path_weight, **overrides, **s,
                        "seconds": time.perf_counter() - t})
        print(f"{label:62} {s['success_rate']:8.0%} {s['steps_mean']:6.1f} {time.perf_counter() - t:6.0f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "planner_ablation.json").write_text(json.dumps({"episodes": args.episodes, "rows": results}, indent=2))
    print(f"wrote {out / 'planner_ablation.json'}")


if __name__ == "__main__":
    main()

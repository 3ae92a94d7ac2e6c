"""Does a frozen encoder's patch energy let a planner reach goals when the dynamics are exact?

    python benchmarks/energy_oracle.py --encoder runs/enc-two-rooms [--episodes 50] [--out runs/bench]

Plans two-rooms with the world's own dynamics (`ExactDynamicsFeatureEnergy`, planning/oracle.py) and the
energy of the V-JEPA 2-AC world model: the mean absolute distance between the LayerNorm'ed patch grids of
the pretrained encoder's features (each frame as a 2-frame tubelet, as `train-wm` feeds it), for the
predicted position's frame and the goal's. What it leaves out is the predictor: a row that succeeds says
the energy is good enough, and any failure of a trained patch-form model is its predictor's. Rows: the
agent position itself (the exact model's own energy), the patch grid (the world model's energy), and the
grid mean-pooled into one vector. Same tasks (seed 0) and settings as the `wm-two-rooms-patch` preset (CEM
300 × 30, 30 elites, horizon 5, correlated noise 0.8, 0.01 path weight). Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from worldjepa.config import PlanConfig
from worldjepa.data.batches import to_tensor
from worldjepa.device import autocast
from worldjepa.dynamics.model import FrozenPatchEncoder
from worldjepa.planning.mpc import run_mpc
from worldjepa.planning.oracle import ExactDynamicsFeatureEnergy, ExactTwoRoomsModel
from worldjepa.planning.solvers import make_solver
from worldjepa.pretrain import load_pretrained
from worldjepa.worlds.two_rooms import TwoRooms

PLAN = PlanConfig(solver="cem", horizon=5, samples=300, iterations=30, elites=30, noise_correlation=0.8,
                  path_weight=0.01, budget=50, seed=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", required=True, help="a `worldjepa pretrain` run of two-rooms frames")
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--cells", type=int, default=48, help="grid cells per side for the feature table")
    ap.add_argument("--out", default="runs/bench")
    args = ap.parse_args()
    vit, pre = load_pretrained(args.encoder)
    frozen = FrozenPatchEncoder(vit).eval()

    def patches(frames: np.ndarray) -> torch.Tensor:
        with autocast(torch.device("cpu"), "bf16"):
            return frozen(to_tensor(frames)).float()

    worlds = [TwoRooms(pre.data.image_size) for _ in range(args.episodes)]
    rng = np.random.default_rng(0)
    tasks = [worlds[0].sample_task(rng) for _ in worlds]
    rows = {"agent position (exact)": (ExactTwoRoomsModel(worlds[0], 1).encode, "l2"),
            "patch grid, mean |·| (the patch form's energy)": (patches, "l1"),
            "patch grid mean-pooled, mean |·|": (lambda f: patches(f).mean(1), "l1")}
    results = []
    print(f"{'energy (exact dynamics, ' + str(args.episodes) + ' goals in the other room)':56} {'success':>8} {'steps':>6} {'s':>6}")
    for label, (features, kind) in rows.items():
        t = time.perf_counter()
        model = ExactDynamicsFeatureEnergy(worlds[0], 5, features, n=args.cells, energy=kind, path_weight=PLAN.path_weight)
        r = run_mpc(worlds, tasks, model, make_solver(PLAN), PLAN, frameskip=5, progress=False)
        s = r.summary()
        results.append({"energy": label, "distance": kind, **s, "seconds": time.perf_counter() - t})
        print(f"{label:56} {s['success_rate']:8.0%} {s['steps_mean']:6.1f} {time.perf_counter() - t:6.0f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "energy_oracle.json").write_text(json.dumps({"encoder": args.encoder, "episodes": args.episodes,
                                                         "cells": args.cells, "rows": results}, indent=2))
    print(f"wrote {out / 'energy_oracle.json'}")


if __name__ == "__main__":
    main()

"""What does a world model's encoder keep of the world's state? A linear probe from latents to each state value.

    python benchmarks/state_probe.py --run runs/push-t/wm-1000-seed0 --data runs/push-t/data-1000-seed0

Encodes frames drawn from the episode store (`--frames` from `--episodes` episodes, seeded), fits a ridge
regression from the latent to every state value on one half (eval/probes.py's, its penalty
chosen per value) and prints R² on the other half, one row per state
value (angles as cos and sin, so that a turn of 2π is no error). A controllable agent that the encoder dropped
shows as R² near 0 (or below: worse than predicting the mean), however well the rest is kept.

A linear probe can miss what is kept non-linearly, and what a planner needs is that the energy rises when the
state leaves the goal. `--sensitivity N` (worlds whose state is agent x, y, block x, y, block angle: push, push-t)
therefore also draws N tasks, moves one part of each goal state at a time (the block by 0.5–4 success radii in a
random direction, the block's angle by 10–90°, the agent by the same distances as the block), and prints the
mean planning energy (squared L2 between latents, dynamics/energy.py) between the moved picture and the goal's.
An energy that hardly rises for a turn of 20° cannot guide a planner to the right angle. Writes JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from worldjepa.data.episodes import EpisodeStore
from worldjepa.dynamics.energy import latent_energy
from worldjepa.dynamics.model import load_world_model
from worldjepa.eval.probes import fit_ridge, r2_per_column
from worldjepa.worlds import make_world

ANGLES = {"push-t": [4], "push": [4], "reacher": [0, 1]}  # state indices that are angles, per world
POSE_WORLDS = ("push", "push-t")  # state = agent x, y, block x, y, block angle, ...
RADII = (0.5, 1.0, 2.0, 4.0)  # moves, in success radii
DEGREES = (10, 20, 45, 90)


def energy_sensitivity(model, world_name: str, image_size: int, tasks: int) -> dict[str, float]:
    """Mean energy between a goal's latent and that of the goal with one part moved, per move."""
    world = make_world(world_name, image_size=image_size)
    rng = np.random.default_rng(1)
    radius = world.success_radius
    moves = {f"block moved {r:g} radii": ("block", r * radius) for r in RADII}
    moves |= {f"block turned {d}°": ("angle", np.radians(d)) for d in DEGREES}
    moves |= {f"agent moved {r:g} radii": ("agent", r * radius) for r in RADII}
    sums = dict.fromkeys(moves, 0.0)
    for _ in range(tasks):
        goal = np.asarray(world.sample_task(rng).goal, np.float64)
        pictures = [world.render_state(goal)]
        for part, size in moves.values():
            moved, heading = goal.copy(), rng.uniform(0, 2 * np.pi)
            if part == "angle":
                moved[4] += size * rng.choice([-1, 1])
            else:
                k = 2 if part == "block" else 0
                moved[k:k + 2] += size * np.array([np.cos(heading), np.sin(heading)])
            pictures.append(world.render_state(moved))
        z = model.encode(np.stack(pictures))
        energies = latent_energy(z[1:][None, :, None], z[:1])[0]  # [moves]
        for name, e in zip(moves, energies.tolist()):
            sums[name] += e / tasks
    return sums


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--frames", type=int, default=10, help="frames per episode")
    ap.add_argument("--sensitivity", type=int, default=0, metavar="N",
                    help=f"also measure the energy's rise for moved goals over N tasks ({', '.join(POSE_WORLDS)})")
    ap.add_argument("--out", default=None, help="JSON file (default: RUN/state_probe.json)")
    args = ap.parse_args()
    model, cfg, meta = load_world_model(args.run)
    store = EpisodeStore(args.data, image_size=cfg.image_size)
    rng = np.random.default_rng(0)
    obs, states = [], []
    for i in rng.choice(len(store), min(args.episodes, len(store)), replace=False):
        e = store.episodes[int(i)]
        if e.get("state") is None or not e["state"].size:
            raise SystemExit(f"{args.data} records no states: nothing to probe against")
        for t in rng.choice(len(e["obs"]), min(args.frames, len(e["obs"])), replace=False):
            obs.append(e["obs"][t])
            states.append(e["state"][t])
    obs, states = np.stack(obs), np.stack(states).astype(np.float64)
    with torch.no_grad():
        z = torch.cat([model.encode(obs[k:k + 100]) for k in range(0, len(obs), 100)]).float().numpy()
    columns, names = [], []
    for k in range(states.shape[1]):
        if k in ANGLES.get(meta.world, []):
            columns += [np.cos(states[:, k]), np.sin(states[:, k])]
            names += [f"cos s[{k}]", f"sin s[{k}]"]
        elif states[:, k].std() > 0:  # a constant (e.g. a fixed target's velocity) has nothing to probe
            columns.append(states[:, k])
            names.append(f"s[{k}]")
    y, half = torch.as_tensor(np.stack(columns, 1)), len(z) // 2  # fit on one half (the evaluation suite's
    probe = fit_ridge(torch.as_tensor(z[:half]), y[:half])             # ridge, alpha chosen per value), score the other
    r2 = r2_per_column(y[half:], probe.predict(torch.as_tensor(z[half:]))).numpy()
    print(f"{meta.world}: linear probe from the {z.shape[1]}-d latent, {len(z) // 2} frames fit, {len(z) - len(z) // 2} scored")
    print("| state value | held-out R² |\n|---|---|")
    for name, value in zip(names, r2):
        print(f"| {name} | {value:.3f} |")
    result = {"world": meta.world, "run": args.run, "frames": len(z), "r2": dict(zip(names, map(float, r2)))}
    if args.sensitivity:
        if meta.world not in POSE_WORLDS:
            raise SystemExit(f"--sensitivity knows the state layout of {', '.join(POSE_WORLDS)}, not {meta.world}")
        result["energy"] = energy_sensitivity(model, meta.world, cfg.image_size, args.sensitivity)
        print(f"\n| goal moved ({args.sensitivity} tasks) | mean energy to the goal |\n|---|---|")
        for name, e in result["energy"].items():
            print(f"| {name} | {e:.2f} |")
    out = Path(args.out) if args.out else Path(args.run) / "state_probe.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

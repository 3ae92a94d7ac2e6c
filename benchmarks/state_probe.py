"""What does a world model's encoder keep of the world's state? A linear probe from latents to each state value.

    python benchmarks/state_probe.py --run runs/push-t/wm-1000-seed0 --data runs/push-t/data-1000-seed0

Encodes frames drawn from the episode store (`--frames` from `--episodes` episodes, seeded), fits a ridge
regression from the latent to every state value on one half (eval/probes.py's, its penalty
chosen per value) and prints R² on the other half, one row per state
value (angles as cos and sin, so that a turn of 2π is no error). A controllable agent that the encoder dropped
shows as R² near 0 (or below: worse than predicting the mean), however well the rest is kept. Writes JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from worldjepa.data.episodes import EpisodeStore
from worldjepa.dynamics.model import load_world_model
from worldjepa.eval.probes import fit_ridge, r2_per_column

ANGLES = {"push-t": [4], "push": [4], "reacher": [0, 1]}  # state indices that are angles, per world


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--frames", type=int, default=10, help="frames per episode")
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
    out = Path(args.out) if args.out else Path(args.run) / "state_probe.json"
    out.write_text(json.dumps({"world": meta.world, "run": args.run, "frames": len(z),
                               "r2": dict(zip(names, map(float, r2)))}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

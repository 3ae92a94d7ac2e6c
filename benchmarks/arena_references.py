"""What the arena's open-loop errors are worth: two predictors that look at no frame after the first (docs/arena.md)

    python benchmarks/arena_references.py --data runs/arena-pusht/push-t/data --out runs/arena-pusht/references.json

For every held-out episode (the arena's split) and every start of a window of 9 frames at frame-skip 5, the error
h = 1..8 model steps ahead, in the arena's units (`judged_state`), of holding the window's first state ("copy") and
of the training episodes' mean state ("mean"). A model whose rollout errs more than "mean" predicts worse than
knowing nothing of the episode. Prints a table; writes JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from worldjepa.arena.horizon import judged_state
from worldjepa.arena.run import training_split
from worldjepa.data.episodes import EpisodeStore
from worldjepa.worlds import make_world


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="an arena world's episode store")
    ap.add_argument("--horizon", type=int, default=8)
    ap.add_argument("--frameskip", type=int, default=5)
    ap.add_argument("--out", default=None, help="a JSON file for the figures")
    args = ap.parse_args()
    store = EpisodeStore(args.data)
    world = make_world(store.meta.world, image_size=store.meta.image_size)
    split, span = training_split(len(store)), args.horizon * args.frameskip
    mean = np.concatenate([judged_state(store.episodes[e], world) for e in range(split)]).mean(0)
    copy, average = [], []
    for e in range(split, len(store)):
        states = judged_state(store.episodes[e], world)
        for start in range(len(states) - span):
            window = states[start:start + span + 1:args.frameskip]
            copy.append(np.linalg.norm(window[1:] - window[0], axis=1))
            average.append(np.linalg.norm(window[1:] - mean, axis=1))
    result = {"data": args.data, "windows": len(copy), "copy": np.mean(copy, 0).tolist(),
              "mean": np.mean(average, 0).tolist()}
    print(f"{len(copy)} held-out windows\n\n| predictor | " + " | ".join(f"h={h}" for h in range(1, args.horizon + 1))
          + " |\n|" + "---|" * (args.horizon + 1))
    for name in ("copy", "mean"):
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in result[name]) + " |")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

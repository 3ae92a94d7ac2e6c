"""Does the autoregressive baseline's VQ tokenizer keep the agent? (docs/arena.md)

    python benchmarks/arena_tokenizer.py --run runs/arena-1800/two-rooms/autoregressive-seed0 \
        --data runs/arena-1800/two-rooms/data --out runs/arena-1800/tokenizer-seed0.json

The arena judges a generated frame by a state reader trained on real frames. If the tokenizer's own round trip
(frame → codes → frame) already loses the agent, no transformer on its codes can draw it. This trains the arena's
frame reader on the first four fifths of the episodes (as the arena does), then reads the state (two-rooms: the
agent's position) off the held-out episodes' real frames and off their round trips, beside two references that know
nothing of the frame: the mean state of the training episodes, and the state at the episode's first frame. Prints a
table; writes JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from worldjepa.arena.horizon import episode_frames, judged_state, train_reader
from worldjepa.arena.run import training_split
from worldjepa.data.episodes import EpisodeStore
from worldjepa.dynamics.model import load_world_model
from worldjepa.worlds import make_world


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="an autoregressive `train-wm` run (an arena run folder)")
    ap.add_argument("--data", required=True, help="its episode store")
    ap.add_argument("--out", default=None, help="a JSON file for the figures")
    ap.add_argument("--reader-steps", type=int, default=800, help="the arena's default")
    args = ap.parse_args()
    model, cfg, _ = load_world_model(args.run, device="cpu")
    if cfg.model.form != "autoregressive":
        raise SystemExit(f"{args.run} is a {cfg.model.form} model: this check reads an autoregressive one's tokenizer")
    store = EpisodeStore(args.data)
    split = training_split(len(store))
    held_out = range(split, len(store))
    world = make_world(store.meta.world, image_size=store.meta.image_size)  # what the arena reads (judged_state)
    with torch.enable_grad():
        reader = train_reader(model, store, range(0, split), held_out, steps=args.reader_steps, seed=0, world=world)
    tokenizer = model.objective.predictor.tokenizer.float().eval()
    errors: dict[str, float] = {}
    mean_state = torch.from_numpy(np.concatenate([judged_state(store.episodes[e], world)
                                                  for e in range(split)]).mean(0)).float()
    real, first, trip, mean = [], [], [], []
    for episode in held_out:
        frames, states = episode_frames(store, [episode], world)
        round_trip = torch.cat([tokenizer.detokenize(tokenizer.tokenize(frames[i:i + 256]))
                                for i in range(0, len(frames), 256)])
        real.append((reader.read(frames) - states).norm(dim=-1))
        trip.append((reader.read(round_trip) - states).norm(dim=-1))
        first.append((states[:1] - states).norm(dim=-1))
        mean.append((mean_state - states).norm(dim=-1))
    for name, values in (("real frames", real), ("tokenizer round trip", trip),
                         ("the training episodes' mean state", mean), ("the first frame's state", first)):
        errors[name] = float(torch.cat(values).mean())
    result = {"run": args.run, "reader_r2": reader.held_out_r2, "frames": int(sum(len(v) for v in real)),
              "grid": tokenizer.grid, "codes": cfg.model.codes, "error": errors}
    print(f"frame reader, held-out R² {reader.held_out_r2:.3f}; {result['frames']} held-out frames; "
          f"{result['grid']}×{result['grid']} codes of {result['codes']}")
    print("| state read off | mean error (the arena's units) |\n|---|---|")
    for name, value in errors.items():
        print(f"| {name} | {value:.3f} |")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

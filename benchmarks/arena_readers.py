"""What each arena model's state reader reads, column by column (docs/arena.md)

    python benchmarks/arena_readers.py --arena runs/arena-pusht --world push-t --out runs/arena-pusht/readers.json

The arena judges a model only when its reader reads held-out real frames with R² >= 0.9, averaged over the
state's columns (push-t: agent x, agent y, block x, block y). The mean hides which column fails: this prints the
R² of every column, so that "the encoder dropped the agent" can be told from "the block is hard to read". A row
measured by an arena that kept them (`reader_r2_per_column` in the model's arena.json) is read; an older one's
reader is fitted again as the arena fits it now (same episodes, steps and seed; where the row's reader read the
same state, the mean R² agrees with the row's to about 0.01; push-t rows measured before the judged state was
kept apart from proprio read other columns and do not compare). Prints a table; writes JSON.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from worldjepa.arena.horizon import train_reader
from worldjepa.arena.run import training_split
from worldjepa.data.episodes import EpisodeStore
from worldjepa.dynamics.model import load_world_model
from worldjepa.worlds import make_world


def per_column(run: Path, store: EpisodeStore, world, scale: dict, seed: int) -> tuple[float, list[float]]:
    """(mean R², R² per column) of `run`'s reader: kept by the arena, or fitted again as the arena fits it."""
    row = json.loads((run / "arena.json").read_text())["row"]
    if "reader_r2_per_column" in row:
        return row["reader_r2"], row["reader_r2_per_column"]
    model, _, _ = load_world_model(run, {"precision": scale["precision"]}, device="cpu")
    split = training_split(scale["episodes"])
    reader = train_reader(model, store, range(0, split), range(split, len(store)), steps=scale["reader_steps"],
                          seed=seed, world=world, frame_reader=scale.get("frame_reader", "conv"))
    return reader.held_out_r2, list(reader.per_column)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arena", required=True, help="a `worldjepa arena --out` folder")
    ap.add_argument("--world", default="two-rooms")
    ap.add_argument("--out", default=None, help="a JSON file for the figures")
    args = ap.parse_args()
    folder = Path(args.arena) / args.world
    runs = sorted(p for p in folder.glob("*-seed*") if re.fullmatch(r"\w+-seed\d+", p.name)
                  and (p / "arena.json").exists()) if folder.is_dir() else []
    if not runs:
        raise SystemExit(f"{folder} holds no measured arena model (FORM-seedN folders with an arena.json): run "
                         f"`worldjepa arena --worlds {args.world} --out {args.arena}` first")
    scale = json.loads((runs[0] / "arena.json").read_text())["key"]["scale"]
    store = EpisodeStore(folder / "data")
    world = make_world(args.world, image_size=scale["image_size"])
    rows = []
    for run in runs:
        r2, columns = per_column(run, store, world, scale, seed=int(run.name.rsplit("seed", 1)[1]))
        rows.append({"model": run.name, "r2": r2, "per_column": columns})
        print(f"{run.name}: R² {r2:.3f}", flush=True)
    names = getattr(world, "visible_columns", None) or [f"column {i}" for i in range(len(rows[0]["per_column"]))]
    print("\n| model | R² (mean) | " + " | ".join(names) + " |\n|" + "---|" * (len(names) + 2))
    for row in rows:
        print(f"| {row['model']} | {row['r2']:.3f} | " + " | ".join(f"{v:.3f}" for v in row["per_column"]) + " |")
    if args.out:
        Path(args.out).write_text(json.dumps({"arena": args.arena, "world": args.world, "columns": list(names),
                                              "readers": rows}, indent=2))


if __name__ == "__main__":
    main()

"""V-JEPA 2.1's recipe ablation (its Table 1) in miniature: each pillar added in turn, at equal compute.

    python benchmarks/recipe_ablation.py [--seeds 0 1 2] [--out runs/ablation] [--steps 720] [--suite depth,state,anticipation]

Rows, all from the `tiny-cpu` preset with the same steps, batch and data (so equal compute up to the
small extra cost of the context loss and the level taps):
  1. vjepa2          the V-JEPA 2 recipe: loss on masked tokens only, last level only, one tokenizer
  2. + dense loss     the context loss on visible tokens (pillar 1)
  3. + deep SS        four encoder levels predicted (pillar 2)
  4. + tokenizers     separate image and video tokenizers, a quarter of each batch still images (pillar 3)
Each row is pretrained for every seed (seed by seed), then `worldjepa eval` runs the chosen tasks. Finished runs and
evaluations are reused, so an interrupted ablation resumes where it stopped. The table uses the linear
probes (the attentive probe is skipped: it costs minutes per run and is not what the table compares). Prints a table of mean ±
standard deviation over seeds and writes OUT/ablation.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from worldjepa import config
from worldjepa.eval.suite import SuiteSize, evaluate
from worldjepa.pretrain import pretrain

# V-JEPA 2's two mask types (short- and long-range), pinned so that a change of the preset's masks does not
# change the ablation
MASKS = "objective.masks=[{num_blocks: 8, spatial_scale: [0.15, 0.15]}, {num_blocks: 2, spatial_scale: [0.7, 0.7]}]"
RECIPES = {
    "vjepa2": [MASKS, "objective.recipe=vjepa2"],
    "+ dense loss": [MASKS, "objective.recipe=vjepa2", "objective.context_loss=true"],
    "+ deep SS": [MASKS, "objective.recipe=vjepa2", "objective.context_loss=true", "model.levels=4"],
    "+ tokenizers": [MASKS, "objective.recipe=vjepa2", "objective.context_loss=true", "model.levels=4",
                     "model.separate_tokenizers=true", "data.image_fraction=0.25"],
}
SCORES = {  # (task, path in its results, label, higher is better)
    "depth": [(("rmse",), "depth RMSE", False)],
    "state": [(("position_r2",), "position R²", True), (("velocity_r2",), "velocity R²", True)],
    "anticipation": [(("linear", "recall@5"), "anticip. R@5", True), (("linear", "mAP"), "anticip. mAP", True)],
    "surprise": [(("continuity", "quadruplet_accuracy"), "continuity", True),
                 (("permanence", "quadruplet_accuracy"), "permanence", True)],
}


def slug(name: str) -> str:
    return name.replace("+ ", "plus-").replace(" ", "-")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="runs/ablation")
    ap.add_argument("--steps", type=int, default=None, help="pretraining steps (default: the preset's)")
    ap.add_argument("--suite", default="depth,state,anticipation")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    rows: dict[str, list[dict]] = {}
    for seed in args.seeds:  # seed-major: a partial ablation still covers every recipe
        for name, overrides in RECIPES.items():
            run = out / f"{slug(name)}-seed{seed}"
            extra = [f"train.seed={seed}"] + ([f"train.steps={args.steps}"] if args.steps else [])
            cfg = config.load("tiny-cpu", overrides + extra)
            start = time.perf_counter()
            summary = pretrain(cfg, run, progress=not args.quiet)  # resumes, or returns at once when done
            results_file = run / "eval" / "results.json"
            done = results_file.exists() and set(args.suite.split(",")) <= set(json.loads(results_file.read_text())["tasks"])
            results = json.loads(results_file.read_text()) if done else \
                evaluate(run, run / "eval", args.suite, SuiteSize(attentive_epochs=0), progress=not args.quiet)
            rows.setdefault(name, []).append({"seed": seed, "train_seconds": summary.get("train_seconds"),
                                              "tasks": results["tasks"], "wall_seconds": time.perf_counter() - start})
            print(f"{name} seed {seed}: done", flush=True)
    table, summary = format_table(rows, args.suite.split(","))
    print(table)
    (out / "ablation.json").write_text(json.dumps({"seeds": args.seeds, "suite": args.suite, "recipes": RECIPES,
                                                  "summary": summary, "runs": rows}, indent=2))
    (out / "ablation.md").write_text(table + "\n")


def _get(d: dict, path: tuple[str, ...]):
    for key in path:
        d = d[key]
    return d


def format_table(rows: dict[str, list[dict]], tasks: list[str]) -> tuple[str, dict]:
    columns = [(task, path, label, up) for task in tasks for path, label, up in SCORES.get(task, [])]
    summary: dict[str, dict[str, list[float]]] = {}
    head = "| recipe | " + " | ".join(f"{label} {'↑' if up else '↓'}" for _, _, label, up in columns) + " |"
    lines = [head, "|---" * (len(columns) + 1) + "|"]
    for name, runs in rows.items():
        cells = []
        for task, path, label, _ in columns:
            values = [_get(r["tasks"][task], path) for r in runs]
            mean = statistics.fmean(values)
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            summary.setdefault(name, {})[label] = [mean, spread, *values]
            cells.append(f"{mean:.3f} ± {spread:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines), summary


if __name__ == "__main__":
    main()

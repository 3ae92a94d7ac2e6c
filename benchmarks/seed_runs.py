"""Train configs for several seeds, evaluate each run, and tabulate mean ± spread over seeds.

    python benchmarks/seed_runs.py --config tiny-physics --suite surprise --seeds 0 1 2 --out runs/physics

Each row (a config with overrides) is pretrained for every seed, seed by seed (so a partial run still
covers every row), then `worldjepa eval` runs the chosen tasks; finished runs and evaluations are reused,
so an interrupted run resumes where it stopped. With `--records DIR`, each finished run's scores, doctor
verdicts, times and machine also go to DIR/RUN.json and are reused from there when the run folder is gone,
so that a long table can be measured over several sessions from records kept in the repository. Prints a
table of mean ± standard deviation over seeds with the collapse doctor's verdicts, and the paired change of
each row over the one before it; writes OUT/summary.json and OUT/summary.md. The recipe ablation
(recipe_ablation.py) is one use of it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from worldjepa import config
from worldjepa.doctor import diagnose_run
from worldjepa.eval.suite import SuiteSize, evaluate
from worldjepa.pretrain import pretrain

SCORES = {  # task: [(path in its results, label, higher is better)]
    "depth": [(("rmse",), "depth RMSE", False)],
    "state": [(("position_r2",), "position R²", True), (("velocity_r2",), "velocity R²", True)],
    "anticipation": [(("linear", "recall@5"), "anticip. R@5", True), (("linear", "mAP"), "anticip. mAP", True)],
    "surprise": [((kind, f"{score}quadruplet_accuracy"), f"{kind}{label}", True)
                 for kind in ("permanence", "continuity", "solidity", "gravity")
                 for score, label in (("", ""), ("peak_", " peak"))],
}


def slug(name: str) -> str:
    return name.replace("+ ", "plus-").replace(" ", "-")


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo where there is one): results are reproducible per kind of machine."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_rows(rows: dict[str, list[str]], preset: str, seeds: list[int], out: Path, suite: str,
             steps: int | None = None, progress: bool = True, records: Path | None = None) -> dict[str, list[dict]]:
    """{row name: overrides} → {row name: [one result per seed]}; the attentive probe is skipped (minutes
    per run, and not what these tables compare). A record in `records` of the same overrides and tasks
    stands for its run."""
    results: dict[str, list[dict]] = {}
    for seed in seeds:
        for name, overrides in rows.items():
            run = out / f"{slug(name)}-seed{seed}"
            record_file = records / f"{run.name}.json" if records else None
            if record_file is not None and record_file.exists():
                record = json.loads(record_file.read_text())
                same = (record.get("preset"), record.get("overrides"), record.get("steps")) == (preset, overrides, steps)
                if same and set(suite.split(",")) <= set(record["tasks"]):
                    results.setdefault(name, []).append(record)
                    print(f"{name} seed {seed}: from {record_file}", flush=True)
                    continue
            extra = [f"train.seed={seed}"] + ([f"train.steps={steps}"] if steps else [])
            cfg = config.load(preset, overrides + extra)
            start = time.perf_counter()
            summary = pretrain(cfg, run, progress=progress)  # resumes, or returns at once when done
            results_file = run / "eval" / "results.json"
            done = results_file.exists() and set(suite.split(",")) <= set(json.loads(results_file.read_text())["tasks"])
            evaluated = json.loads(results_file.read_text()) if done else \
                evaluate(run, run / "eval", suite, SuiteSize(attentive_epochs=0), progress=progress)
            record = {"seed": seed, "preset": preset, "overrides": overrides, "steps": steps,
                      "train_seconds": summary.get("train_seconds"),
                      "tasks": evaluated["tasks"], "doctor": diagnose_run(run).verdicts,
                      "wall_seconds": time.perf_counter() - start, "date": datetime.date.today().isoformat(),
                      "machine": cpu_name(), "torch": torch.__version__}
            results.setdefault(name, []).append(record)
            if record_file is not None:
                records.mkdir(parents=True, exist_ok=True)
                record_file.write_text(json.dumps(record, indent=2) + "\n")
            print(f"{name} seed {seed}: done", flush=True)
    return results


def write_summary(results: dict[str, list[dict]], suite: str, out: Path, name: str, extra: dict) -> str:
    tasks = suite.split(",")
    table, summary = format_table(results, tasks)
    changes, paired = format_changes(results, tasks) if len(results) > 1 else ("", {})
    text = table + ("\n\n" + changes if changes else "")
    (out / f"{name}.json").write_text(json.dumps({**extra, "suite": suite, "summary": summary, "changes": paired,
                                                  "runs": results}, indent=2))
    (out / f"{name}.md").write_text(text + "\n")
    return text


def _get(d: dict, path: tuple[str, ...]):
    for key in path:
        d = d[key]
    return d


def _columns(tasks: list[str]) -> list[tuple]:
    return [(task, path, label, up) for task in tasks for path, label, up in SCORES.get(task, [])]


def format_table(rows: dict[str, list[dict]], tasks: list[str]) -> tuple[str, dict]:
    """Mean ± standard deviation over seeds, and the doctor's verdicts, per row."""
    columns = _columns(tasks)
    summary: dict[str, dict[str, list[float]]] = {}
    head = "| run | " + " | ".join(f"{label} {'↑' if up else '↓'}" for _, _, label, up in columns) + " | doctor |"
    lines = [head, "|---" * (len(columns) + 2) + "|"]
    for name, runs in rows.items():
        cells = []
        for task, path, label, _ in columns:
            values = [_get(r["tasks"][task], path) for r in runs]
            mean = statistics.fmean(values)
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            summary.setdefault(name, {})[label] = [mean, spread, *values]
            cells.append(f"{mean:.3f} ± {spread:.3f}")
        verdicts = [", ".join(r["doctor"]) for r in runs]
        cells.append("; ".join(f"{v} ×{verdicts.count(v)}" for v in dict.fromkeys(verdicts)))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines), summary


def format_changes(rows: dict[str, list[dict]], tasks: list[str]) -> tuple[str, dict]:
    """What each row changes over the one before it, seed by seed (same seed, same data, same masks): the
    mean paired change ± its standard deviation, and in how many seeds the score got better."""
    columns = _columns(tasks)
    names = list(rows)
    head = "| change | " + " | ".join(label for _, _, label, _ in columns) + " |"
    lines, paired = [head, "|---" * (len(columns) + 1) + "|"], {}
    for before, after in zip(names, names[1:]):
        by_seed = {r["seed"]: r for r in rows[before]}
        pairs = [(by_seed[r["seed"]], r) for r in rows[after] if r["seed"] in by_seed]
        cells = []
        for task, path, label, up in columns:
            diffs = [_get(new["tasks"][task], path) - _get(old["tasks"][task], path) for old, new in pairs]
            better = sum(d != 0 and (d > 0) == up for d in diffs)
            spread = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
            paired.setdefault(after, {})[label] = {"mean": statistics.fmean(diffs), "std": spread, "diffs": diffs,
                                                   "better": better, "seeds": len(diffs)}
            cells.append(f"{statistics.fmean(diffs):+.3f} ± {spread:.3f} ({better}/{len(diffs)} better)")
        lines.append(f"| {before} → {after} | " + " | ".join(cells) + " |")
    return "\n".join(lines), paired


def parser(doc: str, out: str, suite: str) -> argparse.ArgumentParser:
    """The options every seed table takes."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default=out)
    ap.add_argument("--steps", type=int, default=None, help="pretraining steps (default: the preset's)")
    ap.add_argument("--suite", default=suite)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--records", default=None, help="folder of per-run records to write and reuse")
    return ap


def main() -> None:
    ap = parser(__doc__, "runs/seeds", "surprise")
    ap.add_argument("--config", default="tiny-physics", help="preset name or YAML path")
    args = ap.parse_args()
    out = Path(args.out)
    results = run_rows({Path(args.config).stem: []}, args.config, args.seeds, out, args.suite, args.steps,
                       progress=not args.quiet, records=Path(args.records) if args.records else None)
    print(write_summary(results, args.suite, out, "summary", {"config": args.config, "seeds": args.seeds}))


if __name__ == "__main__":
    main()

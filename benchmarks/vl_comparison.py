"""VL-JEPA against token-generative captioners on the same cached features, data, batches and schedule, over seeds.

    python benchmarks/vl_comparison.py --data runs/vl/data --out runs/vl/compare --seeds 0 1 2

Variants (each `worldjepa vl train` with these overrides on the same data folder):
  jepa            VL-JEPA, predictor from MiniLM's last 3 layers, MiniLM frozen with a trained head
  jepa-noinit     the same with the predictor's layers at random (the paper's "no LLM initialisation")
  jepa-textscratch  the Y side a small text encoder trained from scratch (no MiniLM)
  tokens-2x       a causal next-word captioner with about twice VL-JEPA's trainable parameters
  tokens-1x       the same at about VL-JEPA's count
Each run is evaluated (`vl eval`) at `--curve` points along its schedule (classification, VQA, captioning: the
learning curves against samples seen) and fully at the end. Finished runs and points are reused (rerun to resume).
Prints a table of mean ± sd over seeds, writes OUT/summary.json and OUT/curves.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

from worldjepa.config import VLConfig, apply_override, from_dict
from worldjepa.plots import pyplot, save_figure
from worldjepa.vl.data import load_vl_data
from worldjepa.vl.evaluate import evaluate_run
from worldjepa.vl.train import build_model, train_vl

VARIANTS = {"jepa": {}, "jepa-noinit": {"predictor_init": "scratch"}, "jepa-textscratch": {"text": "scratch"},
            "tokens-2x": {"kind": "tokens"}, "tokens-1x": {"kind": "tokens"}}
CURVE_KEYS = ("count_held_out_top1", "wall_held_out_top1", "vqa_mean", "caption_cider", "caption_fact_f1")
TABLE_KEYS = ("trainable_parameters", "train_seconds", "count_held_out_top1", "count_seen_top1", "wall_held_out_top1",
              "text_to_video_R@1", "text_to_video_R@5", "vqa_mean", "vqa_count", "vqa_next", "swap_accuracy",
              "swap_accuracy_before", "caption_cider", "caption_fact_f1", "caption_cider_decoder",
              "caption_fact_f1_decoder")  # selective decoding: benchmarks/vl_selective.py


def trainable(cfg: VLConfig, data) -> int:
    return sum(p.numel() for p in build_model(cfg, data).parameters() if p.requires_grad)


def sized_token_depth(cfg: VLConfig, data, target: int) -> int:
    """The captioner depth (at its width) whose trainable count is nearest `target`."""
    return min(range(1, 25), key=lambda d: abs(trainable(with_model(cfg, kind="tokens", token_depth=d), data) - target))


def with_model(cfg: VLConfig, **changes) -> VLConfig:
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, **changes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a `worldjepa vl features` folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--curve", type=int, default=4, help="evaluation points along the schedule (the last is the end)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--set", nargs="*", default=[], help="overrides for every variant, e.g. optim.lr=3e-4")
    ap.add_argument("--rescore-captions", action="store_true",
                    help="score the finished runs' final captions again (after a change to the caption metrics)")
    args = ap.parse_args()
    data = load_vl_data(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base: dict = {}
    for item in [f"data.path={args.data}", f"train.steps={args.steps}", "train.log_every=50",
                 "train.checkpoint_every=100000", *args.set]:
        apply_override(base, item, VLConfig)
    jepa_cfg = from_dict(VLConfig, base)
    target = trainable(jepa_cfg, data)
    depths = {"tokens-2x": sized_token_depth(jepa_cfg, data, 2 * target),
              "tokens-1x": sized_token_depth(jepa_cfg, data, target)}
    summary: dict = {"jepa_trainable": target, "token_depths": depths, "runs": {}}
    points = [round(args.steps * (k + 1) / args.curve) for k in range(args.curve)]
    for variant in args.variants.split(","):
        changes = dict(VARIANTS[variant])
        if variant in depths:
            changes["token_depth"] = depths[variant]
        for seed in args.seeds:
            cfg = with_model(jepa_cfg, **changes)
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))
            run = out / f"{variant}-seed{seed}"
            record_file = run / "comparison.json"
            record = json.loads(record_file.read_text()) if record_file.exists() else {"curve": [], "steps": args.steps}
            if record.get("steps") != args.steps:
                raise SystemExit(f"{run} was trained for {record.get('steps')} steps, not {args.steps}: use another --out")
            done = {p["step"] for p in record["curve"]}
            if args.rescore_captions and "final" in record and record["curve"][-1]["step"] == args.steps:
                record["final"].update(rescored := caption_scores(run))
                record["curve"][-1].update({k: v for k, v in rescored.items() if k in CURVE_KEYS})
                record_file.write_text(json.dumps(record, indent=2))
                print(f"{variant} seed {seed}: captions rescored " + ", ".join(f"{k} {v:.3f}" for k, v in rescored.items()),
                      flush=True)
            for step in points:
                if step in done:
                    continue
                result = train_vl(cfg, run, data=data, progress=False, until=step)
                start = time.perf_counter()
                scores = evaluate_run(run)
                record["curve"].append({"step": step, "samples": step * cfg.data.batch_size,
                                        "eval_seconds": time.perf_counter() - start,
                                        **{k: scores.get(k) for k in CURVE_KEYS}})
                record.update(final=scores, trainable_parameters=result["trainable_parameters"],
                              train_seconds=result["train_seconds"])
                record_file.write_text(json.dumps(record, indent=2))
                print(f"{variant} seed {seed} step {step}: " + ", ".join(
                    f"{k} {scores.get(k):.3f}" for k in CURVE_KEYS if isinstance(scores.get(k), float)), flush=True)
            summary["runs"][f"{variant}-seed{seed}"] = record
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(table(summary, args.variants.split(","), args.seeds))
    plot_curves(summary, args.variants.split(","), args.seeds, out / "curves.png")


def caption_scores(run: Path) -> dict:
    """The final checkpoint's caption metrics alone: greedy captions of the token captioner; the nearest description
    and the light decoder (RUN/decoder, loaded) of VL-JEPA."""
    import numpy as np

    from worldjepa.vl.evaluate import NearestCaption, captioning, light_decoder, predicted
    from worldjepa.vl.train import load_vl

    model, cfg, data = load_vl(run)
    model.eval()
    test = np.nonzero(data.test)[0]
    if cfg.model.kind == "tokens":
        longest = max(len(model.tokenizer.split(t.answer)) for t in data.items("train", questions=False))
        said = [c for s in range(0, len(test), 256)
                for c in model.generate(data.features[test[s:s + 256]], [""] * len(test[s:s + 256]), longest + 1)]
        return captioning(data, said, test)
    captions = predicted(model, data.features[test], [""] * len(test))
    decode = light_decoder(model, data, run / "decoder", seed=cfg.train.seed, run=run)
    return {**captioning(data, NearestCaption(model, data)(captions), test),
            **{f"{k}_decoder": v for k, v in captioning(data, decode(captions), test).items()}}


def table(summary: dict, variants: list[str], seeds: list[int]) -> str:
    lines = ["| metric | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    for key in TABLE_KEYS:
        cells = []
        for v in variants:
            values = []
            for s in seeds:
                r = summary["runs"][f"{v}-seed{s}"]
                x = r.get(key, r.get("final", {}).get(key))
                if isinstance(x, (int, float)):
                    values.append(float(x))
            if not values:
                cells.append("—")
            elif key == "trainable_parameters":
                cells.append(f"{values[0]:,.0f}")
            else:
                sd = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
                cells.append(f"{statistics.mean(values):.3f}{sd}")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_curves(summary: dict, variants: list[str], seeds: list[int], path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(CURVE_KEYS), figsize=(4 * len(CURVE_KEYS), 3.2))
    for ax, key in zip(axes, CURVE_KEYS):
        for v in variants:
            runs = [summary["runs"][f"{v}-seed{s}"]["curve"] for s in seeds]
            steps = sorted({p["samples"] for run in runs for p in run})
            means = [statistics.mean(p[key] for run in runs for p in run if p["samples"] == x and p[key] is not None)
                     if any(p["samples"] == x and p[key] is not None for run in runs for p in run) else float("nan")
                     for x in steps]
            ax.plot(steps, means, marker="o", label=v)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("samples seen")
    axes[0].legend(fontsize=7)
    save_figure(fig, path)


if __name__ == "__main__":
    main()

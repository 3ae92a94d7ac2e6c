"""Selective decoding over seeds: decodes per second against caption quality for uniform, Ward and online decoding.

    python benchmarks/vl_selective.py --runs runs/vl/compare/jepa-seed0 runs/vl/compare/jepa-seed1 \
        runs/vl/compare/jepa-seed2 --out runs/vl/selective

Each run is a finished `vl train` run (its light decoder in RUN/decoder is trained there if missing); its long clips
are those of its data folder, or of `--streams`, another `vl features` folder (the same clips' features, other long
clips). Two decoders per policy: the run's light decoder, and each chosen window's own reference (a perfect
decoder: what the policy's choice of windows allows, whatever the decoder). The paper's figure is the ratio of
decodes at equal quality (`fewer_decodes`: uniform decoding at about 1 decode a second sets the quality). Where the
long clips are scenes cut together, `scene_changes` says whether the predicted stream marks the cuts.
Prints a table of mean ± sd over runs, writes OUT/selective.json and OUT/selective.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path

from worldjepa.plots import pyplot, save_figure
import numpy as np

from worldjepa.vl.data import load_vl_data, scene_window
from worldjepa.vl.evaluate import light_decoder, predicted, selective
from worldjepa.vl.selective import scene_changes
from worldjepa.vl.train import load_vl


def mean_sd(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    return f"{statistics.mean(values):.3f}" + (f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--streams", default=None, help="a `vl features` folder whose long clips to use (default: the run's)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    other = load_vl_data(args.streams) if args.streams else None
    results = {}
    for run in args.runs:
        model, cfg, data = load_vl(run)
        if other is not None:
            if other.streams is None:
                raise SystemExit(f"{args.streams} holds no long clips: write them with `worldjepa vl features`")
            data = dataclasses.replace(data, streams=other.streams, stream_references=other.stream_references,
                                       meta={**data.meta, **{k: other.meta[k] for k in ("fps", "stride")}})
        elif data.streams is None:
            raise SystemExit(f"{run}'s data holds no long clips: pass --streams")
        model.eval()
        embedded = [predicted(model, st, [""] * len(st)) for st in data.streams]  # once, for both measurements
        results[run] = selective(model, data, light_decoder(model, data, Path(run) / "decoder", seed=cfg.train.seed,
                                                            run=run), embedded=embedded)
        cuts = data.meta.get("cuts") if other is None else other.meta.get("cuts")
        if cuts is not None:  # where the scenes change: does the predicted stream mark it?
            frames, stride = data.meta["frames"], data.meta["stride"]
            scenes = [np.array([scene_window(c, w * stride, frames)[0] for w in range(data.streams.shape[1])])
                      for c in cuts]
            results[run]["scene_changes"] = scene_changes([e.numpy() for e in embedded], scenes)
        print(f"{run}: fewer decodes, Ward {results[run]['selective_fewer_decodes_ward']}, change "
              f"{results[run]['selective_fewer_decodes_change']}", flush=True)
    (out / "selective.json").write_text(json.dumps({"streams": args.streams, "runs": results}, indent=2))
    print(table(results))
    plot(results, out / "selective.png")


def table(results: dict) -> str:
    runs = list(results.values())
    lines = ["| decoder | policy | setting | decodes per s | CIDEr-D | count right |", "|---|---|---|---|---|---|"]
    for i, row in enumerate(runs[0]["selective"]):
        rows = [r["selective"][i] for r in runs]
        lines.append(f"| {row['decoder']} | {row['policy']} | {row['setting']} | "
                     f"{mean_sd([r['decodes_per_s'] for r in rows])} | {mean_sd([r['cider'] for r in rows])} | "
                     f"{mean_sd([r['fact_right'] for r in rows])} |")
    lines.append("")
    for key in ("ward", "change", "ward_reference", "change_reference", "ward_count", "change_count",
                "ward_count_reference", "change_count_reference"):
        values = [r[f"selective_fewer_decodes_{key}"] for r in runs]
        lines.append(f"fewer decodes at equal quality, {key}: {mean_sd(values)} (per run: {values})")
    if all("scene_changes" in r for r in runs):
        for key in runs[0]["scene_changes"]:
            lines.append(f"{key}: {mean_sd([r['scene_changes'][key] for r in runs])}")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    plt = pyplot()
    runs = list(results.values())
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.4))
    for row, (quality, label) in enumerate((("cider", "CIDEr-D"), ("fact_right", "windows with the right count"))):
        for ax, decoder in zip(axes[row], ("light", "reference")):
            for policy, marker in (("uniform", "o"), ("ward", "s"), ("change", "^")):
                idx = [i for i, r in enumerate(runs[0]["selective"])
                       if r["decoder"] == decoder and r["policy"] == policy]
                x = [statistics.mean(r["selective"][i]["decodes_per_s"] for r in runs) for i in idx]
                y = [statistics.mean(r["selective"][i][quality] for r in runs) for i in idx]
                ax.plot(x, y, marker=marker, label=policy)
            ax.set_xscale("log")
            ax.set_xticks([0.25, 0.5, 1, 2, 3], ["0.25", "0.5", "1", "2", "3"])
            ax.minorticks_off()
            ax.set_xlabel("decodes per second of video")
            ax.set_ylabel(label)
            ax.set_title(f"{decoder} decoder (mean of {len(runs)} runs)", fontsize=9)
    axes[0, 0].legend(fontsize=8)
    save_figure(fig, path)


if __name__ == "__main__":
    main()

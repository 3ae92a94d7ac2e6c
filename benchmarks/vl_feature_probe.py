"""Do a VL data folder's cached visual features carry an answer? A linear probe beside what VL-JEPA learns.

    python benchmarks/vl_feature_probe.py --data runs/vl/data-rooms --answers "the left room,the right room"

Each clip asked a question whose answer is one of `--answers` is labelled with that answer; a logistic regression
(scikit-learn) is fitted on the first 80% of those clips and scored on the rest, from all the clip's visual tokens
and from their mean (what is left when the position of a token is ignored). Prints a table; writes JSON with --out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from worldjepa.vl.data import load_vl_data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a `worldjepa vl features` folder")
    ap.add_argument("--answers", required=True, help="comma-separated answers, the probe's classes")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression

    answers = [a.strip() for a in args.answers.split(",") if a.strip()]
    data = load_vl_data(args.data)
    label: dict[int, str] = {}
    for item in data.items("train") + data.items("test"):
        if item.query and item.answer in answers:
            label.setdefault(item.clip, item.answer)
    if len(set(label.values())) < 2:
        raise SystemExit(f"fewer than two of {answers} are answers in {args.data}: name answers its questions have")
    clips = sorted(label)
    y = np.array([label[c] for c in clips])
    features = data.features[clips].float()
    cut = int(len(clips) * 0.8)
    result = {"data": args.data, "answers": answers, "clips": len(clips),
              "majority": float(max(np.mean(y[cut:] == a) for a in answers)), "accuracy": {}}
    for name, x in (("all visual tokens", features.flatten(1)), ("their mean", features.mean(1))):
        x = x.numpy()
        probe = LogisticRegression(max_iter=2000).fit(x[:cut], y[:cut])
        result["accuracy"][name] = float(probe.score(x[cut:], y[cut:]))
    print(f"{args.data}: {len(clips)} clips, held-out {len(clips) - cut}, majority class {result['majority']:.3f}")
    print("| probe from | held-out accuracy |\n|---|---|")
    for name, value in result["accuracy"].items():
        print(f"| {name} | {value:.3f} |")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

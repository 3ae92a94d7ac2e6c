"""Do a VL data folder's cached visual features carry an answer? A linear probe beside what VL-JEPA learns.

    python benchmarks/vl_feature_probe.py --data runs/vl/data-rooms --answers "the left room,the right room"

Each clip asked a question whose answer is one of `--answers` is labelled with that answer (a clip with two such
answers is left out); a logistic regression (scikit-learn) is fitted on the training clips and scored on the test
clips (the data's own split), from all the clip's visual tokens and from their mean (what is left when the
position of a token is ignored). Prints a table; writes JSON with --out.
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
    said: dict[int, set[str]] = {}
    for item in data.items("train") + data.items("test"):
        if item.query and item.answer in answers:
            said.setdefault(item.clip, set()).add(item.answer)
    label = {clip: next(iter(a)) for clip, a in said.items() if len(a) == 1}
    if len(set(label.values())) < 2:
        raise SystemExit(f"fewer than two of {answers} are answers in {args.data}: name answers its questions have")
    test = np.asarray(data.test, dtype=bool)
    split = {part: [c for c in sorted(label) if test[c] == (part == "test")] for part in ("train", "test")}
    y = {part: np.array([label[c] for c in clips]) for part, clips in split.items()}
    result = {"data": args.data, "answers": answers, "clips": {p: len(c) for p, c in split.items()},
              "majority": float(max(np.mean(y["test"] == a) for a in answers)), "accuracy": {}}
    features = {part: data.features[clips].float() for part, clips in split.items()}  # read once, pooled twice
    for name, pool in (("all visual tokens", lambda f: f.flatten(1)), ("their mean", lambda f: f.mean(1))):
        x = {part: pool(f).numpy() for part, f in features.items()}
        probe = LogisticRegression(max_iter=2000).fit(x["train"], y["train"])
        result["accuracy"][name] = float(probe.score(x["test"], y["test"]))
    print(f"{args.data}: {len(split['train'])} training and {len(split['test'])} test clips, majority class "
          f"{result['majority']:.3f}")
    print("| probe from | held-out accuracy |\n|---|---|")
    for name, value in result["accuracy"].items():
        print(f"| {name} | {value:.3f} |")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Probing on a user's own labelled clips (`worldjepa eval --labels FILE`).

The label file is a CSV with a header row (docs/evaluation.md):

    clip,label,split
    pour/001.mp4,pour,train
    stir/007.mp4,stir,test
    stills/cup.png,pour,

- `clip`: a video or image path, relative to the label file's folder;
- `label`: a class name, or a number for every row (then the task is regression);
- `split` (optional column or empty cell): `train` or `test`; rows without one are split 80/20 by a
  stable hash of their path, so the split does not change between runs.

Videos give one window of the model's clip length (its start drawn with a fixed seed, so every run sees the
same frames); images go through the image tokenizer.
Classification reports top-1 accuracy (and class-mean Recall@5 with more than five classes) of the
linear and attentive probes; regression reports R². `LabelsTask` is the suite's task (eval/tasks.py):
label file → frames → frozen features (computed afresh, not cached) → both
probes, fitted on the train rows and scored on the test rows; the majority class is the reference.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..data.folder import load_clip, load_image
from ..data.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from .anticipation import last_steps_tokens
from .attentive import fit_attentive
from .features import patch_features
from .metrics import class_mean_recall_at_k
from .probes import fit_ridge, r2_score
from .state_probe import moment_pool
from .tasks import Row, RunKind, fmt

if TYPE_CHECKING:
    from .suite import EvalContext


@dataclass
class LabelledClips:
    paths: list[Path]
    labels: list[str]
    train: np.ndarray  # [N] bool
    classes: list[str] | None  # None: regression
    values: np.ndarray  # [N] class index (classification) or float target (regression)


def _split_of(path: str) -> bool:
    """True for train: a stable 80/20 split by the path's hash."""
    return int(hashlib.sha256(path.encode()).hexdigest(), 16) % 10 < 8


def read_labels(file: str | Path) -> LabelledClips:
    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"label file {file} does not exist (a CSV with the header clip,label[,split])")
    with file.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
        header = rows[0].keys() if rows else []
    if not {"clip", "label"} <= set(header):
        raise ValueError(f"{file}: the header must name the columns clip,label[,split]; found {','.join(header) or 'none'}")
    if not rows:
        raise ValueError(f"{file} has a header but no rows")
    paths, labels, train = [], [], []
    for line, row in enumerate(rows, start=2):
        name, label, split = (row.get("clip") or "").strip(), (row.get("label") or "").strip(), (row.get("split") or "").strip()
        if not name or not label:
            raise ValueError(f"{file}, line {line}: empty clip or label")
        path = file.parent / name
        if not path.is_file():
            raise FileNotFoundError(f"{file}, line {line}: the clip {name!r} does not exist (looked for {path})")
        if path.suffix.lower() not in VIDEO_SUFFIXES | IMAGE_SUFFIXES:
            raise ValueError(f"{file}, line {line}: {name!r} is neither a video nor an image (by its suffix)")
        if split not in ("", "train", "test"):
            raise ValueError(f"{file}, line {line}: split must be train, test or empty, got {split!r}")
        paths.append(path)
        labels.append(label)
        train.append(split == "train" if split else _split_of(name))
    kinds = {p.suffix.lower() in VIDEO_SUFFIXES for p in paths}
    if len(kinds) > 1:
        raise ValueError(f"{file} mixes videos and images; probe them in two label files")
    train = np.array(train)
    if train.all() or not train.any():
        raise ValueError(f"{file}: both the train and the test split need at least one clip "
                         f"({int(train.sum())} train, {int((~train).sum())} test)")
    try:
        values = np.array([float(v) for v in labels])
        classes = None
    except ValueError:
        classes = sorted(set(labels))
        values = np.array([classes.index(v) for v in labels])
    return LabelledClips(paths, labels, train, classes, values)


def load_frames(clips: LabelledClips, image_size: int, frames: int) -> np.ndarray:
    """[N, frames, S, S, 3] for videos, [N, S, S, 3] for images."""
    if clips.paths[0].suffix.lower() in IMAGE_SUFFIXES:
        return np.stack([load_image(p, image_size) for p in clips.paths])
    return np.stack([load_clip(p, image_size, frames, 1, np.random.default_rng(0)) for p in clips.paths])


class LabelsTask:
    """A user's labelled clips (`--labels FILE`): linear and attentive probes on the pretrained encoder."""

    name = "labels"
    kind: RunKind = "pretrain"
    needs_labels = True

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        cfg, epochs = ctx.cfg, ctx.size.attentive_epochs
        data = read_labels(ctx.labels)
        frames = load_frames(data, cfg.data.image_size, cfg.data.frames)
        features = patch_features(ctx.encoder, frames)
        tr, te = torch.as_tensor(data.train), torch.as_tensor(~data.train)
        pooled, tokens = moment_pool(features).flatten(1), last_steps_tokens(features)
        grid = (min(2, features.shape[1]), *features.shape[2:4])
        seed = cfg.train.seed
        if data.classes is None:
            y = torch.as_tensor(data.values, dtype=torch.float32)[:, None]
            linear = fit_ridge(pooled[tr], y[tr]).predict(pooled[te]).float()
            attentive = fit_attentive(tokens[tr], y[tr], "regression", epochs=epochs, seed=seed,
                                      grid=grid).predict(tokens[te])
            scores = {"linear": {"r2": r2_score(y[te], linear)}, "attentive": {"r2": r2_score(y[te], attentive)}}
        else:
            onehot = torch.nn.functional.one_hot(torch.as_tensor(data.values), len(data.classes)).float()
            linear = fit_ridge(pooled[tr], onehot[tr]).predict(pooled[te]).float()
            attentive = fit_attentive(tokens[tr], onehot[tr], "multilabel", epochs=epochs, seed=seed,
                                      grid=grid).predict(tokens[te])
            truth = onehot[te].numpy()
            scores = {}
            for name, pred in (("linear", linear), ("attentive", attentive)):
                s = {"accuracy": float((pred.argmax(1) == onehot[te].argmax(1)).float().mean())}
                if len(data.classes) > 5:
                    s["recall@5"] = class_mean_recall_at_k(pred.numpy(), truth, 5)
                scores[name] = s
            majority = np.bincount(data.values[data.train], minlength=len(data.classes)).argmax()
            scores["majority_class"] = {"accuracy": float((data.values[~data.train] == majority).mean())}
        return {**scores, "file": str(ctx.labels), "classes": data.classes,
                "clips": {"train": int(data.train.sum()), "test": int((~data.train).sum())}}

    def rows(self, result: dict[str, Any]) -> list[Row]:
        rows = []
        for metric in result["linear"]:  # accuracy [and recall@5], or r2
            ref = f"majority class {fmt(result['majority_class']['accuracy'])}" if metric == "accuracy" else ""
            rows.append(Row(self.name, f"{metric} linear / attentive",
                            f"{fmt(result['linear'][metric])} / {fmt(result['attentive'][metric])}", ref))
        return rows

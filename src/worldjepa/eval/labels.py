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
linear and attentive probes; regression reports R².
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.folder import load_clip, load_image
from ..data.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES


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

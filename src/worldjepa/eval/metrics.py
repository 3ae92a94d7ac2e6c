"""Scores of the evaluation suite, as the published benchmarks define them.

- `class_mean_recall_at_k`: EPIC-KITCHENS-100 anticipation's mean top-k recall: for each class, the share
  of its positive samples whose k highest-scored classes include it; averaged over classes that occur.
- `mean_average_precision`: per class, the mean precision at the rank of each positive (no interpolation),
  averaged over classes that occur (the mAP of Ego4D short-term anticipation's class scores).
- `ate` / `rte`: absolute and relative trajectory error of predicted positions (TartanDrive, NWM): the
  RMS distance to the true trajectory, and the RMS error of the displacement over `delta` steps.
- `rmse`.
- `sign_test`: the one-sided exact sign test of paired differences.
"""

from __future__ import annotations

import math

import numpy as np


def _as_2d(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s, y = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
    if s.shape != y.shape or s.ndim != 2:
        raise ValueError(f"scores and labels must both be [samples, classes], got {s.shape} and {y.shape}")
    return s, y


def class_mean_recall_at_k(scores, labels, k: int = 5) -> float:
    s, y = _as_2d(scores, labels)
    k = min(k, s.shape[1])
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    in_top = np.zeros_like(y)
    np.put_along_axis(in_top, top, True, axis=1)
    present = y.sum(0) > 0
    if not present.any():
        raise ValueError("no sample has a positive label: recall is undefined")
    return float(((in_top & y).sum(0)[present] / y.sum(0)[present]).mean())


def average_precision(scores, labels) -> float:
    """AP of one class: mean over positives of the precision among samples ranked at or above it."""
    s, y = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
    if not y.any():
        raise ValueError("average precision needs at least one positive")
    order = np.argsort(-s, kind="stable")
    hits = y[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def mean_average_precision(scores, labels) -> float:
    s, y = _as_2d(scores, labels)
    aps = [average_precision(s[:, c], y[:, c]) for c in range(s.shape[1]) if y[:, c].any()]
    if not aps:
        raise ValueError("no class has a positive label: mAP is undefined")
    return float(np.mean(aps))


def rmse(pred, target) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - np.asarray(target, np.float64)) ** 2)))


def ate(pred, true) -> float:
    """pred, true [N, T, 2] positions → RMS over all steps of the position error."""
    d = np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(true, np.float64), axis=-1)
    return float(np.sqrt(np.mean(d ** 2)))


def rte(pred, true, delta: int = 1) -> float:
    """RMS error of the displacement over `delta` steps."""
    p, t = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    if p.shape[1] <= delta:
        raise ValueError(f"trajectories of {p.shape[1]} steps have no displacement over {delta} steps")
    d = np.linalg.norm((p[:, delta:] - p[:, :-delta]) - (t[:, delta:] - t[:, :-delta]), axis=-1)
    return float(np.sqrt(np.mean(d ** 2)))


def sign_test(differences) -> float:
    """One-sided exact sign test: the chance of at least this many positive differences among the non-zero
    ones if positive and negative were equally likely (paired scores, no assumption on their distribution)."""
    d = np.asarray(differences)
    n, k = int((d != 0).sum()), int((d > 0).sum())
    return float(sum(math.comb(n, i) for i in range(k, n + 1)) / 2 ** n) if n else 1.0


def fisher_greater(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float:
    """One-sided Fisher exact test: the chance, with the hits' total fixed and every way of dealing them to the two
    groups equally likely, that group a gets at least `hits_a` of them (a success rate higher by chance alone)."""
    total = hits_a + hits_b
    ways = math.comb(n_a + n_b, total)
    return sum(math.comb(n_a, k) * math.comb(n_b, total - k) for k in range(hits_a, min(n_a, total) + 1)) / ways

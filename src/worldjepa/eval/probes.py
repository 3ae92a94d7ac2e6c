"""Linear probes on frozen features: closed-form ridge regression with a held-out choice of penalty.

Features are standardised with the training set's statistics. The ridge solution is computed in
whichever of the primal (d × d) or dual (n × n) forms is smaller, from one eigendecomposition shared
by every penalty and every target column, so a sweep over penalties for many targets costs one
decomposition. Each target column gets the penalty that scores best on the last 20% of the training
samples; the probe is then refitted on all training samples with those penalties.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

ALPHAS = (1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)


def r2_per_column(y: Tensor, pred: Tensor) -> Tensor:
    y, pred = y.double(), pred.double()
    ss_res = ((y - pred) ** 2).sum(0)
    ss_tot = ((y - y.mean(0)) ** 2).sum(0).clamp_min(1e-12)
    return 1.0 - ss_res / ss_tot


def r2_score(y: Tensor, pred: Tensor) -> float:
    """Coefficient of determination, averaged uniformly over output columns (as scikit-learn does)."""
    return float(r2_per_column(y, pred).mean())


@dataclass
class RidgeProbe:
    weight: Tensor  # [d, k] on standardised features
    bias: Tensor  # [k]
    mean: Tensor  # [d]
    std: Tensor  # [d]
    alphas: Tensor  # [k] the penalty chosen for each output column

    def predict(self, x: Tensor) -> Tensor:
        return ((x.double().flatten(1) - self.mean) / self.std) @ self.weight + self.bias


class _RidgePath:
    """Ridge solutions for any penalty from one eigendecomposition of centred x [n, d]."""

    def __init__(self, x: Tensor, y: Tensor):
        n, d = x.shape
        self.x, self.y_mean = x, y.mean(0)
        yc = y - self.y_mean
        self.dual = d > n
        gram = x @ x.T if self.dual else x.T @ x
        self.evals, self.evecs = torch.linalg.eigh(gram)
        self.proj = self.evecs.T @ (yc if self.dual else x.T @ yc)  # [m, k]

    def weight(self, alpha: Tensor) -> Tensor:
        """alpha [k] (one per column) → weight [d, k]."""
        coef = self.evecs @ (self.proj / (self.evals.unsqueeze(1) + alpha.unsqueeze(0)))
        return self.x.T @ coef if self.dual else coef


def _standardise(a: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    mean, std = a.mean(0), a.std(0).clamp_min(1e-6)
    return (a - mean) / std, mean, std


def fit_ridge(x: Tensor, y: Tensor, alphas=ALPHAS, val_fraction: float = 0.2) -> RidgeProbe:
    """Fit a ridge probe x [n, d] → y [n, k], choosing each column's alpha on a held-out tail."""
    if x.ndim < 2 or y.ndim < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"fit_ridge needs features [n, d] and targets [n] or [n, k] with the same n, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] < 3:
        raise ValueError(f"fit_ridge needs at least 3 samples (some are held out to choose alpha), got {x.shape[0]}")
    x, y = x.double().flatten(1), y.double().reshape(y.shape[0], -1)
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("fit_ridge: features or targets contain NaN or Inf; drop those samples first")
    n, k = y.shape
    n_val = max(1, int(n * val_fraction))
    xt, mean, std = _standardise(x[:-n_val])
    xv = (x[-n_val:] - mean) / std
    path = _RidgePath(xt, y[:-n_val])
    scores = torch.stack([
        r2_per_column(y[-n_val:], xv @ path.weight(torch.full((k,), a, dtype=torch.float64)) + path.y_mean)
        for a in alphas
    ])  # [len(alphas), k]
    best = torch.tensor(alphas, dtype=torch.float64)[scores.argmax(0)]
    xa, mean, std = _standardise(x)
    full = _RidgePath(xa, y)
    return RidgeProbe(full.weight(best), full.y_mean, mean, std, best)


def probe_r2(x_train: Tensor, y_train: dict[str, Tensor], x_test: Tensor, y_test: dict[str, Tensor],
             alphas=ALPHAS) -> dict[str, float]:
    """Test R² of one ridge probe per named target group (all fitted from one decomposition)."""
    names = list(y_train)
    widths = [y_train[name].flatten(1).shape[1] for name in names]
    probe = fit_ridge(x_train, torch.cat([y_train[n].flatten(1) for n in names], 1), alphas)
    pred = probe.predict(x_test).split(widths, dim=1)
    return {name: r2_score(y_test[name].flatten(1), p) for name, p in zip(names, pred)}

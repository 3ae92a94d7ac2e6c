"""Learning-rate and weight-decay schedules as pure functions of the step (so resume needs no state)."""

from __future__ import annotations

import math

from ..config import OptimConfig


def learning_rate(step: int, total: int, cfg: OptimConfig) -> float:
    """Linear warm-up start_lr → lr over warmup_steps, then cosine down to min_lr, or constant (its last
    decay_steps falling linearly to min_lr: warm-up, stable, decay)."""
    if step < cfg.warmup_steps:
        return cfg.start_lr + (cfg.lr - cfg.start_lr) * step / cfg.warmup_steps
    if cfg.schedule == "constant":
        decay_from = total - cfg.decay_steps
        if cfg.decay_steps and step >= decay_from:
            return cfg.lr + (cfg.min_lr - cfg.lr) * (step - decay_from + 1) / cfg.decay_steps
        return cfg.lr
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * progress))


def weight_decay(step: int, total: int, cfg: OptimConfig) -> float:
    """Cosine from weight_decay[0] to weight_decay[1] over the run (constant when they are equal)."""
    start, end = cfg.weight_decay
    progress = min(1.0, step / max(1, total))
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * progress))

"""The step guard: which optimiser steps must not be applied.

A step is rejected when its loss or gradient norm is not finite, or when its loss exceeds `factor` times
the median of the last `window` accepted losses (a bad batch, or the start of a divergence), once at
least `min_history` losses are known. A rejected step changes no weight; the trainer logs it and stops
with a diagnosis after `max_skips` rejections in a row. The history is part of the checkpoint, so a
resumed run judges its steps exactly as the uninterrupted one. An objective whose loss changes meaning
at given steps (a new training stage: the autoregressive baseline's tokenizer, then its transformer) lists
them in `stage_starts`; the guard forgets the losses before each, so a new stage's scale is not a spike.
"""

from __future__ import annotations

import math
import statistics
from collections import deque

WINDOW, MIN_HISTORY = 50, 20


class SpikeGuard:
    def __init__(self, factor: float, window: int = WINDOW, min_history: int = MIN_HISTORY):
        self.factor, self.min_history = factor, min_history
        self.recent: deque[float] = deque(maxlen=window)

    def reason(self, loss: float, grad_norm: float) -> str | None:
        """Why a step with this loss and gradient norm must be rejected, or None to apply it."""
        if not math.isfinite(loss):
            return "non-finite loss"
        if not math.isfinite(grad_norm):
            return "non-finite gradient"
        if self.factor > 0 and len(self.recent) >= self.min_history:
            median = statistics.median(self.recent)
            if loss > self.factor * median:
                return f"loss spike ({loss:.4g} > {self.factor:g} × median {median:.4g})"
        return None

    def forget(self) -> None:
        self.recent.clear()

    def accept(self, loss: float) -> None:
        self.recent.append(loss)

    def state(self) -> list[float]:
        return list(self.recent)

    def load(self, recent: list[float]) -> None:
        self.recent = deque(recent, maxlen=self.recent.maxlen)

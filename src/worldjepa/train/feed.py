"""Prefetching: each step's micro-batches, ready when the step starts.

A batch source is a pure function `batch(step, micro)`, so any process can build any step. With
`workers` > 0, background processes build steps start..stop-1 in order (a worker that dies raises a clear
RuntimeError in the training process through PyTorch's watchdog, it does not hang); with none, one
thread builds step s+1 while step s trains.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import torch

from ..data.batches import Batch, BatchSource, Share


class StepBatches(torch.utils.data.Dataset):
    """Step index → that step's micro-batches; in a run of several processes, this rank's part of each (a
    source that can build only some rows offers `batch_part(step, micro, rows)`; any other builds the global
    batch and keeps the rows)."""

    def __init__(self, source: BatchSource, accumulate: int, rows: Share = Share()):
        self.source, self.accumulate, self.rows = source, accumulate, rows

    def __getitem__(self, step: int) -> list[Batch]:
        if self.rows.parts == 1:
            return [self.source.batch(step, m) for m in range(self.accumulate)]
        build = getattr(self.source, "batch_part", None)
        if build is not None:
            return [build(step, m, self.rows) for m in range(self.accumulate)]
        return [self.source.batch(step, m).part(self.rows) for m in range(self.accumulate)]


def step_feed(source: BatchSource, accumulate: int, start: int, stop: int, workers: int = 0,
              rows: Share = Share()) -> Iterator[list[Batch]]:
    """The micro-batches of steps start..stop-1 (this process's rows of each), in order, built ahead of the
    step that needs them."""
    steps = StepBatches(source, accumulate, rows)
    replays = getattr(source, "replays", False)  # a stream's first step after a resume may take long: no timeout
    if start >= stop:
        return
    if workers > 0:
        loader = torch.utils.data.DataLoader(steps, batch_size=None, sampler=range(start, stop), num_workers=workers,
                                             prefetch_factor=2, timeout=0 if replays else 600)
        yield from loader
        return
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        pending = pool.submit(steps.__getitem__, start)
        for step in range(start, stop):
            micro = pending.result()
            if step + 1 < stop:
                pending = pool.submit(steps.__getitem__, step + 1)
            yield micro
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

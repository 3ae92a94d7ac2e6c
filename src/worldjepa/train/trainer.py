"""The one training loop, for every objective.

An objective is an `nn.Module` with
    trainable() -> nn.Module          what the optimizer updates
    loss(batch, step) -> Losses       the scalar to minimise plus named parts for the log
    after_step(step) -> dict          work after each optimizer step (EMA teacher), values to log
    monitors(batch, step) -> dict     optional: health numbers at log steps, for the collapse doctor
and a batch source is a pure function `batch(step, micro)`. The loop does not know which paper it
trains. Per step: schedules → (micro-batches under autocast → backward) → clip → guard → AdamW step
→ after_step → log (with monitors and the doctor's watch) → atomic checkpoint every N steps. Everything
a step depends on is either in the checkpoint (weights, optimizer moments, guard history) or a function
of the step (data, masks, schedules), so a resumed run repeats the uninterrupted one exactly on CPU.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ..config import OptimConfig, TrainConfig
from ..data.batches import BatchSource
from ..doctor import HealthWatch
from .checkpoint import (flatten_optimizer, load_checkpoint, load_module, module_tensors, read_checkpoint_meta,
                         remove_stale_temporaries, save_checkpoint, unflatten_optimizer)
from .log import RunLog
from .schedule import learning_rate, weight_decay

CHECKPOINT = "checkpoint.safetensors"
SPIKE_WINDOW, SPIKE_MIN_HISTORY = 50, 20


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why and what to change."""


class StepBatches(torch.utils.data.Dataset):
    """Step index → that step's micro-batches (a pure function, so any process can produce any step)."""

    def __init__(self, source: BatchSource, accumulate: int):
        self.source, self.accumulate = source, accumulate

    def __getitem__(self, step: int) -> list:
        return [self.source.batch(step, m) for m in range(self.accumulate)]


def _loader(steps: StepBatches, start: int, stop: int, workers: int) -> torch.utils.data.DataLoader:
    """Worker processes producing steps start..stop-1 in order; a worker that dies raises a clear
    RuntimeError in the training process (PyTorch's watchdog), it does not hang."""
    return torch.utils.data.DataLoader(steps, batch_size=None, sampler=range(start, stop), num_workers=workers,
                                       prefetch_factor=2, timeout=600)


def param_groups(module: nn.Module) -> list[dict[str, Any]]:
    """Weight decay on matrices only: not on biases, norms, mask tokens or modality vectors."""
    decay, plain = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim < 2 or "mask_tokens" in name or "modality" in name:
            plain.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "apply_decay": True}, {"params": plain, "apply_decay": False}]


class Trainer:
    def __init__(self, objective: nn.Module, source: BatchSource, optim: OptimConfig, train: TrainConfig,
                 run_dir: str | Path, config: dict[str, Any] | None = None, progress: bool = True,
                 workers: int = 0):
        self.objective, self.source, self.optim_cfg, self.cfg = objective, source, optim, train
        self.workers = workers
        self.run_dir, self.config, self.progress = Path(run_dir), config or {}, progress
        self.params = [p for p in objective.trainable().parameters() if p.requires_grad]
        # fused: one kernel over all parameters instead of ~10 small ops per tensor (5× faster on CPU)
        fused = all(p.device.type in ("cpu", "cuda") for p in self.params)
        self.optimizer = torch.optim.AdamW(param_groups(objective.trainable()), lr=optim.lr,
                                           betas=optim.betas, weight_decay=0.0, fused=fused)
        self.recent: deque[float] = deque(maxlen=SPIKE_WINDOW)
        self.skipped_steps = 0
        self.skipped_files: set[str] = set()  # unreadable inputs met so far, from any data process
        self.elapsed = 0.0

    # ------------------------------------------------------------------ checkpoints
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT

    def save(self, next_step: int) -> None:
        opt_tensors, opt_meta = flatten_optimizer(self.optimizer.state_dict())
        tensors = {**module_tensors("objective", self.objective), **opt_tensors}
        meta = {"format": 1, "step": next_step, "config": self.config, "optimizer": opt_meta,
                "trainer": {"recent": list(self.recent), "skipped_steps": self.skipped_steps,
                            "elapsed": self.elapsed, "skipped_files": sorted(self.skipped_files)}}
        try:
            save_checkpoint(self.checkpoint_path, tensors, meta)
        except OSError as err:  # disk full, quota, permissions: say so, keep the last good checkpoint
            kept = (f"the last good checkpoint ({self.checkpoint_path}, step {read_checkpoint_meta(self.checkpoint_path)['step']}) "
                    "is kept" if self.checkpoint_path.exists() else "no earlier checkpoint exists")
            raise TrainingError(f"could not write the checkpoint for step {next_step} in {self.run_dir}: "
                                f"{err.strerror or err}; {kept}. Free space (or fix the folder's permissions) and run "
                                "the same command again to resume") from err

    def restore(self) -> int:
        tensors, meta = load_checkpoint(self.checkpoint_path)
        saved_model = meta.get("config", {}).get("model")
        if self.config.get("model") and saved_model and saved_model != self.config["model"]:
            raise TrainingError(
                f"{self.checkpoint_path} was written for a different model ({saved_model}); "
                "use a new --out folder or --no-resume to start over"
            )
        load_module(self.objective, tensors, "objective")
        self.optimizer.load_state_dict(unflatten_optimizer(tensors, meta["optimizer"]))
        state = meta["trainer"]
        self.recent = deque(state["recent"], maxlen=SPIKE_WINDOW)
        self.skipped_steps, self.elapsed = state["skipped_steps"], state["elapsed"]
        self.skipped_files = set(state.get("skipped_files", []))
        return int(meta["step"])

    # ------------------------------------------------------------------ the loop
    def fit(self, resume: bool = True, until: int | None = None) -> dict[str, Any]:
        """Train to `cfg.steps` (or stop after step `until`, checkpointed, as an interruption would)."""
        cfg = self.cfg
        stop = cfg.steps if until is None else min(until, cfg.steps)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.checkpoint_path)  # half-written by a run killed while saving
        start = self.restore() if resume and self.checkpoint_path.exists() else 0
        log = RunLog(self.run_dir, cfg.tensorboard, resume_step=start if start else None)
        autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if cfg.precision == "bf16" else nullcontext())
        if start >= cfg.steps:
            return {"steps": stop, "resumed_from": start, "skipped_steps": self.skipped_steps}
        steps = StepBatches(self.source, cfg.accumulate)
        loader = iter(_loader(steps, start, stop, self.workers)) if self.workers > 0 else None
        pool = ThreadPoolExecutor(max_workers=1)  # without workers: prepare the next step during this one
        pending = pool.submit(steps.__getitem__, start) if loader is None else None
        bar = tqdm(total=cfg.steps, initial=start, disable=not self.progress, unit="step", dynamic_ncols=True)
        window_samples, window_start = 0, time.perf_counter()
        consecutive_skips = 0
        last_record: dict[str, Any] = {}
        watch = HealthWatch(cfg.steps)
        step = start
        try:
            for step in range(start, stop):
                t0 = time.perf_counter()
                if loader is not None:
                    micro = next(loader)
                else:
                    micro = pending.result()
                    if step + 1 < stop:
                        pending = pool.submit(steps.__getitem__, step + 1)
                lr = learning_rate(step, cfg.steps, self.optim_cfg)
                wd = weight_decay(step, cfg.steps, self.optim_cfg)
                for group in self.optimizer.param_groups:
                    group["lr"], group["weight_decay"] = lr, (wd if group["apply_decay"] else 0.0)

                self.optimizer.zero_grad(set_to_none=True)
                loss_value, parts = 0.0, {}
                for batch in micro:
                    with autocast:
                        losses = self.objective.loss(batch, step)
                    (losses.total / cfg.accumulate).backward()
                    loss_value += float(losses.total.detach()) / cfg.accumulate
                    for k, v in losses.parts.items():
                        parts[k] = parts.get(k, 0.0) + v / cfg.accumulate
                max_norm = self.optim_cfg.grad_clip if self.optim_cfg.grad_clip > 0 else math.inf
                grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, max_norm))

                reason = self._reject(loss_value, grad_norm)
                extra: dict[str, float] = {}
                if reason is None:
                    self.optimizer.step()
                    extra = self.objective.after_step(step)
                    self.recent.append(loss_value)
                    consecutive_skips = 0
                else:
                    self.optimizer.zero_grad(set_to_none=True)
                    self.skipped_steps += 1
                    consecutive_skips += 1
                    log.write({"step": step, "skipped": reason, "loss": loss_value, "grad_norm": grad_norm})
                    if consecutive_skips >= cfg.max_skips:
                        raise TrainingError(
                            f"{consecutive_skips} consecutive steps rejected (last: {reason}) at step {step}: "
                            "training has diverged. Lower optim.lr, raise optim.warmup_steps, or use "
                            "train.precision=fp32; the last good checkpoint is kept"
                        )

                for batch in micro:
                    self.skipped_files.update(batch.skipped)
                self.elapsed += time.perf_counter() - t0
                window_samples += sum(b.size for b in micro)
                bar.update(1)
                if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
                    now = time.perf_counter()
                    rate = window_samples / max(now - window_start, 1e-9)
                    window_samples, window_start = 0, now
                    last_record = {"step": step, "loss": loss_value, **parts, "lr": lr, "wd": wd,
                                   "grad_norm": grad_norm, "samples_per_s": rate, "time": self.elapsed, **extra,
                                   **self._monitors(micro[0], step, autocast)}
                    if self.skipped_files:
                        last_record["skipped_files"] = len(self.skipped_files)
                    log.write(last_record)
                    warning = watch.update(last_record)
                    if warning:  # the doctor's verdict as it happens, in the log and on the terminal
                        log.write({"step": step, "warning": warning})
                        (tqdm.write if self.progress else print)(f"worldjepa doctor: {warning}")
                    bar.set_postfix(loss=f"{loss_value:.4f}", samples_s=f"{rate:.1f}")
                if (step + 1) % cfg.checkpoint_every == 0 or step + 1 in (cfg.steps, stop):
                    self.save(step + 1)
        except RuntimeError as err:
            # PyTorch reports a dead worker from its SIGCHLD handler, wherever the main process happens to be
            if "DataLoader worker" not in str(err):
                raise
            raise TrainingError(f"a data-loading worker process died at step {step} ({err}); often out of memory: "
                                "lower data.workers (0 loads in the training process), then run the same command "
                                "again to resume from the last checkpoint") from err
        finally:
            bar.close()
            pool.shutdown(wait=True, cancel_futures=True)
            log.close()
        return {"steps": stop, "resumed_from": start, "skipped_steps": self.skipped_steps,
                "skipped_files": len(self.skipped_files), "final": last_record, "train_seconds": self.elapsed}

    def _monitors(self, batch, step: int, autocast) -> dict[str, float]:
        """The objective's health numbers for this step's first micro-batch (train/monitors.py), if it has any."""
        if not hasattr(self.objective, "monitors"):
            return {}
        # a look, not a step: buffers a forward pass updates in training mode (BatchNorm's running statistics
        # in the compact world model) are put back, so that logging never changes the model
        saved = {name: b.clone() for name, b in self.objective.named_buffers()}
        try:
            with torch.no_grad(), autocast:
                return self.objective.monitors(batch, step)
        finally:
            with torch.no_grad():
                for name, b in self.objective.named_buffers():
                    b.copy_(saved[name])

    def _reject(self, loss: float, grad_norm: float) -> str | None:
        """Why this step must not be applied, or None. Non-finite values, or a loss spike far above
        the recent median (a bad batch or the start of divergence)."""
        if not math.isfinite(loss):
            return "non-finite loss"
        if not math.isfinite(grad_norm):
            return "non-finite gradient"
        if self.cfg.spike_factor > 0 and len(self.recent) >= SPIKE_MIN_HISTORY:
            median = statistics.median(self.recent)
            if loss > self.cfg.spike_factor * median:
                return f"loss spike ({loss:.4g} > {self.cfg.spike_factor:g} × median {median:.4g})"
        return None

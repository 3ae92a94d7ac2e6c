"""The one training loop, for every objective (train/objective.py says what an objective offers).

    fit:   restore ─► for each step: its micro-batches (train/feed.py) ─► step ─► log ─► checkpoint
    step:  schedules ─► micro-batches under autocast ─► backward ─► clip ─► guard (train/guard.py)
           ─► AdamW ─► objective.after_step

The loop does not know which paper it trains. Everything a step depends on is either in the checkpoint
(weights, optimiser moments, the guard's history) or a function of the step (data, masks, schedules), so
a resumed run repeats the uninterrupted one exactly on CPU. Started by torchrun, each process trains its
part of every global batch and DDP (or FSDP2) averages the gradients (worldjepa/distributed.py): the same
run, whatever the number of processes, and a checkpoint any number of processes resumes; rank 0 alone logs
and writes the checkpoint (under FSDP every rank helps gather it, and computes the monitors). Logged steps carry the objective's health
numbers, which the live health watch (train/health.py) turns into a warning when a verdict appears.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.utils.checkpoint
from torch import nn
from tqdm.auto import tqdm

from ..config import OptimConfig, TrainConfig
from ..data.batches import Batch, BatchSource, Share, still_ranks
from ..device import autocast, resolve_device
from ..distributed import barrier, global_batch, join, laid_out_like, mean_over_ranks, reduce_mean, shard, whole
from ..nn.transformer import Block
from .checkpoint import (CHECKPOINT, FORMAT_VERSION, KINDS, flatten_optimizer, load_checkpoint, load_module,
                         module_tensors, read_checkpoint_meta, remove_stale_temporaries, run_kind, save_checkpoint,
                         unflatten_optimizer)
from .feed import step_feed
from .guard import SpikeGuard
from .health import HealthWatch
from .log import RunLog
from .objective import Objective, check_objective
from .schedule import learning_rate, weight_decay

__all__ = ["CHECKPOINT", "StepResult", "Trainer", "TrainingError", "param_groups"]


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why and what to change."""


def param_groups(module: nn.Module) -> list[dict[str, Any]]:
    """Weight decay on matrices only: not on biases, norms, mask tokens or modality vectors. A parameter that
    carries an `lr_scale` attribute learns at that multiple of the learning rate (VL-JEPA's text encoder), in
    groups of its own after the two usual ones."""
    groups: dict[tuple[float, bool], list] = {(1.0, True): [], (1.0, False): []}
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        decay = not (p.ndim < 2 or "mask_tokens" in name or "modality" in name)
        groups.setdefault((float(getattr(p, "lr_scale", 1.0)), decay), []).append(p)
    return [{"params": params, "apply_decay": decay, "lr_scale": scale}
            for (scale, decay), params in groups.items() if params or scale == 1.0]


def recompute_blocks(module: nn.Module) -> None:
    """Activation checkpointing: every transformer block under `module` keeps only its input for backward and
    runs again there (weights and their names unchanged; without gradients, a plain forward)."""
    for block in module.modules():
        if isinstance(block, Block) and "forward" not in vars(block):
            plain = block.forward

            def forward(*args, plain=plain, **kwargs):
                if not torch.is_grad_enabled():
                    return plain(*args, **kwargs)
                return torch.utils.checkpoint.checkpoint(plain, *args, use_reentrant=False, **kwargs)

            block.forward = forward


def compile_blocks(module: nn.Module) -> None:
    """`torch.compile` every transformer block under `module`, in place (weights and names unchanged), with
    dynamic shapes: the masks change a block's token count from step to step."""
    for block in module.modules():
        if isinstance(block, Block):
            block.compile(dynamic=True)


class _Loss(nn.Module):
    """The objective's loss as a forward pass: the form through which DDP synchronises gradients and FSDP
    gathers parameters (its monitors too, under FSDP)."""

    def __init__(self, objective: nn.Module):
        super().__init__()
        self.objective = objective

    def forward(self, batch: Batch, step: int, look: bool = False):
        if look:
            return self.objective.monitors(batch, step)
        losses = self.objective.loss(batch, step)
        return losses.total, losses.parts


@dataclass
class StepResult:
    loss: float  # the mean over micro-batches of the objective's total
    parts: dict[str, float]  # the mean over micro-batches of each named part
    grad_norm: float  # before clipping
    lr: float
    wd: float
    rejected: str | None = None  # why the guard refused to apply the step; None when applied
    extra: dict[str, float] = field(default_factory=dict)  # what after_step returned


class Trainer:
    def __init__(self, objective: Objective, source: BatchSource, optim: OptimConfig, train: TrainConfig,
                 run_dir: str | Path, kind: str, config: dict[str, Any] | None = None, progress: bool = True,
                 workers: int = 0, split_ranks: bool = False):
        check_objective(objective)
        if kind not in KINDS:
            raise ValueError(f"run kind must be one of {KINDS}, got {kind!r}")
        self.ranks, self.device = join(resolve_device(train.device))
        # V-JEPA 2.1's arrangement: the first processes train on stills only, the rest on clips only
        stills_only = still_ranks(self.ranks.world, source.num_videos, source.num_images) if split_ranks else 0
        self.rows = Share(self.ranks.rank, self.ranks.world, stills_only)
        self.objective = objective.to(self.device)
        if train.activation_checkpointing:
            recompute_blocks(self.objective)
        if train.compile:
            compile_blocks(self.objective)
        self.replica: nn.Module = _Loss(self.objective)
        self.sharded = self.ranks.world > 1 and train.parallel == "fsdp"
        if self.sharded:  # the transformer blocks are FSDP's units; AdaLN blocks and the rest gather at the root
            self.replica = shard(self.replica, (Block,), methods=("forward_cached",))
        elif self.ranks.world > 1:
            # unused parameters: the image tokenizer on a clip-only batch, a mask token no mask type uses
            self.replica = nn.parallel.DistributedDataParallel(
                self.replica, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True)
        self.source, self.optim_cfg, self.cfg, self.kind = source, optim, train, kind
        self.workers = workers
        self.run_dir, self.config, self.progress = Path(run_dir), config or {}, progress
        self.params = [p for p in objective.trainable().parameters() if p.requires_grad]
        # fused: one kernel over all parameters instead of ~10 small ops per tensor (5× faster on CPU)
        fused = all(p.device.type in ("cpu", "cuda") for p in self.params)
        self.optimizer = torch.optim.AdamW(param_groups(objective.trainable()), lr=optim.lr,
                                           betas=optim.betas, eps=optim.eps, weight_decay=0.0, fused=fused)
        self.guard = SpikeGuard(train.spike_factor)
        self.stage_starts = set(getattr(objective, "stage_starts", ()))  # train/guard.py: the loss changes meaning
        self.skipped_steps = 0
        self.skipped_files: set[str] = set()  # unreadable inputs met so far, from any data process
        self.elapsed = 0.0

    # ------------------------------------------------------------------ checkpoints
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT

    def save(self, next_step: int) -> None:
        """Rank 0 writes the checkpoint; under FSDP every rank calls this, to gather the shards whole."""
        opt_tensors, opt_meta = flatten_optimizer(self.optimizer.state_dict())
        tensors = whole({**module_tensors("objective", self.objective), **opt_tensors}, keep=self.ranks.main)
        if not self.ranks.main:
            return
        meta = {"format": FORMAT_VERSION, "kind": self.kind, "step": next_step, "config": self.config,
                "optimizer": opt_meta,
                "processes": self.ranks.world,
                "trainer": {"recent": self.guard.state(), "skipped_steps": self.skipped_steps,
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
        kind = run_kind(meta, self.checkpoint_path)
        saved_model = meta.get("config", {}).get("model")
        if kind != self.kind or (self.config.get("model") and saved_model and saved_model != self.config["model"]):
            what = f"a {kind} run" if kind != self.kind else f"a different model ({saved_model})"
            raise TrainingError(f"{self.checkpoint_path} was written for {what}; use a new --out folder or "
                                "--no-resume to start over")
        if "optimizer" not in meta:  # weights without a training state: `worldjepa convert` wrote them
            raise TrainingError(f"{self.checkpoint_path} holds converted weights, not a run to resume: start from them "
                                f"with --init {self.run_dir} and a new --out folder")
        # the checkpoint holds whole tensors, whatever the number of processes that wrote it; under FSDP each
        # rank takes its shard
        own = module_tensors("objective", self.objective)
        load_module(self.objective, {k: laid_out_like(v, own[k]) if k in own else v for k, v in tensors.items()},
                    "objective")
        state = unflatten_optimizer(tensors, meta["optimizer"])
        params = [p for group in self.optimizer.param_groups for p in group["params"]]  # state-dict ids in order
        for pid, entries in state["state"].items():
            for key, value in entries.items():
                if isinstance(value, torch.Tensor) and key != "step" and pid < len(params):
                    entries[key] = laid_out_like(value, params[pid])
        self.optimizer.load_state_dict(state)
        state = meta["trainer"]
        self.guard.load(state["recent"])
        self.skipped_steps, self.elapsed = state["skipped_steps"], state["elapsed"]
        self.skipped_files = set(state.get("skipped_files", []))
        return int(meta["step"])

    # ------------------------------------------------------------------ one step
    def step(self, micro: list[Batch], step: int) -> StepResult:
        """One optimiser step on the micro-batches of `step` (their losses averaged); a step the guard
        rejects leaves every weight and optimiser moment as it was."""
        cfg = self.cfg
        lr = learning_rate(step, cfg.steps, self.optim_cfg)
        wd = weight_decay(step, cfg.steps, self.optim_cfg)
        for group in self.optimizer.param_groups:
            group["lr"], group["weight_decay"] = lr * group.get("lr_scale", 1.0), (wd if group["apply_decay"] else 0.0)
        self.optimizer.zero_grad(set_to_none=True)
        loss, parts = 0.0, {}
        for i, batch in enumerate(micro):
            # several processes: gradients are averaged across them once, after the last micro-batch
            # (FSDP reduce-scatters after every micro-batch: skipping it would keep whole gradients on every rank)
            last = i == len(micro) - 1
            with (contextlib.nullcontext() if last or self.ranks.world == 1 or self.sharded else self.replica.no_sync()):
                with autocast(self.device, cfg.precision), global_batch(self.rows.still_ranks):
                    total, named = self.replica(batch.to(self.device), step)
                (total / len(micro)).backward()
            loss += float(total.detach()) / len(micro)
            for k, v in named.items():
                parts[k] = parts.get(k, 0.0) + v / len(micro)
        if self.ranks.world > 1:  # every rank logs, and its guard judges, the global batch's loss
            if self.rows.still_ranks:  # still and clip processes log different parts: each over those that have it
                loss, = reduce_mean([loss], self.device)
                parts = mean_over_ranks(parts)
            else:
                loss, *values = reduce_mean([loss, *parts.values()], self.device)
                parts = dict(zip(parts, values))
        max_norm = self.optim_cfg.grad_clip if self.optim_cfg.grad_clip > 0 else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, max_norm))
        if step in self.stage_starts:
            self.guard.forget()
        result = StepResult(loss, parts, grad_norm, lr, wd, self.guard.reason(loss, grad_norm))
        if result.rejected is None:
            self.optimizer.step()
            result.extra = self.objective.after_step(step)
            self.guard.accept(loss)
        else:
            self.optimizer.zero_grad(set_to_none=True)
        return result

    # ------------------------------------------------------------------ the loop
    def fit(self, resume: bool = True, until: int | None = None) -> dict[str, Any]:
        """Train to `cfg.steps` (or stop after step `until`, checkpointed, as an interruption would)."""
        cfg = self.cfg
        stop = cfg.steps if until is None else min(until, cfg.steps)
        main = self.ranks.main
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if main:
            remove_stale_temporaries(self.checkpoint_path)  # half-written by a run killed while saving
        barrier()
        start = self.restore() if resume and self.checkpoint_path.exists() else 0
        log = RunLog(self.run_dir, cfg.tensorboard, resume_step=start if start else None) if main else None
        if start >= cfg.steps:
            if log:
                log.close()
            return {"steps": stop, "resumed_from": start, "skipped_steps": self.skipped_steps,
                    "train_seconds": self.elapsed}  # a finished run: the time it took, as when it finished
        feed = step_feed(self.source, cfg.accumulate, start, stop, self.workers, self.rows)
        bar = tqdm(total=cfg.steps, initial=start, disable=not (self.progress and main), unit="step",
                   dynamic_ncols=True)
        window_samples, window_start = 0, time.perf_counter()
        consecutive_skips = 0
        last_record: dict[str, Any] = {}
        watch = HealthWatch(cfg.steps)
        step = start
        try:
            for step in range(start, stop):
                t0 = time.perf_counter()
                micro = next(feed)
                result = self.step(micro, step)
                if result.rejected is None:
                    consecutive_skips = 0
                else:
                    self.skipped_steps += 1
                    consecutive_skips += 1
                    if log:
                        log.write({"step": step, "skipped": result.rejected, "loss": result.loss,
                                   "grad_norm": result.grad_norm})
                    if consecutive_skips >= cfg.max_skips:
                        raise TrainingError(
                            f"{consecutive_skips} consecutive steps rejected (last: {result.rejected}) at step {step}: "
                            "training has diverged. Lower optim.lr, raise optim.warmup_steps, or use "
                            "train.precision=fp32; the last good checkpoint is kept")
                for batch in micro:
                    self.skipped_files.update(batch.skipped)
                self.elapsed += time.perf_counter() - t0
                window_samples += sum(b.size for b in micro) * self.ranks.world
                bar.update(1)
                log_step = (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps
                if log_step and self.sharded and not main:
                    self.monitors(micro[0], step)  # FSDP gathers the parameters with every rank's help
                if log and log_step:
                    now = time.perf_counter()
                    rate = window_samples / max(now - window_start, 1e-9)
                    window_samples, window_start = 0, now
                    last_record = {"step": step, "loss": result.loss, **result.parts, "lr": result.lr,
                                   "wd": result.wd, "grad_norm": result.grad_norm, "samples_per_s": rate,
                                   "time": self.elapsed, **result.extra, **self.monitors(micro[0], step)}
                    if self.skipped_files:
                        last_record["skipped_files"] = len(self.skipped_files)
                    log.write(last_record)
                    warning = watch.update(last_record)
                    if warning:  # the doctor's verdict as it happens, in the log and on the terminal
                        log.write({"step": step, "warning": warning})
                        (tqdm.write if self.progress else print)(f"worldjepa doctor: {warning}")
                    bar.set_postfix(loss=f"{result.loss:.4f}", samples_s=f"{rate:.1f}")
                if (main or self.sharded) and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 in (cfg.steps, stop)):
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
            feed.close()
            if log:
                log.close()
        barrier()  # the checkpoint is written before any rank reports the run finished
        return {"steps": stop, "resumed_from": start, "skipped_steps": self.skipped_steps,
                "skipped_files": len(self.skipped_files), "final": last_record, "train_seconds": self.elapsed}

    def monitors(self, batch: Batch, step: int) -> dict[str, float]:
        """The objective's health numbers (train/monitors.py) for a batch, with the step's precision."""
        # a look, not a step: buffers a forward pass updates in training mode (BatchNorm's running statistics
        # in the compact world model) are put back, so that logging never changes the model
        saved = {name: b.clone() for name, b in self.objective.named_buffers()}
        try:
            with torch.no_grad(), autocast(self.device, self.cfg.precision):
                if self.sharded:
                    return self.replica(batch.to(self.device), step, look=True)
                return self.objective.monitors(batch.to(self.device), step)
        finally:
            with torch.no_grad():
                for name, b in self.objective.named_buffers():
                    b.copy_(saved[name])

"""`worldjepa doctor`: is a run healthy? The verdicts and their thresholds are in train/health.py; this
module finds the numbers they are judged on.

A run's log carries health numbers at every logged step (train/monitors.py). A pretraining run trained
before they were logged is judged from its final checkpoint on the batches of its last steps instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml

from .device import autocast, resolve_device
from .pretrain import build_source, load_objective
from .train.checkpoint import CHECKPOINT
from .train.health import Diagnosis, diagnose, health_records
from .train.log import read_log


def diagnose_run(run_dir: str | Path, device: str | None = None) -> Diagnosis:
    """From the run's log; for a pretraining run whose log has no health numbers (trained before they
    were logged), from its checkpoint on the batches of its last steps."""
    run = Path(run_dir)
    records = read_log(run)
    if not records and not (run / CHECKPOINT).exists():
        raise FileNotFoundError(f"no training log or checkpoint in {run}: is it a run folder?")
    if health_records(records) or not (run / CHECKPOINT).exists():
        if frozen_encoder(run):  # logged before `health/frozen` existed: the config tells
            records = [{**r, "health/frozen": 1.0} for r in records]
        return diagnose(records)
    try:
        records = checkpoint_records(run, device=device)
        d = diagnose(records, window=len(records))
    except ValueError as err:
        raise ValueError(f"{run / 'log.jsonl'} has no health numbers, and they can be computed from the checkpoint "
                         f"of a pretraining run only ({err}); train again to log them") from err
    d.source = "the final checkpoint on its last batches (the log has no health numbers)"
    return d


def frozen_encoder(run: Path) -> bool:
    """A patch-form world model's run: its encoder is frozen, so its latents' spread is not a training fault."""
    path = run / "config.yaml"
    if not path.exists():
        return False
    config = yaml.safe_load(path.read_text()) or {}
    return isinstance(config.get("model"), dict) and config["model"].get("form") == "patch"


def checkpoint_records(run_dir: str | Path, batches: int = 4, device: str | None = None) -> list[dict[str, Any]]:
    """Health numbers of a pretraining run's final weights on the batches of its last `batches` steps."""
    objective, cfg = load_objective(run_dir)
    where = resolve_device(device or cfg.train.device)
    objective.to(where)
    source = build_source(cfg)
    steps = range(max(0, cfg.train.steps - batches), cfg.train.steps)
    if getattr(source, "replays", False):  # a stream would read everything before them again: its first batches
        steps = range(batches)
    with torch.no_grad(), autocast(where, cfg.train.precision):
        return [{"step": s, **objective.monitors(source.batch(s, 0).to(where), s)} for s in steps]

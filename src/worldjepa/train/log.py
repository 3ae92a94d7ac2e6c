"""Run logs: a JSONL file always (one object per logged step), TensorBoard when asked and installed."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any


class RunLog:
    def __init__(self, run_dir: Path, tensorboard: bool = False, resume_step: int | None = None):
        self.path = Path(run_dir) / "log.jsonl"
        if resume_step is not None and self.path.exists():
            # drop entries written after the checkpoint we resume from: they will be redone
            kept = [r for r in _parse(self.path) if r.get("step", -1) < resume_step]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        elif resume_step is None:
            self.path.write_text("")
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(Path(run_dir) / "tensorboard"))
            except ImportError:
                warnings.warn("train.tensorboard=true but tensorboard is not installed: "
                              "pip install 'worldjepa[tensorboard]'; logging to log.jsonl only", stacklevel=2)

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None and "step" in record:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def step_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The regular per-step entries: not skipped steps, not the doctor's warnings."""
    return [r for r in records if "loss" in r and "skipped" not in r and "warning" not in r]


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "log.jsonl"
    return _parse(path) if path.exists() else []


def _parse(path: Path) -> list[dict[str, Any]]:
    """Every whole entry; a line torn by a crash mid-write is dropped (its step is redone on resume)."""
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records

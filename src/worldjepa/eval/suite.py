"""`worldjepa eval`: the evaluation suite of a checkpoint, written as results.json, results.md and plots.

Pretraining runs (`worldjepa pretrain`, the demo) get the frozen-encoder tasks on the built-in world:
depth (dense probe, RMSE), state (positions and velocities, R²), anticipation (Recall@5, mAP) and
surprise (violation of expectation per type). World-model runs (`worldjepa train-wm`) get navigation
(open-loop ATE/RTE) and planning (success rate in MPC). Every task also reports a reference that needs
no learning (raw pixels through the same probe, chance, standing still), so a number can be read
against what it takes to beat.

Each task lives in its topic module (the interface: eval/tasks.py); `TASKS` below lists them all, and
their order is the order of results.md. For a checkpoint: its run kind → `select_tasks` → one
`EvalContext` shared by the tasks → for each, `run(ctx)` into results.json (rewritten after every task)
→ `rows(result)` into results.md.

Frozen features are cached under OUT/features/ (keyed by the checkpoint file's size and time and by
the clips asked for), so probing again (another probe, another sweep) does not encode again.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..device import resolve_device
from ..train.checkpoint import checkpoint_path, read_checkpoint_meta, run_kind
from .anticipation import AnticipationTask
from .dense import DepthTask
from .features import patch_features
from .labels import LabelsTask
from .navigation import NavigationTask
from .planning import PlanningTask
from .state_probe import StateTask
from .surprise import SurpriseTask
from .tasks import Task

if TYPE_CHECKING:
    from ..config import PretrainConfig
    from ..nn.encoder import Encoder

# Every task, in the order of results.md's rows.
TASKS: dict[str, Task] = {task.name: task for task in (
    DepthTask(), StateTask(), AnticipationTask(), SurpriseTask(), LabelsTask(), NavigationTask(), PlanningTask())}

# what makes a run of each kind, for the message that a task needs another kind
RUNS = {"pretrain": "a pretraining run (`worldjepa pretrain` or the demo)",
        "world-model": "a world-model run (`worldjepa train-wm`)"}


@dataclass
class SuiteSize:
    """How many samples each task uses; `SMALL` is for smoke tests."""

    probe_clips: int = 1000  # probe-training clips for depth, state and anticipation
    test_clips: int = 300
    voe_pairs: int = 100  # pairs per violation type
    navigation_episodes: int = 100  # episodes to fit the position read-out; half as many are tested
    planning_episodes: int = 20
    planning: dict = field(default_factory=dict)  # planner overrides (default: the run's own plan section)
    anticipation_horizon: int = 4  # frames ahead in which events count
    attentive_epochs: int = 60  # 0: skip the attentive probes (the linear ones are the cheap reference)


SMALL = SuiteSize(probe_clips=64, test_clips=32, voe_pairs=8, navigation_episodes=12, planning_episodes=2,
                  planning={"samples": 16, "iterations": 2, "elites": 4, "horizon": 2, "budget": 6},
                  attentive_epochs=2)


def select_tasks(kind: str, suite: str | None, labels: bool = False) -> list[str]:
    """The tasks to run: `suite` is "all", a comma-separated list, or None (all of the run's built-in
    tasks, or only the user's labelled clips when a label file is given)."""
    own = [name for name, task in TASKS.items() if task.kind == kind and not task.needs_labels]
    user = [name for name, task in TASKS.items() if task.needs_labels]  # a user's labelled clips: `--labels FILE`
    if labels and any(TASKS[name].kind != kind for name in user):
        raise ValueError("--labels probes a pretrained encoder; this checkpoint is a world-model run")
    if suite is None:
        return user if labels else own
    names = list(own) if suite == "all" else [s.strip() for s in suite.split(",") if s.strip()]
    if labels:
        names += [name for name in user if name not in names]
    if not names:
        raise ValueError(f"--suite {suite!r} names no task: give 'all' or tasks among {', '.join(own)}")
    known = [name for name, task in TASKS.items() if not task.needs_labels] + user
    for name in names:
        if name in user and not labels:
            raise ValueError(f"the {name} task needs a label file: --labels FILE (docs/evaluation.md)")
        if name not in known:
            raise ValueError(f"unknown suite {name!r}: choose 'all' or among {', '.join(known)}")
        if name in user:
            continue
        if name not in own:
            raise ValueError(f"the {name!r} task needs {RUNS[TASKS[name].kind]}; this checkpoint is a {kind} run, "
                             f"whose tasks are {', '.join(own)}")
    return names


class FeatureCache:
    """Arrays computed once per (checkpoint, name, spec) and kept as safetensors under `folder`."""

    def __init__(self, folder: Path, identity: str):
        self.folder, self.identity = folder, identity
        folder.mkdir(parents=True, exist_ok=True)

    def get(self, name: str, spec: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        path = self.folder / f"{name}.safetensors"
        key = f"{self.identity}|{spec}"
        if path.exists():
            try:
                with safe_open(str(path), framework="pt") as f:
                    if (f.metadata() or {}).get("key") == key:
                        return f.get_tensor("x")
            except Exception:  # a damaged cache file is recomputed, not fatal
                pass
        x = compute().contiguous()
        tmp = path.with_suffix(".tmp")
        save_file({"x": x}, str(tmp), metadata={"key": key})
        tmp.replace(path)
        return x


def _identity(checkpoint: Path) -> str:
    st = checkpoint.stat()
    return f"{checkpoint.resolve()}:{st.st_size}:{st.st_mtime_ns}"


@dataclass
class EvalContext:
    """What the tasks of one evaluation share. A pretraining run's encoder (on `model_device`), its config
    and the feature cache are loaded when a task first asks for them; a world-model task loads its model
    itself (with `device`)."""

    checkpoint: Path  # the checkpoint file (train/checkpoint.py's checkpoint_path)
    out: Path  # OUT: results, figures, features/
    size: SuiteSize
    say: Callable[..., Any] = print  # progress lines
    device: str | None = None  # --device as given (None: the run's own train.device)
    labels: str | Path | None = None  # --labels FILE
    _pretrained: tuple[Encoder, PretrainConfig, torch.device] | None = field(default=None, init=False, repr=False)
    _cache: FeatureCache | None = field(default=None, init=False, repr=False)

    def _load(self) -> tuple[Encoder, PretrainConfig, torch.device]:
        if self._pretrained is None:
            from ..pretrain import load_pretrained

            encoder, cfg = load_pretrained(self.checkpoint)
            device = resolve_device(self.device or cfg.train.device)
            self._pretrained = (encoder.to(device), cfg, device)
        return self._pretrained

    @property
    def encoder(self) -> Encoder:
        return self._load()[0]

    @property
    def cfg(self) -> PretrainConfig:
        return self._load()[1]

    @property
    def model_device(self) -> torch.device:
        """Where a pretraining run's models run: --device, else the run's train.device."""
        return self._load()[2]

    @property
    def cache(self) -> FeatureCache:
        if self._cache is None:
            self._cache = FeatureCache(self.out / "features", _identity(self.checkpoint))
        return self._cache

    @property
    def grid(self) -> tuple[int, int]:
        """(patch size, tubelet size) of a pretraining run's tokens."""
        return self.cfg.model.patch_size, self.cfg.model.tubelet_size

    def held_out(self, make: Callable[..., Any], *between: Any) -> tuple[Any, Any]:
        """(train, test) clips of the run's world from `make(world, image_size, clips, frames, *between,
        seed, split)`: size.probe_clips and size.test_clips of them, on seeds that training never uses."""
        d, seed = self.cfg.data, self.cfg.train.seed
        return tuple(make(d.world, d.image_size, n, d.frames, *between, seed, split)
                     for split, n in ((0, self.size.probe_clips), (1, self.size.test_clips)))

    def features(self, name: str, spec: str, frames: np.ndarray) -> torch.Tensor:
        """The encoder's patch features [B, T', H', W', D] of `frames`, from the cache when `name` was
        computed for the same checkpoint and `spec` (which must say which clips `frames` are)."""
        return self.cache.get(name, spec, lambda: patch_features(self.encoder, frames))


def evaluate(checkpoint: str | Path, out: str | Path | None = None, suite: str | None = None,
             size: SuiteSize | None = None, progress: bool = True, labels: str | Path | None = None,
             device: str | None = None) -> dict[str, Any]:
    """Run the suite's tasks for a run folder; write OUT/results.json, OUT/results.md and plots."""
    say = print if progress else (lambda *a, **k: None)
    path = checkpoint_path(checkpoint)
    meta = read_checkpoint_meta(path)
    kind = run_kind(meta, path)
    tasks = select_tasks(kind, suite, labels is not None)
    skipped = {}
    converted = meta["config"].get("source", {}).get("modules")  # a `worldjepa convert` run: what it holds
    if suite in (None, "all") and converted and "predictor" not in converted and "surprise" in tasks:
        tasks.remove("surprise")  # asked by name, it fails saying why
        skipped["surprise"] = "the run holds no predictor (converted from weights released without one it reads)"
    size = size or SuiteSize()
    out = Path(out) if out else (path.parent / "eval")
    out.mkdir(parents=True, exist_ok=True)
    ctx = EvalContext(path, out, size, say, device, labels)
    results: dict[str, Any] = {"checkpoint": str(path), "kind": kind, "size": asdict(size), "tasks": {},
                               "seconds": {}, **({"skipped": skipped} if skipped else {})}
    for name, why in skipped.items():
        say(f"[eval] {name} skipped: {why}")
    for name in tasks:
        say(f"[eval] {name} …")
        start = time.perf_counter()
        results["tasks"][name] = TASKS[name].run(ctx)
        results["seconds"][name] = time.perf_counter() - start
        (out / "results.json").write_text(json.dumps(results, indent=2))  # partial results survive a crash
        say(f"[eval] {name} done in {results['seconds'][name]:.0f} s")
    results["seconds"]["total"] = sum(results["seconds"].values())
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown_table(results))
    say(markdown_table(results))
    return results


def markdown_table(results: dict[str, Any]) -> str:
    """One row per score (task, metric, the model's value, the no-learning reference), tasks in `TASKS`'s order."""
    done = results["tasks"]
    rows = [row for name, task in TASKS.items() if name in done for row in task.rows(done[name])]
    lines = [f"Evaluation of `{results['checkpoint']}` ({results['kind']} run)", "",
             "| task | score | value | reference |", "|---|---|---|---|"]
    lines += [f"| {r.task} | {r.score} | {r.value} | {r.reference} |" for r in rows]
    secs = results["seconds"]
    lines += [f"| {name} | skipped: {why} | | |" for name, why in results.get("skipped", {}).items()]
    lines += ["", "Time: " + ", ".join(f"{k} {v:.0f} s" for k, v in secs.items())]
    return "\n".join(lines) + "\n"

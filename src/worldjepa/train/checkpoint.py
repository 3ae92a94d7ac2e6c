"""Checkpoints: one safetensors file holding every tensor, with JSON metadata in its header.

Model, teacher and optimizer tensors go in the tensor table; the step, trainer state, optimizer
hyper-parameters and run config go in the header's metadata as JSON. One file means one atomic
write: the data goes to a temporary file in the same folder, is flushed to disk, then renamed over the
old checkpoint, so a crash mid-write leaves the previous checkpoint intact. Nothing is unpickled.

A run folder holds `checkpoint.safetensors`; `checkpoint_path(run)` is the one way from a folder (or a
file) to it. The metadata says which kind of run wrote it ("pretrain" or "world-model") and the format
version. Version 1 (before the kind was written) is still read: its kind is told by whether the config
holds episode-store metadata. A checkpoint of a newer version is refused with what to do.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

CHECKPOINT = "checkpoint.safetensors"
FORMAT_VERSION = 2  # 1: no "kind"; 2: "kind" and "format" written by the trainer
KINDS = ("pretrain", "world-model", "vl")
WRITERS = {"pretrain": "`worldjepa pretrain` or `worldjepa demo`", "world-model": "`worldjepa train-wm`",
           "vl": "`worldjepa vl train`"}
LOADERS = {"pretrain": "worldjepa.pretrain.load_pretrained", "world-model": "worldjepa.dynamics.model.load_world_model",
           "vl": "worldjepa.vl.train.load_vl"}


def checkpoint_path(run: str | Path) -> Path:
    """A run folder (or a checkpoint file) → its checkpoint file, which must exist."""
    path = Path(run)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: pass a run folder written by {WRITERS['pretrain']} or "
                                f"{WRITERS['world-model']}, or its {CHECKPOINT}")
    return path


def run_kind(meta: dict[str, Any], where: str | Path = "the checkpoint") -> str:
    """"pretrain" or "world-model", from a checkpoint's metadata (any format version this code reads)."""
    version = meta.get("format", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{where} was written in checkpoint format {version!r}, newer than this worldjepa reads "
                         f"(up to {FORMAT_VERSION}): upgrade worldjepa (pip install -U worldjepa) to load it")
    config = meta.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{where} has no run config in its metadata; was it written by worldjepa?")
    if "kind" in meta:
        if meta["kind"] not in KINDS:
            raise ValueError(f"{where} says it holds a {meta['kind']!r} run; this worldjepa knows {', '.join(KINDS)}")
        return meta["kind"]
    return "world-model" if "store" in config or "plan" in config else "pretrain"  # format 1


def require_kind(meta: dict[str, Any], kind: str, where: str | Path) -> None:
    """A clear error when a checkpoint holds the other kind of run than the caller loads."""
    found = run_kind(meta, where)
    if found != kind:
        raise ValueError(f"{where} holds a {found} run (written by {WRITERS[found]}), not a {kind} run (written by "
                         f"{WRITERS[kind]}); load it with {LOADERS[found]}")


def save_checkpoint(path: str | Path, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    contiguous = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(contiguous, tmp, metadata={"worldjepa": json.dumps(meta)})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(path: str | Path) -> int:
    """Delete the temporary files `save_checkpoint` leaves when the process is killed mid-write."""
    path = Path(path)
    stale = list(path.parent.glob(f".{path.name}.*.tmp")) if path.parent.is_dir() else []
    for f in stale:
        f.unlink(missing_ok=True)
    return len(stale)


def read_checkpoint_meta(path: str | Path) -> dict[str, Any]:
    """The checkpoint's metadata alone, without reading its tensors."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return json.loads((f.metadata() or {}).get("worldjepa", "{}"))
    except (OSError, ValueError, SafetensorError) as err:
        raise ValueError(f"{path} is not a readable worldjepa checkpoint: {err}") from err


def load_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("worldjepa", "{}"))
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, ValueError, SafetensorError) as err:
        raise ValueError(f"{path} is not a readable worldjepa checkpoint: {err}") from err
    return tensors, meta


def flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """torch optimizer state_dict → (tensors named optim/<param>/<key>, JSON-able rest)."""
    tensors, scalars = {}, {}
    for pid, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, Tensor):
                tensors[f"optim/{pid}/{key}"] = value
            else:
                scalars[f"{pid}/{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: dict[str, Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim/"):
            _, pid, key = name.split("/", 2)
            state.setdefault(int(pid), {})[key] = value
    for name, value in meta.get("scalars", {}).items():
        pid, key = name.split("/", 1)
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, Tensor]:
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def load_module(module: torch.nn.Module, tensors: dict[str, Tensor], prefix: str) -> None:
    """Load the `prefix.`-named tensors strictly; a mismatch lists exactly what is missing or unexpected."""
    own = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    result = module.load_state_dict(own, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"checkpoint does not match the model under '{prefix}': "
            f"missing {result.missing_keys[:8]}{'…' if len(result.missing_keys) > 8 else ''}, "
            f"unexpected {result.unexpected_keys[:8]}{'…' if len(result.unexpected_keys) > 8 else ''}"
        )

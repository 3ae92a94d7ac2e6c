"""Checkpoints: one safetensors file holding every tensor, with JSON metadata in its header.

Model, teacher and optimizer tensors go in the tensor table; the step, trainer state, optimizer
hyper-parameters and run config go in the header's metadata as JSON. One file means one atomic
write: the data goes to a temporary file in the same folder, is flushed to disk, then renamed over the
old checkpoint, so a crash mid-write leaves the previous checkpoint intact. Nothing is unpickled.
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

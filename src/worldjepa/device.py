"""Where models run and in what precision: the one place every command asks.

    resolve_device("auto" | "cpu" | "cuda" | "mps") -> torch.device
        "auto" takes the best available: a CUDA GPU, else Apple's MPS, else the CPU. Asking for a device
        this machine does not have is a `DeviceError` that says so in one line.
    autocast(device, "fp32" | "bf16") -> context manager
        bf16 autocast on the device's own backend (matmuls and attention in bfloat16, reductions and
        losses in fp32); fp32 is a no-op. On a CPU with AMX bf16 is 1.3-2.3x faster (docs/benchmarks.md).

Nothing else in the library writes `torch.autocast(...)` or picks a device by itself.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Literal, get_args

import torch

DeviceName = Literal["auto", "cpu", "cuda", "mps"]
Precision = Literal["fp32", "bf16"]
DEVICES: tuple[str, ...] = get_args(DeviceName)
PRECISIONS: tuple[str, ...] = get_args(Precision)


class DeviceError(ValueError):
    """A device this machine cannot give; the message says what is available instead."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available() -> list[str]:
    """The device kinds this machine can run on, best first."""
    return [name for name, ok in (("cuda", torch.cuda.is_available()), ("mps", _mps_available()), ("cpu", True))
            if ok]


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """The torch device for a `train.device` / `--device` value (None and "auto": the best available)."""
    if isinstance(name, torch.device):
        return name
    name = "auto" if name is None else str(name)
    kind = name.split(":", 1)[0]
    if kind == "auto":
        return torch.device(available()[0])
    if kind not in DEVICES:
        raise DeviceError(f"unknown device {name!r}: choose one of {', '.join(DEVICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise DeviceError(f"device {name!r} asked for, but this machine has no usable CUDA GPU (torch "
                          f"{torch.__version__} is {build}); use --device cpu, or auto for the best available "
                          f"({available()[0]} here)")
    if kind == "mps" and not _mps_available():
        raise DeviceError(f"device {name!r} asked for, but Apple's MPS backend is not available here; use "
                          f"--device cpu, or auto for the best available ({available()[0]} here)")
    return torch.device(name)


def autocast(device: torch.device | str, precision: str) -> AbstractContextManager:
    """The precision context of a forward pass on `device`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")

"""What the trainer trains: the `Objective` contract and the `Losses` it returns.

An objective is an `nn.Module` (so that it moves between devices and saves its state) that also offers

    trainable() -> nn.Module                what the optimiser updates (a frozen encoder or an EMA teacher
                                            stays out of it)
    loss(batch, step) -> Losses             the scalar to minimise and named parts for the log
    after_step(step) -> dict[str, float]    work after each optimiser step (the EMA teacher), values to log
    monitors(batch, step) -> dict[str, float]
                                            health numbers at log steps (train/monitors.py), read by the
                                            live health watch and `worldjepa doctor`; {} if it has none

and may list `stage_starts`, the steps at which its loss changes meaning (a new training stage), so that the
step guard does not take the new scale for a spike (train/guard.py).

Every method receives the step, so whatever depends on it (masks, schedules, SIGReg's projections) is a
pure function of the step and a resumed run repeats an uninterrupted one. The trainer knows nothing
else about the method: masked latent prediction (ssl/objective.py) and world-model training
(dynamics/objective.py) are two objectives of the same loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from torch import Tensor, nn

from ..data.batches import Batch


@dataclass
class Losses:
    total: Tensor  # the scalar to back-propagate
    parts: dict[str, float] = field(default_factory=dict)  # named detached components, for the log


@runtime_checkable
class Objective(Protocol):
    def trainable(self) -> nn.Module: ...

    def loss(self, batch: Batch, step: int) -> Losses: ...

    def after_step(self, step: int) -> dict[str, float]: ...

    def monitors(self, batch: Batch, step: int) -> dict[str, float]: ...


def check_objective(objective: object) -> None:
    """A clear TypeError for an object the trainer cannot train (a missing method is named)."""
    missing = [name for name in ("trainable", "loss", "after_step", "monitors") if not callable(getattr(objective, name, None))]
    if missing or not isinstance(objective, nn.Module):
        what = f"lacks {', '.join(missing)}" if missing else "is not an nn.Module"
        raise TypeError(f"{type(objective).__name__} is not a training objective: it {what} "
                        "(see worldjepa.train.objective.Objective)")

"""What an evaluation task is: a name, the run it evaluates, a run that returns JSON-able numbers (and
writes its figure), and the rows those numbers make in results.md.

Each task lives in its topic module, beside the data and the probe it scores (dense.py: depth,
state_probe.py: state, anticipation.py, surprise.py, labels.py, navigation.py, planning.py). eval/suite.py
lists them in its registry `TASKS`, picks the ones a run gets, hands each the same `EvalContext` (the
checkpoint, OUT, the sizes, and for a pretraining run the encoder and the feature cache, loaded on first
use), and writes

    task.run(ctx) → results.json["tasks"][task.name] → task.rows(...) → the lines of results.md.

`rows` reads only the saved result, so results.md can be rebuilt from a results.json alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from .suite import EvalContext

RunKind = Literal["pretrain", "world-model"]  # `run_kind` of the checkpoint (train/checkpoint.py)


@dataclass(frozen=True)
class Row:
    """One line of results.md's table: | task | score | value | reference |."""

    task: str
    score: str  # what is measured, e.g. "position R²"
    value: str  # the model's number(s), formatted
    reference: str  # what needs no learning scores, formatted ("" when there is nothing to compare with)


class Task(Protocol):
    name: str  # the key in results.json and in `--suite`
    kind: RunKind  # the run it evaluates
    needs_labels: bool  # runs only with `--labels FILE` (a user's clips), and then by default

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        """Evaluate ctx.checkpoint; write the task's figure (if any) into ctx.out; return JSON-able numbers."""
        ...

    def rows(self, result: dict[str, Any]) -> list[Row]:
        """The results.md rows of what `run` returned (read back from results.json)."""
        ...


def fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}"

"""Planning, the suite's task for a world model (eval/tasks.py): goals reached by model-predictive control.

The run's world model plans with its own `plan` section (`SuiteSize.planning` overrides on top of it)
towards `SuiteSize.planning_episodes` goals of its world. planning/evaluate.py does the work, as for
`worldjepa plan`, and writes its results.json, a video of the first episodes and a plot into OUT/planning/;
the reference in results.md is the final distance to the goal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .tasks import Row, RunKind, fmt

if TYPE_CHECKING:
    from .suite import EvalContext


class PlanningTask:
    """Success rate of MPC with the world model, and the mean final distance to the goal."""

    name = "planning"
    kind: RunKind = "world-model"
    needs_labels = False

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        from ..planning.evaluate import evaluate_planning

        return evaluate_planning(ctx.checkpoint, ctx.out / "planning", episodes=ctx.size.planning_episodes,
                                 plan_overrides=ctx.size.planning or None, progress=False, device=ctx.device)

    def rows(self, result: dict[str, Any]) -> list[Row]:
        return [Row(self.name, f"success over {result['episodes']} goals", fmt(result["success_rate"], 2),
                    f"final distance {fmt(result['final_distance_mean'])}")]

"""The EMA teacher: a frozen copy of the encoder that tracks it as θ̄ ← m·θ̄ + (1 − m)·θ.

Called after the optimizer step. Momentum is constant (V-JEPA 2/2.1: 0.99925) or rises linearly over
the run (I-JEPA 0.996 → 1, V-JEPA 0.998 → 1). The update is two fused `_foreach` kernels over all
parameters instead of a Python loop of small ops.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def momentum_at(step: int, total_steps: int, start: float, end: float) -> float:
    if total_steps <= 1 or start == end:
        return start
    return start + (end - start) * min(step, total_steps) / total_steps


class EMATeacher(nn.Module):
    def __init__(self, student: nn.Module):
        super().__init__()
        self.module = copy.deepcopy(student).requires_grad_(False).eval()

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    @torch.no_grad()
    def update(self, student: nn.Module, momentum: float) -> None:
        teacher = list(self.module.parameters())
        source = [p.detach() for p in student.parameters()]
        if len(teacher) != len(source):
            raise ValueError("teacher and student have different parameter lists")
        torch._foreach_mul_(teacher, momentum)
        torch._foreach_add_(teacher, source, alpha=1.0 - momentum)

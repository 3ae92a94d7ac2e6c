"""A world model's planner as a controller for any control loop: `act(observation, goal) -> action`.

    agent = Agent.from_run("runs/wm-two-rooms", samples=150)     # plan.* overrides as keywords
    agent.reset()
    while not done:
        action = agent.act(camera_frame, goal_frame, proprio)     # uint8 [S, S, 3] images → one primitive action
        camera_frame, proprio = robot.step(action)

Every `execute` model steps (execute × frameskip primitive actions) it plans again from the newest
observation, warm-started with the rest of its previous plan; in between it returns the queued actions of the
chunk. That is `worldjepa plan`'s loop (planning/mpc.py) for one episode, decision for decision: an Agent
driven by hand makes the episode `run_mpc` makes (tests/test_agent.py). A new goal image drops the warm start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import PlanConfig
from ..dynamics.model import load_world_model
from ..dynamics.protocol import WorldModel
from .mpc import shift
from .solvers import make_solver


class Agent:
    def __init__(self, model: WorldModel, cfg: PlanConfig):
        self.model, self.cfg = model, cfg
        self.solver = make_solver(cfg)
        self.reset()

    @classmethod
    def from_run(cls, run: str | Path, device: str | None = None, **plan_overrides: Any) -> "Agent":
        """The agent of a `train-wm` run (or a converted 2-AC run) with its `plan` section, changed by the
        keyword overrides (`samples=150`, `solver="mppi"`, ...)."""
        model, cfg, _ = load_world_model(run, plan_overrides, device=device)
        return cls(model, cfg.plan)

    def reset(self) -> None:
        """Forget the plan and the goal: call at the start of every episode."""
        self._queue: list[np.ndarray] = []
        self._warm: torch.Tensor | None = None
        self._goal: np.ndarray | None = None
        self._z_goal: torch.Tensor | None = None
        self.calls = 0
        self.last_energy: float | None = None  # the planned energy of the latest plan

    def act(self, observation: np.ndarray, goal: np.ndarray, proprio: np.ndarray | None = None) -> np.ndarray:
        """The next primitive action [A] towards `goal` from `observation` (uint8 [S, S, 3] images)."""
        if self._goal is None or not np.array_equal(goal, self._goal):
            self._goal, self._z_goal = np.array(goal, copy=True), self.model.encode(np.asarray(goal)[None])
            self._queue, self._warm = [], None
        if not self._queue:
            self._plan(observation, proprio)
        return self._queue.pop(0)

    def _plan(self, observation: np.ndarray, proprio: np.ndarray | None) -> None:
        m, cfg = self.model, self.cfg
        proprio0 = None
        if m.proprio_dim:
            if proprio is None:
                raise ValueError(f"this world model reads {m.proprio_dim} proprio values: pass proprio=")
            proprio0 = torch.as_tensor(np.asarray(proprio, np.float32).reshape(1, -1))
        plan = self.solver.solve(m, m.encode(np.asarray(observation)[None]), self._z_goal, init=self._warm,
                                 seed=cfg.seed + self.calls, proprio0=proprio0)
        self.calls += 1
        actions = plan.actions.detach().cpu()
        self._warm = shift(actions, cfg.execute, m.action_low.cpu(), m.action_high.cpu())
        self.last_energy = float(plan.energy[0])
        primitive = actions.shape[-1] // m.frameskip
        self._queue = list(actions[0, :cfg.execute].reshape(cfg.execute * m.frameskip, primitive).numpy()
                           .astype(np.float32))

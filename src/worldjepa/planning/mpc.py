"""Model-predictive control: plan, execute the first chunk(s), observe, plan again.

Many episodes run in lockstep so that one solver call plans for all of them (the solvers are batched
over problems). One model step is `frameskip` primitive environment steps: a planned action chunk of
frameskip·A values is split into frameskip actions. An episode ends when the world says the task is done
(its `progress`: success) or after `budget` primitive steps. A world that cannot judge success for a task (no
settable state, no success signal) runs the whole budget and reports its distance to the goal image.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import PlanConfig
from ..dynamics.protocol import WorldModel
from ..worlds.acting import ActingWorld, Task
from .solvers import Solver


@dataclass
class Episode:
    success: bool | None = False  # None: the world could not judge it
    criteria: dict[str, bool] = field(default_factory=dict)  # the world's other criteria: met at some step
    steps: int = 0  # primitive steps taken
    distances: list[float] = field(default_factory=list)  # task distance after reset and after every step
    energies: list[float] = field(default_factory=list)  # planned energy at every re-plan
    frames: list[np.ndarray] = field(default_factory=list)  # observations, when recorded
    actions: list[np.ndarray] = field(default_factory=list)  # primitive actions executed, when recorded
    proprio: list[np.ndarray] = field(default_factory=list)  # after reset and after every step, when recorded
    states: list[np.ndarray] = field(default_factory=list)  # the world's state, likewise

    @property
    def final_distance(self) -> float:
        return self.distances[-1]


@dataclass
class MPCResult:
    episodes: list[Episode]
    plan_seconds: list[float]  # wall time of each solver call (all active episodes at once)
    plan_batch: list[int]  # how many episodes each call planned for

    @property
    def success_rate(self) -> float | None:
        """The share of episodes that reached their goal; None when no episode could be judged."""
        judged = [e.success for e in self.episodes if e.success is not None]
        return float(np.mean(judged)) if judged else None

    @property
    def success_by(self) -> dict[str, float]:
        """The share of episodes that met each of the world's other criteria at some step."""
        names = sorted({k for e in self.episodes for k in e.criteria})
        return {k: float(np.mean([e.criteria.get(k, False) for e in self.episodes])) for k in names}

    @property
    def seconds_per_plan(self) -> float:
        """Mean solver time per episode per re-plan (a call for b episodes counts as b plans)."""
        return float(sum(self.plan_seconds) / max(1, sum(self.plan_batch)))

    def summary(self) -> dict:
        d = np.array([e.final_distance for e in self.episodes])
        return {"episodes": len(self.episodes), "success_rate": self.success_rate, "success_by": self.success_by,
                "final_distance_mean": float(d.mean()), "final_distance_median": float(np.median(d)),
                "steps_mean": float(np.mean([e.steps for e in self.episodes])),
                "seconds_per_call": float(np.mean(self.plan_seconds)) if self.plan_seconds else 0.0,
                "seconds_per_plan": self.seconds_per_plan,
                "per_episode": [{"success": e.success, "final_distance": e.final_distance, "steps": e.steps}
                                for e in self.episodes]}


def shift(plan: torch.Tensor, executed: int, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Warm start for the next call: drop the executed steps, repeat the centre of the bounds at the end."""
    centre = ((low + high) / 2).expand(plan.shape[0], executed, -1)
    return torch.cat([plan[:, executed:], centre], dim=1)


def run_mpc(worlds: list[ActingWorld], tasks: list[Task], model: WorldModel, solver: Solver, cfg: PlanConfig, frameskip: int,
            record: int = 0, progress: bool = True, seed: int = 0, stop_at_goal: bool = True,
            explore: float = 0.0) -> MPCResult:
    """Run one episode per (world, task) pair to the goal; the first `record` episodes keep their frames,
    actions, proprio and states. For data collection (planning/explore.py): `stop_at_goal=False` runs
    every episode for the whole budget (success is still when the goal was first reached), and
    `explore` adds Gaussian noise of that std to the executed actions (clipped to the action bounds)."""
    if len(worlds) != len(tasks):
        raise ValueError(f"{len(worlds)} worlds for {len(tasks)} tasks")
    B = len(worlds)
    prim_dim = worlds[0].action_space.shape[0]
    if model.action_dim != prim_dim * frameskip:
        raise ValueError(f"the world model plans chunks of {model.action_dim} values but the world's actions have "
                         f"{prim_dim} dimensions × frame-skip {frameskip} = {prim_dim * frameskip}")
    episodes = [Episode() for _ in range(B)]
    obs = []
    space = worlds[0].action_space
    noise_rng = np.random.default_rng([seed, 1])

    def keep(e: Episode, o: np.ndarray, info: dict) -> None:
        e.frames.append(o)
        e.proprio.append(info["proprio"])
        e.states.append(info["state"])

    reached = np.zeros(B, bool)
    for i, (w, t) in enumerate(zip(worlds, tasks)):
        o, info = w.reset(seed=seed + i if t.seed is None else t.seed, options={"state": t.start})
        obs.append(o)
        now = w.progress(t, o)
        episodes[i].distances.append(now.distance)
        episodes[i].success, reached[i] = now.success, bool(now.success)
        episodes[i].criteria = dict(now.criteria)
        if i < record:
            keep(episodes[i], o, info)
    z_goal = model.encode(np.stack([w.goal_image(t) for w, t in zip(worlds, tasks)]))
    active = ~reached if stop_at_goal else np.ones(B, bool)
    warm: torch.Tensor | None = None
    plan_seconds, plan_batch = [], []
    steps, call = 0, 0
    bar = tqdm(total=cfg.budget, disable=not progress, unit="step", desc="plan")
    while steps < cfg.budget and active.any():
        idx = np.flatnonzero(active)
        z0 = model.encode(np.stack([obs[i] for i in idx]))
        proprio0 = None
        if model.proprio_dim:
            proprio0 = torch.as_tensor(np.stack([worlds[i].proprio() for i in idx]), dtype=torch.float32)
        t0 = time.perf_counter()
        plan = solver.solve(model, z0, z_goal[idx], init=None if warm is None else warm[idx], seed=seed + call,
                            proprio0=proprio0)
        plan_seconds.append(time.perf_counter() - t0)
        plan_batch.append(len(idx))
        call += 1
        actions = plan.actions.detach().cpu()
        full = torch.zeros(B, *actions.shape[1:])
        full[idx] = actions
        warm = shift(full, cfg.execute, model.action_low.cpu(), model.action_high.cpu())
        for j, i in enumerate(idx):
            episodes[i].energies.append(float(plan.energy[j]))
        chunk = actions[:, :cfg.execute].reshape(len(idx), cfg.execute * frameskip, prim_dim).numpy()
        if explore > 0:
            chunk = np.clip(chunk + explore * noise_rng.standard_normal(chunk.shape), space.low, space.high)
        for k in range(chunk.shape[1]):
            if steps >= cfg.budget:
                break
            for j, i in enumerate(idx):
                if not active[i]:
                    continue
                w, t, e = worlds[i], tasks[i], episodes[i]
                action = chunk[j, k].astype(np.float32)
                obs[i], _, _, _, info = w.step(action)
                e.steps += 1
                now = w.progress(t, obs[i])
                e.distances.append(now.distance)
                for name, met in now.criteria.items():
                    e.criteria[name] = e.criteria.get(name, False) or met
                if i < record:
                    keep(e, obs[i], info)
                    e.actions.append(action)
                if now.success is None:
                    e.success = None
                elif now.success:
                    e.success = True
                    active[i] = not stop_at_goal
            steps += 1
            bar.update(1)
        rate = MPCResult(episodes, [], []).success_rate
        bar.set_postfix(success="not judged" if rate is None else f"{rate:.2f}")
    bar.close()
    return MPCResult(episodes, plan_seconds, plan_batch)

"""Whose miss is it, the model's or the search's? A plan known to reach the goal, scored beside the solver's.

A task that comes with the actions that lead from its start to its goal (`Task.actions`: the expert path a
world drew it from, or a recorded episode's steps) holds a plan that works. At each task's start the world
model scores that path and the solver's plan, and the world runs both open loop. When the solver finds
plans that the model scores below the path and those plans miss in the world, the model ranks a wrong plan
above a right one, and no better search can fix that. When the path scores below anything the solver found,
the search falls short. The energies of random plans give the scale, and the energy of what the plan really
reached (its last frame encoded) says whether the rollout or the energy itself misleads: a plan the rollout
scores low whose real outcome scores high is the predictor's error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..dynamics.protocol import WorldModel
from ..worlds.acting import ActingWorld, Task
from .solvers import Solver


@dataclass
class PathCheck:
    path_energy: np.ndarray  # [N] the model's energy of each task's known path
    plan_energy: np.ndarray  # [N] the model's energy of the solver's plan (no action cost)
    outcome_energy: np.ndarray  # [N] the energy of the plan's real last frame (encoded) against the goal
    random_energy: np.ndarray  # [N, R] of random plans, for scale
    path_reached: np.ndarray  # [N] bool: the path, run open loop in the world, meets the task's criterion
    plan_reached: np.ndarray  # [N] bool: the solver's plan, likewise
    path_distance: np.ndarray  # [N] the world's task distance after the path
    plan_distance: np.ndarray  # [N] after the solver's plan

    def summary(self) -> dict:
        below = self.plan_energy < self.path_energy
        misses = ~self.plan_reached
        return {
            "tasks": len(self.path_energy),
            "path_reached": float(self.path_reached.mean()), "plan_reached": float(self.plan_reached.mean()),
            "path_distance_median": float(np.median(self.path_distance)),
            "plan_distance_median": float(np.median(self.plan_distance)),
            "path_energy_median": float(np.median(self.path_energy)),
            "plan_energy_median": float(np.median(self.plan_energy)),
            "outcome_energy_median": float(np.median(self.outcome_energy)),
            "random_energy_median": float(np.median(self.random_energy)),
            "best_random_energy_median": float(np.median(self.random_energy.min(1))),
            # the share of tasks where the solver found a plan the model prefers to the working path
            "plan_below_path": float(below.mean()),
            # the same among the tasks whose plan misses: the model's misses (the rest are the search's)
            "misses": int(misses.sum()),
            "misses_below_path": float(below[misses].mean()) if misses.any() else 0.0,
            "path_rank_among_random": float(np.median((self.random_energy < self.path_energy[:, None]).sum(1))),
        }


def _chunks(task: Task, index: int, horizon: int, frameskip: int) -> np.ndarray:
    """The task's path [steps, A] as the model's action chunks [horizon, frameskip · A]."""
    if task.actions is None:
        raise ValueError(f"task {index} comes without the actions that reach its goal (Task.actions): draw tasks "
                         f"from a world that records them (push-t) or take them from recorded episodes")
    steps = len(task.actions)
    if steps != horizon * frameskip:
        raise ValueError(f"task {index}'s path has {steps} steps, and a plan of horizon {horizon} × frame-skip "
                         f"{frameskip} covers {horizon * frameskip}: set plan.horizon={steps // frameskip} "
                         f"(or goals {horizon * frameskip} steps ahead)")
    return np.asarray(task.actions, np.float32).reshape(horizon, -1)


def _run_open_loop(world: ActingWorld, task: Task, actions: np.ndarray, seed: int
                   ) -> tuple[float, bool | None, np.ndarray]:
    """(the task distance, success and the last observation) after `actions` from the task's start."""
    obs, _ = world.reset(seed=seed if task.seed is None else task.seed, options={"state": task.start})
    for a in actions:
        obs = world.step(a)[0]
    now = world.progress(task, obs)
    return now.distance, now.success, obs


def check_paths(model: WorldModel, worlds: list[ActingWorld], tasks: list[Task], solver: Solver, horizon: int,
                random: int = 300, seed: int = 0) -> PathCheck:
    """Score each task's known path and the solver's plan from the task's start (one world per task), run both
    open loop, and score `random` uniform plans for scale."""
    if len(worlds) != len(tasks):
        raise ValueError(f"{len(worlds)} worlds for {len(tasks)} tasks")
    k = model.frameskip
    paths = torch.as_tensor(np.stack([_chunks(t, i, horizon, k) for i, t in enumerate(tasks)]))  # [N, H, kA]
    starts, proprio = [], []
    for i, (w, t) in enumerate(zip(worlds, tasks)):
        starts.append(w.reset(seed=seed + i if t.seed is None else t.seed, options={"state": t.start})[0])
        proprio.append(w.proprio())
    z0 = model.encode(np.stack(starts))
    z_goal = model.encode(np.stack([w.goal_image(t) for w, t in zip(worlds, tasks)]))
    p0 = torch.as_tensor(np.stack(proprio), dtype=torch.float32) if model.proprio_dim else None
    plan = solver.solve(model, z0, z_goal, seed=seed, proprio0=p0).actions.detach().cpu()
    generator = torch.Generator().manual_seed(seed)
    low, high = model.action_low.cpu(), model.action_high.cpu()
    randoms = low + (high - low) * torch.rand(len(tasks), random, horizon, model.action_dim, generator=generator)
    with torch.no_grad():
        energy = lambda actions: model.energy(model.rollout(z0, actions, p0), z_goal).cpu().numpy()  # noqa: E731
        path_energy, plan_energy = energy(paths[:, None])[:, 0], energy(plan[:, None])[:, 0]
        random_energy = energy(randoms)
    prim = worlds[0].action_space.shape[0]
    path_runs = [_run_open_loop(w, t, p.reshape(-1, prim).numpy(), seed + i)
                 for i, (w, t, p) in enumerate(zip(worlds, tasks, paths))]
    plan_runs = [_run_open_loop(w, t, p.reshape(-1, prim).numpy(), seed + i)
                 for i, (w, t, p) in enumerate(zip(worlds, tasks, plan))]
    with torch.no_grad():
        outcome = model.energy(model.encode(np.stack([r[2] for r in plan_runs]))[:, None, None], z_goal)[:, 0]
    return PathCheck(path_energy, plan_energy, outcome.cpu().numpy(), random_energy,
                     np.array([bool(r[1]) for r in path_runs]), np.array([bool(r[1]) for r in plan_runs]),
                     np.array([r[0] for r in path_runs]), np.array([r[0] for r in plan_runs]))

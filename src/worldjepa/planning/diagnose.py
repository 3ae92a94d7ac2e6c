"""Whose miss is it, the model's or the search's? A plan known to reach the goal, scored beside the solver's.

A task that comes with the actions that lead from its start to its goal (`Task.actions`: the expert path a
world drew it from, or a recorded episode's steps) holds a plan that works. From each task's start the world
model scores that path and the solver's first plan (the one `plan`'s MPC would make), and the world runs both
open loop. When the solver's plan scores below the path and misses in the world, the model prefers a plan that
misses to one that reaches: a better search of that model would not help. When the path scores below what the
solver found, the search falls short. The energies of random plans give the scale, and the energy of the frame
the plan really reached, beside that of the rollout's last step, shows how much the rollout promised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..dynamics.protocol import WorldModel
from ..worlds.acting import ActingWorld, Task
from .solvers import Solver, world_model_cost


@dataclass
class PathCheck:
    path_energy: np.ndarray  # [N] the model's energy of each task's known path (the planner's energy)
    plan_energy: np.ndarray  # [N] of the solver's first plan (no action cost)
    plan_last_energy: np.ndarray  # [N] of the plan's last predicted latent alone
    outcome_energy: np.ndarray  # [N] of the frame the plan really reached (encoded), weighed as the line above
    random_energy: np.ndarray  # [N, R] of uniform random plans, for scale
    path_reached: np.ndarray  # [N] bool: the path, run open loop, meets the task's criterion at its last step
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
            "plan_last_energy_median": float(np.median(self.plan_last_energy)),
            "outcome_energy_median": float(np.median(self.outcome_energy)),
            "random_energy_median": float(np.median(self.random_energy)),
            "best_random_energy_median": float(np.median(self.random_energy.min(1))),
            "plan_below_path": float(below.mean()),  # tasks where the model prefers the solver's plan to the path
            "misses": int(misses.sum()),
            # among the plans that miss, the share the model prefers to the reaching path (None: no miss)
            "misses_below_path": float(below[misses].mean()) if misses.any() else None,
            "random_below_path_median": float(np.median((self.random_energy < self.path_energy[:, None]).sum(1))),
        }


def _chunks(task: Task, index: int, horizon: int, frameskip: int) -> np.ndarray:
    """The task's path [steps, A] as the model's action chunks [horizon, frameskip · A]."""
    if task.actions is None:
        raise ValueError(f"task {index} comes without the actions that reach its goal (Task.actions): draw tasks "
                         f"from a world that records them (push-t) or take them from recorded episodes")
    steps = len(task.actions)
    if steps != horizon * frameskip:
        raise ValueError(f"task {index}'s path has {steps} steps, and a plan of horizon {horizon} × frame-skip "
                         f"{frameskip} covers {horizon * frameskip}: take goals {horizon * frameskip} steps ahead"
                         + (f" or set plan.horizon={steps // frameskip}" if steps % frameskip == 0 else ""))
    return np.asarray(task.actions, np.float32).reshape(horizon, -1)


def _run_open_loop(world: ActingWorld, task: Task, actions: np.ndarray, seed: int
                   ) -> tuple[float, bool, np.ndarray]:
    """(the task distance, success and the last observation) after `actions` from the task's start."""
    obs, _ = world.reset(seed=seed if task.seed is None else task.seed, options={"state": task.start})
    for a in actions:
        obs = world.step(a)[0]
    now = world.progress(task, obs)
    if now.success is None:
        raise ValueError(f"{type(world).__name__} cannot judge whether a plan reached this task's goal (no settable "
                         "state and no success signal): the check needs a world that judges success")
    return now.distance, now.success, obs


def check_paths(model: WorldModel, worlds: list[ActingWorld], tasks: list[Task], solver: Solver, horizon: int,
                random: int = 300, seed: int = 0) -> PathCheck:
    """Score each task's known path and the solver's first plan (horizon `horizon`, as the solver plans) from the
    task's start, one world per task and reset as MPC resets it; run both open loop; score `random` uniform
    plans for scale."""
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
    if plan.shape[1] != horizon:
        raise ValueError(f"the solver plans {plan.shape[1]} steps ahead, the paths were cut to {horizon}")
    low, high = model.action_low.cpu(), model.action_high.cpu()
    randoms = low + (high - low) * torch.rand(len(tasks), random, horizon, model.action_dim,
                                              generator=torch.Generator().manual_seed(seed))
    cost = world_model_cost(model, z0, z_goal, p0)
    with torch.no_grad():
        path_energy, random_energy = cost(paths[:, None])[:, 0], cost(randoms)
        rolled = model.rollout(z0, plan[:, None], p0)
        plan_energy, plan_last = model.energy(rolled, z_goal)[:, 0], model.energy(rolled[:, :, -1:], z_goal)[:, 0]
    prim = worlds[0].action_space.shape[0]
    runs = {name: [_run_open_loop(w, t, p.reshape(-1, prim).numpy(), seed + i)
                   for i, (w, t, p) in enumerate(zip(worlds, tasks, actions))]
            for name, actions in (("path", paths), ("plan", plan))}
    with torch.no_grad():  # the reached frame as a one-step "rollout", weighed as the plan's last step
        reached = model.encode(np.stack([r[2] for r in runs["plan"]]))[:, None, None]
        outcome = model.energy(reached, z_goal)[:, 0]
    as_array = lambda x: x.cpu().numpy()  # noqa: E731
    return PathCheck(as_array(path_energy), as_array(plan_energy), as_array(plan_last), as_array(outcome),
                     as_array(random_energy),
                     np.array([r[1] for r in runs["path"]]), np.array([r[1] for r in runs["plan"]]),
                     np.array([r[0] for r in runs["path"]]), np.array([r[0] for r in runs["plan"]]))

"""planning/diagnose.py tells a model's miss from a search's: on two-rooms with the exact model, and with a model
whose dynamics are planted wrong (mirrored in x)."""

import numpy as np
import pytest
import torch

from worldjepa.config import PlanConfig
from worldjepa.dynamics.ensemble import EnsembleWorldModel
from worldjepa.planning.diagnose import check_paths
from worldjepa.planning.mpc import run_mpc
from worldjepa.planning.oracle import ExactTwoRoomsModel
from worldjepa.planning.solvers import make_solver
from worldjepa.worlds.acting import Task
from worldjepa.worlds.two_rooms import TwoRooms

PLAN = PlanConfig(solver="cem", horizon=2, samples=100, iterations=8, elites=10, path_weight=0.0, seed=0)


class MirroredModel(ExactTwoRoomsModel):
    """Believes that every action moves the agent the other way in x."""

    def rollout(self, z0, actions, proprio0=None):
        return super().rollout(z0, actions * torch.tensor([-1.0, 1.0]).repeat(self.frameskip), proprio0)


def _tasks(world: TwoRooms) -> list[Task]:
    """Paths of 10 steps inside the left room; the goal is where each path really ends."""
    tasks = []
    for start, action in [((0.15, 0.2), (0.3, 0.8)), ((0.1, 0.8), (0.5, -0.9)), ((0.3, 0.15), (0.2, 0.9))]:
        world.reset(options={"state": np.array(start)})
        for _ in range(10):
            world.step(np.array(action, np.float32))
        path = np.tile(np.array(action, np.float32), (10, 1))
        tasks.append(Task(np.array(start), world.get_state().copy(), actions=path))
    return tasks


def _check(model_type, ensemble: int = 1):
    worlds = [TwoRooms() for _ in range(3)]
    model = model_type(worlds[0], frameskip=5, path_weight=0.0)
    if ensemble > 1:
        model = EnsembleWorldModel([model] * ensemble)
    return check_paths(model, worlds, _tasks(TwoRooms()), make_solver(PLAN), PLAN.horizon, random=50)


def test_with_the_exact_model_the_solver_reaches_what_the_path_reaches():
    check = _check(ExactTwoRoomsModel)
    assert check.path_reached.all() and check.plan_reached.all()
    assert (check.path_energy < 1e-3).all()  # the exact model scores a path that reaches its goal ≈ 0
    assert check.summary()["misses"] == 0
    assert (check.random_energy > check.path_energy[:, None]).mean() > 0.95


def test_a_wrong_model_prefers_plans_that_miss_to_the_path_that_reaches():
    check = _check(MirroredModel)
    s = check.summary()
    assert check.path_reached.all() and not check.plan_reached.any()
    assert s["misses"] == 3 and s["misses_below_path"] == 1.0  # every miss is the model's
    # the rollout promised the goal; the frame the plan really reached is far from it
    assert (check.plan_energy < 1e-3).all() and (check.outcome_energy > 0.05).all()
    assert (check.path_energy > 0.05).all()  # the mirrored model sends the right path the wrong way


def test_the_first_plan_is_the_one_mpc_makes_and_an_ensemble_of_one_model_scores_as_it():
    check = _check(MirroredModel)
    worlds = [TwoRooms() for _ in range(3)]
    model = MirroredModel(worlds[0], frameskip=5, path_weight=0.0)
    mpc = run_mpc(worlds, _tasks(TwoRooms()), model, make_solver(PLAN), PLAN, frameskip=5, progress=False)
    np.testing.assert_allclose(check.plan_energy, [e.energies[0] for e in mpc.episodes], rtol=1e-5, atol=1e-7)
    twice = _check(MirroredModel, ensemble=2)  # latents [B, 2, L]: the same energies, the same plans
    np.testing.assert_allclose(twice.path_energy, check.path_energy, rtol=1e-5)
    np.testing.assert_allclose(twice.outcome_energy, check.outcome_energy, rtol=1e-5)


def test_a_path_that_does_not_fit_the_horizon_is_a_clear_error():
    world = TwoRooms()
    task = _tasks(world)[0]
    model = ExactTwoRoomsModel(world, frameskip=5)
    with pytest.raises(ValueError, match="has 10 steps.*15 steps ahead or set plan.horizon=2"):
        check_paths(model, [world], [task], make_solver(PLAN), horizon=3)
    with pytest.raises(ValueError, match="without the actions"):
        check_paths(model, [world], [Task(task.start, task.goal)], make_solver(PLAN), horizon=2)

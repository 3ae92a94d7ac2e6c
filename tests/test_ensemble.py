"""Ensembles of world models: the energy formula, and pessimism where members disagree."""

import numpy as np
import pytest
import torch

from worldjepa.config import PlanConfig
from worldjepa.dynamics.ensemble import EnsembleWorldModel
from worldjepa.planning.mpc import run_mpc
from worldjepa.planning.solvers import make_solver
from worldjepa.planning.oracle import ExactTwoRoomsModel
from worldjepa.worlds.two_rooms import Layout, TwoRooms, room

NO_WALL = Layout(door=(-1.0, 2.0))  # the door spans the whole wall: a model that believes it walks through


def test_energy_is_the_members_mean_plus_disagreement_times_their_spread():
    world = TwoRooms()
    exact, ghost = ExactTwoRoomsModel(world, 5), ExactTwoRoomsModel(TwoRooms(layout=NO_WALL), 5)
    ens = EnsembleWorldModel([exact, ghost], disagreement=0.7)
    rng = np.random.default_rng(0)
    tasks = [world.sample_task(rng) for _ in range(3)]
    obs = np.stack([world.render_state(t.start) for t in tasks])
    goals = np.stack([world.render_state(t.goal) for t in tasks])
    actions = torch.rand(3, 16, 4, 10, generator=torch.Generator().manual_seed(1)) * 2 - 1
    z0, zg = ens.encode(obs), ens.encode(goals)
    assert z0.shape == (3, 2, 2)
    e1 = exact.energy(exact.rollout(exact.encode(obs), actions), exact.encode(goals))
    e2 = ghost.energy(ghost.rollout(ghost.encode(obs), actions), ghost.encode(goals))
    assert (e1 - e2).abs().max() > 0.01  # the members disagree on some sequences (those into the wall)
    expected = (e1 + e2) / 2 + 0.7 * (e1 - e2).abs() / np.sqrt(2)  # sample std of two numbers
    torch.testing.assert_close(ens.energy(ens.rollout(z0, actions), zg), expected)
    assert torch.allclose(EnsembleWorldModel([exact, ghost]).energy(ens.rollout(z0, actions), zg), (e1 + e2) / 2)


def test_an_ensemble_plans_past_one_members_optimism():
    """A member that believes there is no wall plans straight into it; with an exact member beside it and
    a weight on their disagreement, every goal in the other room is reached (here the mean alone does too)."""
    worlds = [TwoRooms() for _ in range(10)]
    rng = np.random.default_rng(3)
    tasks = [worlds[0].sample_task(rng) for _ in worlds]
    assert all(room(t.start) != room(t.goal) for t in tasks)
    cfg = PlanConfig(solver="cem", horizon=5, samples=150, iterations=12, elites=15, noise_correlation=0.8,
                     budget=50, seed=0)
    ghost = ExactTwoRoomsModel(TwoRooms(layout=NO_WALL), 5)
    alone = run_mpc(worlds, tasks, ghost, make_solver(cfg), cfg, frameskip=5, progress=False)
    ens = EnsembleWorldModel([ExactTwoRoomsModel(worlds[0], 5), ghost], disagreement=1.0)
    together = run_mpc(worlds, tasks, ens, make_solver(cfg), cfg, frameskip=5, progress=False)
    assert alone.success_rate <= 0.6, alone.success_rate
    assert together.success_rate == 1.0, [e.final_distance for e in together.episodes]


def test_members_of_another_action_space_are_refused():
    with pytest.raises(ValueError, match="frame-skip"):
        EnsembleWorldModel([ExactTwoRoomsModel(TwoRooms(), 5), ExactTwoRoomsModel(TwoRooms(), 3)])
    with pytest.raises(ValueError, match="at least two"):
        EnsembleWorldModel([ExactTwoRoomsModel(TwoRooms(), 5)])

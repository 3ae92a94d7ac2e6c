"""MPC with an exact model of two-rooms reaches goals in the other room."""

import numpy as np

from analytic import AnalyticTwoRooms
from worldjepa.config import PlanConfig
from worldjepa.planning.mpc import run_mpc
from worldjepa.planning.solvers import make_solver
from worldjepa.worlds.two_rooms import TwoRooms, room


def test_mpc_reaches_goals_through_the_door_with_an_exact_model():
    worlds = [TwoRooms() for _ in range(12)]
    rng = np.random.default_rng(5)
    tasks = [worlds[0].sample_task(rng) for _ in worlds]
    assert all(room(t.start) != room(t.goal) for t in tasks)
    model = AnalyticTwoRooms(worlds[0], frameskip=5)
    cfg = PlanConfig(solver="cem", horizon=5, samples=150, iterations=12, elites=15, noise_correlation=0.8,
                     budget=50, seed=0)
    result = run_mpc(worlds, tasks, model, make_solver(cfg), cfg, frameskip=5, record=1, progress=False)
    assert result.success_rate == 1.0, [e.final_distance for e in result.episodes]
    for e in result.episodes:
        assert e.distances[-1] < worlds[0].success_radius and e.steps <= 50
    assert len(result.episodes[0].frames) == result.episodes[0].steps + 1  # recorded: start + every step


def test_mpc_checks_the_action_chunk_size():
    world = TwoRooms()
    model = AnalyticTwoRooms(world, frameskip=5)
    cfg = PlanConfig(horizon=2, samples=4, iterations=1, elites=2)
    try:
        run_mpc([world], [world.sample_task(np.random.default_rng(0))], model, make_solver(cfg), cfg, frameskip=3,
                progress=False)
    except ValueError as err:
        assert "chunks of 10 values" in str(err) and "frame-skip 3" in str(err)
    else:
        raise AssertionError("a frame-skip mismatch must be an error")

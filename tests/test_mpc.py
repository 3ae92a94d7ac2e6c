"""MPC with an exact model of two-rooms reaches goals in the other room."""

import numpy as np

from worldjepa.planning.oracle import ExactTwoRoomsModel
from worldjepa.config import PlanConfig
from worldjepa.planning.mpc import run_mpc
from worldjepa.planning.solvers import make_solver
from worldjepa.worlds.two_rooms import TwoRooms, room


def test_mpc_reaches_goals_through_the_door_with_an_exact_model():
    worlds = [TwoRooms() for _ in range(12)]
    rng = np.random.default_rng(5)
    tasks = [worlds[0].sample_task(rng) for _ in worlds]
    assert all(room(t.start) != room(t.goal) for t in tasks)
    model = ExactTwoRoomsModel(worlds[0], frameskip=5)
    cfg = PlanConfig(solver="cem", horizon=5, samples=150, iterations=12, elites=15, noise_correlation=0.8,
                     budget=50, seed=0)
    result = run_mpc(worlds, tasks, model, make_solver(cfg), cfg, frameskip=5, record=1, progress=False)
    assert result.success_rate == 1.0, [e.final_distance for e in result.episodes]
    for e in result.episodes:
        assert e.distances[-1] < worlds[0].success_radius and e.steps <= 50
    assert len(result.episodes[0].frames) == result.episodes[0].steps + 1  # recorded: start + every step


def test_mpc_checks_the_action_chunk_size():
    world = TwoRooms()
    model = ExactTwoRoomsModel(world, frameskip=5)
    cfg = PlanConfig(horizon=2, samples=4, iterations=1, elites=2)
    try:
        run_mpc([world], [world.sample_task(np.random.default_rng(0))], model, make_solver(cfg), cfg, frameskip=3,
                progress=False)
    except ValueError as err:
        assert "chunks of 10 values" in str(err) and "frame-skip 3" in str(err)
    else:
        raise AssertionError("a frame-skip mismatch must be an error")


def test_collection_mode_runs_the_whole_budget_and_records_a_replayable_episode():
    """stop_at_goal=False keeps every episode going for the whole budget (success still marks the goal
    reached); the recorded actions, replayed from the start state in a fresh world, give back exactly the
    recorded states and frames; exploration noise changes the actions but keeps them in bounds."""
    worlds = [TwoRooms() for _ in range(4)]
    rng = np.random.default_rng(7)
    tasks = [worlds[0].sample_task(rng) for _ in worlds]
    model = ExactTwoRoomsModel(worlds[0], frameskip=5)
    cfg = PlanConfig(solver="cem", horizon=5, samples=150, iterations=12, elites=15, noise_correlation=0.8,
                     budget=40, seed=0)
    quiet = run_mpc(worlds, tasks, model, make_solver(cfg), cfg, frameskip=5, record=4, progress=False,
                    stop_at_goal=False)
    noisy = run_mpc(worlds, tasks, model, make_solver(cfg), cfg, frameskip=5, record=4, progress=False,
                    stop_at_goal=False, explore=0.3)
    assert any(e.success for e in quiet.episodes)
    for e, n, t in zip(quiet.episodes, noisy.episodes, tasks):
        assert e.steps == 40 and len(e.actions) == 40 and len(e.states) == len(e.frames) == len(e.proprio) == 41
        assert e.success == (min(e.distances) < worlds[0].success_radius)
        replay = TwoRooms()
        replay.reset(options={"state": t.start})
        np.testing.assert_allclose(e.states[0], t.start)
        for k, a in enumerate(e.actions):
            frame, *_ = replay.step(a)
            np.testing.assert_allclose(replay.get_state(), e.states[k + 1], atol=1e-12)
            np.testing.assert_array_equal(frame, e.frames[k + 1])
        noisy_actions = np.stack(n.actions)
        assert np.abs(noisy_actions).max() <= 1.0 and not np.allclose(noisy_actions, np.stack(e.actions))

"""Worlds with actions: two-rooms dynamics and pictures, push physics, the Gymnasium adapter."""

import math

import gymnasium as gym
import numpy as np
import pytest

from worldjepa.planning.oracle import ExactTwoRoomsModel
from worldjepa.worlds import make_world
from worldjepa.worlds.push import Push, angle_error
from worldjepa.worlds.two_rooms import Layout, TwoRooms, blocked, move, room


def test_two_rooms_wall_blocks_and_door_lets_through():
    lay = Layout()
    # straight right from the left room at door height crosses; far from the door it stops at the wall
    p = np.array([[0.3, 0.5], [0.3, 0.15]])
    for _ in range(10):
        p = move(p, np.array([[1.0, 0.0], [1.0, 0.0]]), lay)
    assert room(p[0]) == 1 and p[0, 0] > 0.6
    assert room(p[1]) == 0 and p[1, 0] == pytest.approx(lay.wall_x - lay.wall_half - lay.radius, abs=lay.max_step / 4)
    assert not blocked(p, lay).any()


def test_two_rooms_slides_along_the_wall_and_stays_inside():
    lay = Layout()
    p = np.array([lay.wall_x - lay.wall_half - lay.radius - 0.001, 0.2])
    q = move(p, np.array([1.0, 1.0]), lay)  # into the wall and down: keeps the downward part
    assert q[0] < lay.wall_x and q[1] == pytest.approx(0.2 + lay.max_step)
    corner = move(np.array([0.05, 0.05]), np.array([-1.0, -1.0]), lay)
    np.testing.assert_allclose(corner, [lay.radius, lay.radius])


def test_two_rooms_moves_by_the_formula_in_open_space():
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (100, 2))
    p = np.column_stack([rng.uniform(0.15, 0.35, 100), rng.uniform(0.15, 0.85, 100)])
    np.testing.assert_allclose(move(p, a), p + a * Layout().max_step, atol=1e-12)
    np.testing.assert_allclose(move(p, 5 * a.clip(-0.2, 0.2)), move(p, a.clip(-0.2, 0.2) * 5))  # clipped to [-1, 1]


def test_two_rooms_picture_shows_the_state_and_tasks_cross_the_wall():
    w = TwoRooms()
    model = ExactTwoRoomsModel(w, 1)
    rng = np.random.default_rng(1)
    states = np.stack([w.sample_free(rng, int(rng.integers(2))) for _ in range(20)])
    decoded = model.encode(np.stack([w.render_state(s) for s in states])).numpy()
    np.testing.assert_allclose(decoded, states, atol=2e-3)  # the picture holds sub-pixel position
    for _ in range(20):
        t = w.sample_task(rng)
        assert room(t.start) != room(t.goal) and not blocked(t.start, w.layout) and not blocked(t.goal, w.layout)


def test_two_rooms_gymnasium_api_is_deterministic():
    w1, w2 = TwoRooms(), TwoRooms()
    o1, i1 = w1.reset(seed=3)
    o2, i2 = w2.reset(seed=3)
    np.testing.assert_array_equal(o1, o2)
    assert w1.observation_space.contains(o1)
    o, r, term, trunc, info = w1.step(np.array([0.5, -0.5], np.float32))
    np.testing.assert_allclose(info["state"], move(i1["state"], [0.5, -0.5]))
    np.testing.assert_allclose(info["proprio"], info["state"])
    o, _ = w1.reset(options={"state": [0.2, 0.3]})
    np.testing.assert_allclose(w1.get_state(), [0.2, 0.3])


def test_wrong_action_dimension_is_a_clear_error():
    w = TwoRooms()
    w.reset(seed=0)
    with pytest.raises(ValueError, match=r"expects an action of shape \(2,\)"):
        w.step(np.zeros(3))


def test_expert_reaches_goals_in_two_rooms():
    w = TwoRooms()
    rng = np.random.default_rng(2)
    for _ in range(10):
        t = w.sample_task(rng)
        _, info = w.reset(options={"state": t.start})
        policy = w.expert(rng, noise=0.0)
        for _ in range(w.max_episode_steps):
            _, _, _, _, info = w.step(policy(info["state"], t.goal))
            if w.reached(info["state"], t.goal):
                break
        assert w.reached(info["state"], t.goal)


def test_push_block_moves_only_by_contact():
    w = Push()
    start = np.array([0.2, 0.5, 0.5, 0.5, 0.0])
    w.reset(options={"state": start})
    for _ in range(3):  # pusher moves up, away from the block: the block stays
        _, _, _, _, info = w.step(np.array([0.0, -1.0]))
    np.testing.assert_allclose(info["state"][2:], start[2:], atol=1e-9)
    w.reset(options={"state": start})
    for _ in range(10):  # pusher drives right into the block's end: the block moves right
        _, _, _, _, info = w.step(np.array([1.0, 0.0]))
    assert info["state"][2] > 0.55 and abs(info["state"][3] - 0.5) < 0.02
    w.reset(options={"state": [0.3, 0.6, 0.5, 0.5, math.pi / 2]})
    for _ in range(10):  # off-centre push on the long side turns the block
        _, _, _, _, info = w.step(np.array([1.0, 0.0]))
    assert angle_error(info["state"][4], math.pi / 2) > 0.1


def test_push_block_pinned_against_a_wall_stays_in_the_arena():
    """Driving the pusher on into a block already against the wall must not squeeze the block
    through it (a kinematic pusher does: pymunk's overlap correction then throws the block)."""
    w = Push()
    w.reset(options={"state": np.array([0.6, 0.5, 0.8, 0.5, 0.0])})
    previous = w.get_state()
    for t in range(60):
        _, _, _, _, info = w.step(np.array([1.0, 0.5 * math.sin(t)]))
        state = info["state"]
        assert np.linalg.norm(state[2:4] - previous[2:4]) < 0.05  # no jump
        previous = state
    half = w.block_size[0] / 2
    assert 0.75 < state[2] < 1.0 - half + 1e-3  # held by the wall: pushed there, not through it
    assert state[0] < state[2] - half  # and the pusher stays on its side of the block


def test_push_tasks_are_reachable_pushes_and_leave_the_world_alone():
    w = Push()
    w.reset(options={"state": np.array([0.2, 0.2, 0.5, 0.5, 0.0])})
    before = w.get_state()
    rng = np.random.default_rng(3)
    tasks = [w.sample_task(rng) for _ in range(10)]
    np.testing.assert_array_equal(w.get_state(), before)
    for t in tasks:  # the block moves by more than twice the success radius, within 25 steps' reach
        assert 2 * w.success_radius < w.distance(t.start, t.goal) <= w.goal_offset * w.max_speed * w.dt
        assert np.all((t.goal[:4] > 0) & (t.goal[:4] < 1))


def test_push_is_deterministic_and_goal_pictures_differ():
    rng = np.random.default_rng(0)
    w = Push()
    t = w.sample_task(rng)
    a = np.random.default_rng(1).uniform(-1, 1, (20, 2))
    finals = []
    for _ in range(2):
        w.reset(options={"state": t.start})
        for x in a:
            w.step(x)
        finals.append(w.get_state())
    np.testing.assert_array_equal(finals[0], finals[1])
    assert np.abs(w.render_state(t.start).astype(int) - w.render_state(t.goal)).sum() > 0
    assert angle_error(0.1, 0.1 + math.pi) == pytest.approx(0.0, abs=1e-12)
    assert w.reached(t.goal, t.goal) and not w.reached(t.start, t.goal)


def test_gym_adapter_pendulum_pixels_state_and_goals():
    w = make_world("gym:Pendulum-v1", image_size=48)
    rng = np.random.default_rng(0)
    task = w.sample_task(rng)
    obs, info = w.reset(options={"state": task.start})
    assert obs.shape == (48, 48, 3) and obs.dtype == np.uint8
    np.testing.assert_allclose(info["state"], task.start)
    assert info["proprio"].shape == (3,)  # cos θ, sin θ, θ̇ from the observation vector
    goal_picture = w.render_state(task.goal)
    np.testing.assert_allclose(w.get_state(), task.start)  # rendering a goal leaves the world as it was
    assert np.abs(goal_picture.astype(int) - obs).sum() > 0
    _, _, _, _, info = w.step(np.array([1.0], np.float32))  # [-1, 1] maps to the env's [-2, 2] torque
    assert w.env.unwrapped.last_u == pytest.approx(2.0)


def test_gym_adapter_rejects_what_it_cannot_use():
    with pytest.raises(ValueError, match="needs a 1-D Box"):
        make_world("gym:CartPole-v1")
    from worldjepa.worlds.gym_adapter import GymPixels

    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        GymPixels(gym.make("Pendulum-v1"))  # made without rgb rendering
    with pytest.raises(ValueError, match="unknown world 'two-room'; did you mean 'two-rooms'"):
        make_world("two-room")

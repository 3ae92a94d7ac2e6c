"""The `reacher` world (worlds/reacher.py: Gymnasium's MuJoCo Reacher-v5 as DINO-WM's reach task) against the
simulator itself: its fingertip distance is the environment's own, its goal pose puts MuJoCo's fingertip on
the target, its expert reaches; and MuJoCo's renderer closes cleanly when the program ends."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("mujoco")

from worldjepa.worlds import make_world  # noqa: E402
from worldjepa.worlds.reacher import arm_on, fingertip  # noqa: E402


@pytest.fixture(scope="module")
def world():
    return make_world("reacher", image_size=32)


def test_the_task_distance_is_the_environments_own_and_the_goal_pose_touches_the_target(world):
    rng = np.random.default_rng(0)
    for _ in range(5):
        task = world.sample_task(rng)
        world.reset(seed=1, options={"state": task.start})
        sim = world.env.unwrapped
        tip, target = sim.get_body_com("fingertip")[:2], sim.get_body_com("target")[:2]
        assert np.allclose(fingertip(task.start), tip, atol=1e-9)
        assert world.distance(task.start, task.goal) == pytest.approx(np.linalg.norm(tip - target), abs=1e-9)
        world.reset(seed=1, options={"state": task.goal})  # the goal pose, in the simulator
        assert np.linalg.norm(sim.get_body_com("fingertip")[:2] - sim.get_body_com("target")[:2]) < 1e-9
        assert np.array_equal(task.goal[2:4], task.start[2:4]) and not task.goal[4:].any()  # same target, at rest
    for elbow in (-1.0, 1.0):  # both branches of the inverse kinematics, all over the reachable disk
        for point in np.random.default_rng(1).uniform(-0.2, 0.2, (50, 2)):
            if 0.015 < np.linalg.norm(point) <= 0.2:  # the disk the targets are drawn in
                assert np.allclose(fingertip(np.r_[arm_on(point, elbow), point]), point, atol=1e-9)


def test_the_expert_reaches_and_a_random_policy_rarely_does(world):
    rng = np.random.default_rng(2)
    reached = {"expert": 0, "random": 0}
    for k in range(8):
        task = world.sample_task(rng)
        for who in reached:
            _, info = world.reset(seed=k, options={"state": task.start})
            policy = world.expert(rng) if who == "expert" else (lambda s, g: rng.uniform(-1, 1, 2))
            for _ in range(50):
                _, _, _, _, info = world.step(policy(info["state"], task.goal))
                if world.reached(info["state"], task.goal):
                    reached[who] += 1
                    break
    assert reached["expert"] == 8 and reached["random"] <= 2


def test_mujoco_rendering_ends_without_a_traceback():
    code = ("from worldjepa.worlds import make_world; w = make_world('reacher', image_size=32); w.reset(seed=0); "
            "w.render(); w.render_state(w.get_state()); print('rendered')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "rendered" in done.stdout
    assert "Traceback" not in done.stderr and "EGLError" not in done.stderr, done.stderr[-2000:]

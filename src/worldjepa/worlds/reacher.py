"""Reacher-v5 (Gymnasium MuJoCo) as DINO-WM's reach task: the goal is an image of the arm with its fingertip on
the target, success is the fingertip within 0.02 of the target (the environment's own distance).

The arm has two links, 0.1 and 0.11 long, from the origin; the target is drawn by the environment's reset
within 0.2 of it (Gymnasium's reacher.xml). State = [qpos (two joint angles, target x, y), qvel (4)], as the
adapter reads MuJoCo. A task keeps the reset's start and target and takes as goal state the arm posed on the
target (two-link inverse kinematics, elbow up or down at random, at rest), whose rendering is the goal image.
Proprioception is the arm's own: its joint angles (cos, sin) and velocities, which a single frame cannot show.
The camera looks straight down on the arena; frames are rendered at 3× and downsampled, so the thin links
stay visible at 64 px. The scripted expert is a PD controller on the joint angles towards that pose.
"""

from __future__ import annotations

import numpy as np

from .acting import Policy, Task
from .gym_adapter import GymPixels

LINKS = (0.1, 0.11)  # the two links' lengths (the fingertip sits 0.11 along the second)
TOP_DOWN = {"distance": 0.62, "elevation": -90.0, "azimuth": 90.0, "lookat": np.zeros(3)}


def fingertip(state: np.ndarray) -> np.ndarray:
    """The fingertip's (x, y) for joint angles state[0:2] (forward kinematics)."""
    a, b = state[0], state[0] + state[1]
    return np.array([LINKS[0] * np.cos(a) + LINKS[1] * np.cos(b), LINKS[0] * np.sin(a) + LINKS[1] * np.sin(b)])


def arm_on(target: np.ndarray, elbow: float = 1.0) -> np.ndarray:
    """Joint angles that put the fingertip on `target` (a point within reach); `elbow` ±1 picks the branch."""
    l1, l2 = LINKS
    r2 = float(np.clip(target @ target, (l2 - l1) ** 2, (l1 + l2) ** 2))
    cos_b = np.clip((r2 - l1 ** 2 - l2 ** 2) / (2 * l1 * l2), -1.0, 1.0)
    b = elbow * np.arccos(cos_b)
    a = np.arctan2(target[1], target[0]) - np.arctan2(l2 * np.sin(b), l1 + l2 * np.cos(b))
    return np.array([a, b])


def wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


class Reacher(GymPixels):
    success_radius = 0.02

    proprio_dim = 6

    def __init__(self, image_size: int = 64, max_episode_steps: int = 50):
        super().__init__("Reacher-v5", image_size, max_episode_steps, width=3 * image_size, height=3 * image_size,
                         default_camera_config=TOP_DOWN)
        self.success_radius = Reacher.success_radius  # the adapter's default radius is for raw states
        self.proprio_dim = Reacher.proprio_dim

    def proprio(self) -> np.ndarray:
        """What the arm senses of itself: cos and sin of its joint angles and their velocities (the torque-driven
        arm's velocity is not in a single frame). Not the observation's target and fingertip-to-target vector:
        the goal is known only as an image."""
        q, qdot = self._sim().data.qpos[:2], self._sim().data.qvel[:2]
        return np.concatenate([np.cos(q), np.sin(q), qdot]).astype(np.float32)

    def distance(self, state, goal) -> float:
        """The fingertip's distance to the target (the environment's `reward_dist`, negated)."""
        state = np.asarray(state)
        return float(np.linalg.norm(fingertip(state) - state[2:4]))

    def sample_task(self, rng) -> Task:
        self.env.reset(seed=int(rng.integers(2**31)))
        start = self._read_state()
        goal = start.copy()
        goal[:2] = arm_on(start[2:4], elbow=float(rng.choice([-1.0, 1.0])))
        goal[4:] = 0.0
        return Task(start, goal)

    def expert(self, rng, noise: float = 0.0) -> Policy:
        """PD control of the joint angles towards the goal pose (torques clipped to [-1, 1]), with noise."""

        def policy(state, goal):
            state, goal = np.asarray(state), np.asarray(goal)
            torque = 2.0 * wrap(goal[:2] - state[:2]) - 0.1 * state[4:6]
            return np.clip(torque + noise * rng.standard_normal(2), -1.0, 1.0).astype(np.float32)

        return policy

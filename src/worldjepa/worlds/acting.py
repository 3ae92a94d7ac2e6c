"""What every world with actions offers: the Gymnasium API with pixel observations, plus goals.

A world is a `gymnasium.Env` whose observation is an RGB image `uint8 [H, W, 3]` and whose action space
is a `Box`. Beyond Gymnasium it can start from and render a given state, which is how goals are made
(a goal image is the rendering of a goal state), and it knows what reaching a goal means:

    reset(seed=..., options={"state": s})   start from state s (else a random start)
    render_state(s) -> image                a picture of state s, without changing the world
    sample_task(rng) -> Task                a start state and a goal state
    distance(state, goal) -> float          task distance
    reached(state, goal) -> bool            success (by default: distance below `success_radius`)
    criteria(state, goal) -> {name: bool}   other success criteria reported beside it (default: none)
    expert(rng, noise) -> Policy            a scripted expert for offline data (noisy if noise > 0)

A task may also give its goal as an observation (`goal_image`: a frame of a recorded episode, the field's
protocol) and its start as a reset seed (`seed`, for worlds whose state cannot be set). How far an episode is
from its goal and whether it got there are the world's to say (`progress`): by states where it has them, by
its own success signal, or, where it has neither, by the pixels of the goal image with success not judged.

`info` after reset and step holds "state" (what `reset(options=...)` accepts) and "proprio" (the
vector an agent senses of itself, possibly empty).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import gymnasium as gym
import numpy as np

Policy = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (state, goal state) → action


@dataclass
class Task:
    start: np.ndarray | None  # the state to start from (None: the reset of `seed`)
    goal: np.ndarray | None  # the goal state (None: the goal is known as an image only)
    goal_image: np.ndarray | None = None  # the goal as an observation (default: the rendering of `goal`)
    seed: int | None = None  # the reset seed of the start, for worlds whose state cannot be set
    # [steps, A] primitive actions known to lead from start to goal (an expert's, a recorded episode's), when the
    # task came with them: a plan that works, which a world model should score well (planning/diagnose.py)
    actions: np.ndarray | None = None


@dataclass
class Progress:
    """How an episode stands against its task after a reset or a step."""

    distance: float  # the world's task distance (states), or the RMS pixel distance to the goal image
    success: bool | None  # None: this world cannot judge success for this task
    criteria: dict[str, bool] = field(default_factory=dict)  # other success criteria the world reports beside


class ActingWorld(gym.Env):
    """Base class of the built-in worlds (and the Gymnasium adapter): pixels, state, goals."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    success_radius: float = 0.0
    proprio_dim: int = 0
    settable: bool = True  # can start from and render a given state (the built-in worlds can)

    def __init__(self, image_size: int, action_dim: int, max_episode_steps: int, render_mode: str = "rgb_array"):
        if render_mode != "rgb_array":
            raise ValueError(f"render_mode must be 'rgb_array' (pixel observations), got {render_mode!r}")
        self.render_mode, self.image_size = render_mode, image_size
        self.max_episode_steps = max_episode_steps
        self.observation_space = gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (action_dim,), np.float32)
        self.state: np.ndarray | None = None
        self.elapsed = 0

    # -- to implement -----------------------------------------------------------------------
    def _set_state(self, state: np.ndarray) -> None:
        raise NotImplementedError

    def _advance(self, action: np.ndarray) -> None:
        raise NotImplementedError

    def _random_state(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def render_state(self, state: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def sample_task(self, rng: np.random.Generator) -> Task:
        raise NotImplementedError

    def distance(self, state: np.ndarray, goal: np.ndarray) -> float:
        raise NotImplementedError

    def expert(self, rng: np.random.Generator, noise: float = 0.0) -> Policy:
        raise NotImplementedError

    def reached(self, state: np.ndarray, goal: np.ndarray) -> bool:
        """Whether the task is done (worlds with more than a distance to meet override this)."""
        return self.distance(state, goal) < self.success_radius

    def criteria(self, state: np.ndarray, goal: np.ndarray) -> dict[str, bool]:
        """Other success criteria reported beside `reached` (by name), e.g. a benchmark's second measure."""
        return {}

    def goal_image(self, task: Task) -> np.ndarray:
        return task.goal_image if task.goal_image is not None else self.render_state(task.goal)

    def progress(self, task: Task, observation: np.ndarray) -> Progress:
        """Distance to the task's goal and success, from the state (the built-in worlds always have it)."""
        state = self.get_state()
        return Progress(self.distance(state, task.goal), bool(self.reached(state, task.goal)),
                        self.criteria(state, task.goal))

    def proprio(self) -> np.ndarray:
        return np.zeros(0, np.float32)

    # -- the Gymnasium API, shared ----------------------------------------------------------
    def check_action(self, action: Any) -> np.ndarray:
        a = np.asarray(action, dtype=np.float32)
        if a.shape != self.action_space.shape:
            raise ValueError(f"{type(self).__name__} expects an action of shape {self.action_space.shape} "
                             f"in [{self.action_space.low.min():g}, {self.action_space.high.max():g}], got shape {a.shape}")
        return np.clip(a, self.action_space.low, self.action_space.high)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        state = (options or {}).get("state")
        self._set_state(np.asarray(state, np.float64) if state is not None else self._random_state(self.np_random))
        self.elapsed = 0
        return self.render(), self._info()

    def step(self, action):
        self._advance(self.check_action(action))
        self.elapsed += 1
        truncated = self.elapsed >= self.max_episode_steps
        return self.render(), 0.0, False, truncated, self._info()

    def render(self) -> np.ndarray:
        return self.render_state(self.get_state())

    def get_state(self) -> np.ndarray:
        if self.state is None:
            raise RuntimeError("call reset() before step() or render()")
        return np.array(self.state, copy=True)

    def _info(self) -> dict[str, Any]:
        return {"state": self.get_state(), "proprio": self.proprio()}


def disk_mask(size: int, center: np.ndarray, radius_px: float) -> np.ndarray:
    """Anti-aliased coverage [size, size] of a disk at `center` (units of the image width, x right,
    y down): sub-pixel positions stay visible in the picture."""
    c = (np.arange(size) + 0.5)
    d = np.sqrt((c[None, :] - center[0] * size) ** 2 + (c[:, None] - center[1] * size) ** 2)
    return np.clip(radius_px + 0.5 - d, 0.0, 1.0)


def paint(canvas: np.ndarray, coverage: np.ndarray, color) -> None:
    """Blend `color` into float canvas [H, W, 3] with per-pixel coverage in [0, 1]."""
    canvas += coverage[..., None] * (np.asarray(color, np.float32) - canvas)


def pixel_distance(observation: np.ndarray, goal_image: np.ndarray) -> float:
    """RMS difference of two uint8 images, in units of the full intensity range [0, 1]."""
    return float(np.sqrt(np.mean((observation.astype(np.float32) - goal_image.astype(np.float32)) ** 2)) / 255)

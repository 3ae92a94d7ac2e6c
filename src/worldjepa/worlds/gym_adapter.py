"""Any Gymnasium environment with a Box action space and rgb_array rendering, as a world with pixels.

    GymPixels("Pendulum-v1", image_size=64)

- observations: the environment's image observation if it has one ([H, W, 3] uint8), else its
  `render()`; resized to image_size × image_size (Pillow, bilinear);
- actions: the environment's Box, rescaled so that the world model and the planners always see
  [-1, 1] (a planner's action a maps to low + (a + 1)/2 · (high − low));
- proprio: the observation vector when the observation is a flat Box (e.g. joint angles), else empty;
- state and goals: environments that expose their simulator state can start from and render a given
  state: MuJoCo environments through `set_state(qpos, qvel)` (state = [qpos, qvel]), classic-control
  environments through their `state` attribute. A task starts from a reset and takes as goal the state
  reached after a short random walk, so every goal is reachable. Environments without settable state
  (`settable` is False) still collect data (each episode's reset seed is recorded) and train; they plan to
  goals taken from recorded episodes (`plan --goals STORE`: the episode's reset seed gives the start again,
  its frame `goal_offset` steps later is the goal), and judge success by the environment's own
  `info["is_success"]` where it gives one; where it does not, success is not judged and the distance is the
  RMS pixel difference to the goal image.

Frame-skip with action chunking is the episode store's job (`data.frameskip`): the adapter steps the
environment once per primitive action.
"""

from __future__ import annotations

import atexit
import os
import weakref
from typing import Any

import gymnasium as gym
import numpy as np
from PIL import Image

from .acting import ActingWorld, Policy, Progress, Task, pixel_distance

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # headless rendering for pygame-based environments
os.environ.setdefault("MUJOCO_GL", "egl")


def _close_if_alive(ref: weakref.ref) -> None:
    env = ref()
    if env is not None:
        env.close()


class GymPixels(ActingWorld):
    goal_walk = 15  # random-walk steps from a reset to a task's goal state

    def __init__(self, env: str | gym.Env, image_size: int = 64, max_episode_steps: int = 100, **make_kwargs: Any):
        if isinstance(env, str):
            try:
                env = gym.make(env, render_mode="rgb_array", **make_kwargs)
            except gym.error.Error as err:
                raise ValueError(f"cannot make Gymnasium environment {env!r}: {err}") from err
            except TypeError as err:
                raise ValueError(f"Gymnasium environment {env!r} does not accept render_mode='rgb_array': it cannot "
                                 f"give pixel observations ({err})") from err
        self.env = env
        self._closes_at_exit = False
        space = env.action_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"{self._name()} has action space {space}: the adapter needs a 1-D Box (continuous "
                             "actions); wrap discrete environments in a continuous interface first")
        self._image_obs = self._is_image(env.observation_space)
        if not self._image_obs and getattr(env, "render_mode", None) != "rgb_array":
            raise ValueError(f"{self._name()} neither observes images nor renders with render_mode='rgb_array' "
                             f"(render_mode={getattr(env, 'render_mode', None)!r}): make it with "
                             "render_mode='rgb_array' or give it an image observation space")
        super().__init__(image_size, space.shape[0], max_episode_steps)
        self.low, self.high = space.low.astype(np.float64), space.high.astype(np.float64)
        if not (np.isfinite(self.low).all() and np.isfinite(self.high).all()):
            raise ValueError(f"{self._name()} has unbounded actions {space}: planners need finite bounds")
        obs_space = env.observation_space
        self.proprio_dim = int(obs_space.shape[0]) if (not self._image_obs and isinstance(obs_space, gym.spaces.Box)
                                                        and len(obs_space.shape) == 1) else 0
        self.success_radius = 0.1 * np.sqrt(max(1, self._state_size()))
        self._last_obs: Any = None
        self._env_info: dict = {}
        self.settable = self._probe_settable()

    def _name(self) -> str:
        spec = getattr(self.env, "spec", None)
        return f"environment {spec.id}" if spec is not None else f"environment {type(self.env).__name__}"

    @staticmethod
    def _is_image(space) -> bool:
        return isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3 \
            and space.shape[-1] == 3

    # -- state access --------------------------------------------------------------------------
    def _sim(self):
        return self.env.unwrapped

    def _state_size(self) -> int:
        try:
            return len(self._read_state())
        except (NotImplementedError, AttributeError, TypeError):
            return 1

    def _probe_settable(self) -> bool:
        """Whether the environment's state can be read and written (after a reset, as MuJoCo needs)."""
        try:
            self.env.reset(seed=0)
            self._write_state(self._read_state())
            return True
        except (NotImplementedError, AttributeError, TypeError, ValueError):
            return False

    def _read_state(self) -> np.ndarray:
        sim = self._sim()
        if hasattr(sim, "data") and hasattr(sim.data, "qpos"):
            return np.concatenate([sim.data.qpos, sim.data.qvel]).astype(np.float64)
        if getattr(sim, "state", None) is not None:
            return np.asarray(sim.state, np.float64).copy()
        raise NotImplementedError(f"{self._name()} does not expose its state: goals cannot be made from states")

    def _write_state(self, state: np.ndarray) -> None:
        sim = self._sim()
        if hasattr(sim, "set_state") and hasattr(sim, "data"):
            nq = sim.data.qpos.shape[0]
            sim.set_state(state[:nq], state[nq:])
        elif getattr(sim, "state", None) is not None:
            sim.state = np.asarray(state, dtype=np.asarray(sim.state).dtype).copy()
        else:
            raise NotImplementedError(f"{self._name()} cannot be put in a given state: goals cannot be made from states")

    # -- the ActingWorld contract --------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._last_obs, self._env_info = self.env.reset(seed=seed)
        state = (options or {}).get("state")
        if state is not None:
            self._write_state(np.asarray(state, np.float64))
            self._last_obs = self._observation_from_state()
        self.state = self._safe_state()
        self.elapsed = 0
        return self.render(), self._info()

    def _observation_from_state(self):
        sim = self._sim()
        if hasattr(sim, "_get_obs"):
            return sim._get_obs()
        return self._last_obs

    def _safe_state(self) -> np.ndarray:
        try:
            return self._read_state()
        except NotImplementedError:
            return np.zeros(0)

    def step(self, action):
        a = self.check_action(action)
        self._last_obs, reward, terminated, truncated, self._env_info = self.env.step(self._env_action(a))
        self.state = self._safe_state()
        self.elapsed += 1
        return self.render(), float(reward), bool(terminated), truncated or self.elapsed >= self.max_episode_steps, \
            self._info()

    def _env_action(self, a: np.ndarray) -> np.ndarray:
        """The environment's action for a planner's a in [-1, 1] (its Box bounds, linearly)."""
        return self.low + (a + 1) / 2 * (self.high - self.low)

    def get_state(self):
        return np.array(self.state, copy=True)

    def proprio(self):
        if not self.proprio_dim or self._last_obs is None:
            return np.zeros(0, np.float32)
        return np.asarray(self._last_obs, np.float32).reshape(-1)

    def render(self) -> np.ndarray:
        frame = self._last_obs if self._image_obs else self.env.render()
        if not self._closes_at_exit:
            # after the first frame, when the renderer (MuJoCo's EGL context) exists: atexit runs the last
            # registered first, so the environment is closed before MuJoCo tears EGL down, not after it with
            # a page of EGLErrors; by weak reference, so that a world dropped earlier is freed as usual
            atexit.register(_close_if_alive, weakref.ref(self.env))
            self._closes_at_exit = True
        if frame is None:
            raise ValueError(f"{self._name()} returned no frame from render(): it needs render_mode='rgb_array'")
        return self._resize(np.asarray(frame))

    def _resize(self, frame: np.ndarray) -> np.ndarray:
        if frame.ndim != 3 or frame.shape[-1] not in (3, 4):
            raise ValueError(f"{self._name()} rendered an array of shape {frame.shape}, not an RGB image")
        img = Image.fromarray(frame[..., :3].astype(np.uint8))
        if img.size != (self.image_size, self.image_size):
            img = img.resize((self.image_size, self.image_size), Image.BILINEAR)
        return np.asarray(img)

    def render_state(self, state):
        saved, saved_obs = self._read_state(), self._last_obs
        self._write_state(np.asarray(state, np.float64))
        self._last_obs = self._observation_from_state()
        frame = self.render()
        self._write_state(saved)
        self._last_obs = saved_obs
        return frame

    def _random_state(self, rng):
        self.env.reset(seed=int(rng.integers(2**31)))
        return self._read_state()

    def sample_task(self, rng):
        if not self.settable:  # a start by its reset seed; the goal must come from recorded episodes
            return Task(None, None, seed=int(rng.integers(2**31)))
        self.env.reset(seed=int(rng.integers(2**31)))
        start = self._read_state()
        for _ in range(self.goal_walk):
            self.env.step(self.low + (rng.uniform(-1, 1, self.action_space.shape) + 1) / 2 * (self.high - self.low))
        goal = self._read_state()
        return Task(start, goal)

    def distance(self, state, goal):
        return float(np.linalg.norm(np.asarray(state) - np.asarray(goal)))

    def goal_image(self, task: Task) -> np.ndarray:
        if task.goal_image is None and (task.goal is None or not self.settable):
            raise ValueError(f"{self._name()} cannot be put in a given state, so it cannot picture a goal state: "
                             f"plan to goals from recorded episodes with --goals STORE (a `worldjepa collect` "
                             f"store of this environment)")
        return super().goal_image(task)

    def progress(self, task: Task, observation: np.ndarray) -> Progress:
        """By states where the task has a goal state; else the environment's own success signal and the pixel
        distance to the goal image (success not judged where there is no signal)."""
        if self.settable and task.goal is not None:
            return super().progress(task, observation)
        signal = self._env_info.get("is_success")
        return Progress(pixel_distance(observation, self.goal_image(task)), None if signal is None else bool(signal))

    def expert(self, rng, noise=0.0) -> Policy:
        """No scripted expert exists for an arbitrary environment: a uniformly random policy."""

        def policy(state, goal):
            return rng.uniform(-1.0, 1.0, self.action_space.shape).astype(np.float32)

        return policy

"""What a camera adds that the world does not: pixel noise and moving distractor objects.

A `Corruption` changes frames, never the world: the state, the dynamics and success are untouched, so a model
that plans or predicts worse under it does so because of what it sees. It is a pure function of (frame, time
step, seed): the same episode seen twice is corrupted the same way, and two models are shown the same
corrupted frames. `CorruptedWorld` shows a world's observations (and its goal images) through one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# distractor colours, none of them the colour of an agent or object in the built-in worlds
PALETTE = ((60, 200, 255), (90, 240, 120), (250, 220, 60), (190, 110, 255))


@dataclass(frozen=True)
class Corruption:
    noise: float = 0.0  # standard deviation of Gaussian pixel noise, in units of the full intensity range
    distractors: int = 0  # squares drifting over the frame, bouncing off its borders
    size: float = 0.12  # a distractor's side, as a fraction of the image
    speed: float = 0.03  # a distractor's displacement per step, as a fraction of the image

    def __post_init__(self):
        if not self.noise >= 0 or self.distractors < 0:
            raise ValueError(f"a corruption needs noise >= 0 and distractors >= 0, got {self}")

    @property
    def name(self) -> str:
        parts = ([f"noise={self.noise:g}"] if self.noise else []) + \
            ([f"distractors={self.distractors}"] if self.distractors else [])
        return ",".join(parts) or "clean"

    @classmethod
    def parse(cls, text: str) -> "Corruption":
        """`clean`, `noise=0.1`, `distractors=2` or both joined by a comma."""
        fields: dict[str, Any] = {}
        for part in filter(None, text.split(",")):
            if part == "clean":
                continue
            key, eq, value = part.partition("=")
            if not eq or key not in ("noise", "distractors"):
                raise ValueError(f"a corruption is 'clean', 'noise=STD', 'distractors=N' or both joined by a comma, "
                                 f"got {text!r}")
            try:
                fields[key] = float(value) if key == "noise" else int(value)
            except ValueError:
                raise ValueError(f"{key} takes a number, got {value!r} in {text!r}") from None
        return cls(**fields)

    def apply(self, frames: np.ndarray, t: int | np.ndarray, seed: int | tuple) -> np.ndarray:
        """Frames uint8 [..., H, W, 3] seen at time steps `t` (an int, or one per frame) of the episode `seed`."""
        if not (self.noise or self.distractors):
            return frames
        frames = np.asarray(frames)
        lead = frames.shape[:-3]
        steps = np.broadcast_to(np.asarray(t), lead)
        out = frames.reshape(-1, *frames.shape[-3:]).astype(np.float32)
        for i, step in enumerate(steps.reshape(-1)):
            out[i] = self._one(out[i], int(step), seed)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8).reshape(frames.shape)

    def _one(self, frame: np.ndarray, t: int, seed) -> np.ndarray:
        size = frame.shape[0]
        seed = list(np.atleast_1d(seed).astype(np.int64))
        if self.distractors:
            rng = np.random.default_rng(seed + [1])  # the same squares and paths at every step of an episode
            side = max(2, round(self.size * size))
            room = 1.0 - side / size
            for k in range(self.distractors):
                start, angle = rng.uniform(0, room, 2), rng.uniform(0, 2 * np.pi)
                colour = PALETTE[int(rng.integers(len(PALETTE)))]
                travel = start + t * self.speed * np.array([np.cos(angle), np.sin(angle)])
                x, y = room - np.abs(np.mod(travel, 2 * room) - room)  # bounce: a triangle wave in [0, room]
                c, r = int(round(x * size)), int(round(y * size))
                frame[r:r + side, c:c + side] = colour
        if self.noise:
            rng = np.random.default_rng(seed + [2, t + 1])  # tags not ending in 0: a seed ignores trailing zeros
            frame = frame + rng.normal(0.0, self.noise * 255.0, frame.shape).astype(np.float32)
        return frame


class CorruptedWorld:
    """A world whose observations and goal images are seen through `corruption` (episode `seed`); everything
    else (state, success, actions) is the world's own."""

    def __init__(self, world, corruption: Corruption, seed: int):
        self.world, self.corruption, self.seed, self.t = world, corruption, seed, 0

    def __getattr__(self, name):
        return getattr(self.world, name)

    def reset(self, **kwargs):
        obs, info = self.world.reset(**kwargs)
        self.t = 0
        return self.corruption.apply(obs, 0, self.seed), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.world.step(action)
        self.t += 1
        return self.corruption.apply(obs, self.t, self.seed), reward, terminated, truncated, info

    def goal_image(self, task) -> np.ndarray:
        # the goal is seen through the same camera, on a stream of its own
        return self.corruption.apply(self.world.goal_image(task), 0, (self.seed, 3))

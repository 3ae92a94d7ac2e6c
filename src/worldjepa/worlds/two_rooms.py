"""`two-rooms`: a point agent in two rooms joined by a door (the navigation task of PLDM, EB-JEPA, LeWM).

The square [0, 1]² (x right, y down) is split by a vertical wall at x = 0.5 with a door in it. The
agent is a disk of radius `radius`; an action a ∈ [-1, 1]² moves it by a · max_step, in substeps so
that it cannot tunnel through the wall; a substep into the wall keeps its free component (the agent
slides along the wall), a substep into a border is clipped. The state is the agent's position, which
is also its proprio. A task starts the agent in one room and puts the goal in the other, so every
episode has to find the door.

`move` is a pure, vectorised function of (positions [..., 2], actions [..., 2]): the world, the
scripted expert and the exact model of planning/oracle.py all share it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .acting import ActingWorld, Policy, Task, disk_mask, paint


@dataclass(frozen=True)
class Layout:
    wall_x: float = 0.5
    wall_half: float = 0.03  # half thickness of the wall
    door: tuple[float, float] = (0.38, 0.62)  # y extent of the opening
    radius: float = 0.035  # agent radius
    max_step: float = 0.07  # displacement at |a| = 1, per step
    substeps: int = 4


def blocked(p: np.ndarray, lay: Layout) -> np.ndarray:
    """True where a disk centred at p [..., 2] overlaps the wall (outside the door)."""
    in_band = np.abs(p[..., 0] - lay.wall_x) < lay.wall_half + lay.radius
    in_door = (p[..., 1] > lay.door[0] + lay.radius) & (p[..., 1] < lay.door[1] - lay.radius)
    return in_band & ~in_door


def move(p: np.ndarray, a: np.ndarray, lay: Layout = Layout()) -> np.ndarray:
    """Positions after one step of actions a (clipped to [-1, 1]); vectorised over leading dims."""
    p = np.asarray(p, np.float64)
    step = np.clip(np.asarray(a, np.float64), -1.0, 1.0) * (lay.max_step / lay.substeps)
    lo, hi = lay.radius, 1.0 - lay.radius
    for _ in range(lay.substeps):
        full = np.clip(p + step, lo, hi)
        only_y = np.clip(p + step * np.array([0.0, 1.0]), lo, hi)
        only_x = np.clip(p + step * np.array([1.0, 0.0]), lo, hi)
        nxt = np.where(blocked(only_x, lay)[..., None], p, only_x)
        nxt = np.where(blocked(only_y, lay)[..., None], nxt, only_y)
        p = np.where(blocked(full, lay)[..., None], nxt, full)
    return p


def room(p: np.ndarray, lay: Layout = Layout()) -> np.ndarray:
    """0 for the left room, 1 for the right (the door counts by its centre line)."""
    return (np.asarray(p)[..., 0] > lay.wall_x).astype(np.int64)


class TwoRooms(ActingWorld):
    BACKGROUND, WALL, AGENT = (18, 20, 30), (150, 150, 165), (255, 90, 60)
    success_radius = 0.08
    proprio_dim = 2

    def __init__(self, image_size: int = 64, max_episode_steps: int = 100, layout: Layout = Layout(),
                 render_mode: str = "rgb_array"):
        super().__init__(image_size, 2, max_episode_steps, render_mode)
        self.layout = lay = layout
        # the static picture: background and wall, drawn once
        c = (np.arange(image_size) + 0.5) / image_size
        x, y = np.meshgrid(c, c)
        wall = (np.abs(x - lay.wall_x) < lay.wall_half) & ~((y > lay.door[0]) & (y < lay.door[1]))
        self._scene = np.empty((image_size, image_size, 3), np.float32)
        self._scene[:] = self.BACKGROUND
        self._scene[wall] = self.WALL

    def _set_state(self, state):
        if np.shape(state) != (2,):
            raise ValueError(f"a two-rooms state is the agent position (x, y), got shape {np.shape(state)}")
        self.state = np.asarray(state, np.float64)

    def _advance(self, action):
        self.state = move(self.state, action, self.layout)

    def proprio(self):
        return self.get_state().astype(np.float32)

    def _random_state(self, rng):
        return self.sample_free(rng, int(rng.integers(2)))

    def sample_free(self, rng: np.random.Generator, side: int) -> np.ndarray:
        """A uniform position in room `side` (0 left, 1 right) that the agent fits in."""
        lay = self.layout
        lo, hi = (lay.radius, lay.wall_x - lay.wall_half - lay.radius) if side == 0 else \
                 (lay.wall_x + lay.wall_half + lay.radius, 1.0 - lay.radius)
        return np.array([rng.uniform(lo, hi), rng.uniform(lay.radius, 1.0 - lay.radius)])

    def sample_task(self, rng):
        side = int(rng.integers(2))
        return Task(self.sample_free(rng, side), self.sample_free(rng, 1 - side))

    def distance(self, state, goal):
        return float(np.linalg.norm(np.asarray(state)[:2] - np.asarray(goal)[:2]))

    def render_state(self, state):
        canvas = self._scene.copy()
        paint(canvas, disk_mask(self.image_size, np.asarray(state), self.layout.radius * self.image_size), self.AGENT)
        return (canvas + 0.5).astype(np.uint8)

    def teleport(self, state, rng: np.random.Generator, min_jump: float) -> np.ndarray:
        """The state with the agent moved to a free place at least `min_jump` from where it is (the arena's impossible
        "teleport" event)."""
        for _ in range(1000):
            jumped = self._random_state(rng)
            if self.distance(jumped, state) >= min_jump:
                return jumped
        raise ValueError(f"no free place lies {min_jump} from {state}")

    def render_vanished(self, state):
        """The picture of `state` with the agent gone (the arena's impossible "vanish" event)."""
        return (self._scene + 0.5).astype(np.uint8)

    def expert(self, rng, noise=0.0) -> Policy:
        """Head for the door when the goal is in the other room, then for the goal."""
        lay = self.layout

        def policy(state, goal):
            state = np.asarray(state)
            target = np.asarray(goal, np.float64)
            mid = 0.5 * (lay.door[0] + lay.door[1])
            if room(state, lay) != room(goal, lay):
                side = -1.0 if state[0] < lay.wall_x else 1.0
                aligned = abs(state[1] - mid) < 0.5 * (lay.door[1] - lay.door[0]) - lay.radius - 0.02
                near = abs(state[0] - lay.wall_x) < lay.wall_half + 3 * lay.radius
                target = np.array([lay.wall_x + side * 0.1, mid]) if not (aligned and near) else \
                    np.array([lay.wall_x - side * 0.2, mid])
            a = np.clip((target - state) / lay.max_step, -1.0, 1.0)
            if noise > 0:
                a = a + noise * rng.standard_normal(2)
            return np.clip(a, -1.0, 1.0).astype(np.float32)

        return policy

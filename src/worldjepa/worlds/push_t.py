"""`push-t`: Push-T on the `gym-pusht` package (the Push-T of Diffusion Policy, DINO-WM, PLDM and LeWM).

A round agent (radius 15) pushes a T-shaped block in a 512 × 512 arena (pymunk physics; y down in the
pictures). The environment's action is the absolute point the agent's PD controller pulls towards; here, as
in DINO-WM, an action a in [-1, 1]² is relative: the agent is pulled towards its position + a · `reach`.
The controller leaves the agent moving, so its velocity belongs to the state; the block stops when the
agent lets go (the simulation's damping removes the block's velocity at every substep):

    state = (agent x, agent y, block x, block y, block angle, agent vx, agent vy)     arena pixels, radians

A task follows stable-worldmodel's Push-T protocol: the goal is the state that a noisy scripted push reaches
`goal_offset` = 25 steps after the start (or a recorded episode's frame 25 steps ahead: `plan --goals`).
Success is stable-worldmodel's pose criterion, which its published table uses: the block within 20 of the
goal position and π/9 of the goal angle. Beside it `plan` reports gym-pusht's own criterion, 95% of the goal
T's area covered by the block, applied to the task's goal pose instead of the environment's fixed one.
Frames are the environment's own drawing (its fixed green goal zone included), rendered at 4× and
downsampled; proprio is the agent's position and velocity (arena / 512). For the paradigm arena the world
stages two impossible events (the agent teleports, or vanishes) and names what a frame shows of a state.
"""

from __future__ import annotations

import importlib
import math

import numpy as np

from .acting import Policy, Task
from .gym_adapter import GymPixels

ARENA = 512.0
AGENT_RADIUS = 15.0
WALL = 8.0  # the walls' inner faces: gym-pusht's segments at 5 and 506, of radius 2 (and a pixel to spare)
# The T in the block's own frame (gym-pusht's add_tee: scale 30, length 4): the bar and the stem, as
# axis-aligned boxes (x0, y0, x1, y1); the body's centre of gravity is the mean of their centroids.
T_BOXES = ((-60.0, 0.0, 60.0, 30.0), (-15.0, 30.0, 15.0, 120.0))
T_CENTRE = np.array([0.0, 45.0])
T_RADIUS = 77.0  # the farthest point of the T from its centre of gravity


def wrap(angle):
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def block_centre(state: np.ndarray) -> np.ndarray:
    """The T's centre of gravity in the arena for a state."""
    return state[2:4] + rotation(state[4]) @ T_CENTRE


def ray_hits_t(origin: np.ndarray, direction: np.ndarray, state: np.ndarray) -> float | None:
    """Distance along a ray (arena frame) to the T of `state`, or None if it misses (slab test per box)."""
    to_local = rotation(state[4]).T
    o, d = to_local @ (origin - state[2:4]), to_local @ direction
    best = None
    for x0, y0, x1, y1 in T_BOXES:
        near, far = -np.inf, np.inf
        for k, (lo, hi) in enumerate(((x0, x1), (y0, y1))):
            if abs(d[k]) < 1e-12:
                if not lo <= o[k] <= hi:
                    break
                continue
            t0, t1 = sorted(((lo - o[k]) / d[k], (hi - o[k]) / d[k]))
            near, far = max(near, t0), min(far, t1)
        else:
            if near <= far and far >= 0:
                best = near if best is None else min(best, near)
    return best


def gap_to_t(point: np.ndarray, state: np.ndarray) -> float:
    """Distance from a point (arena frame) to the T of `state`; 0 inside it."""
    local = rotation(state[4]).T @ (np.asarray(point, np.float64) - state[2:4])
    return min(float(np.linalg.norm(np.maximum(0.0, np.maximum([x0 - local[0], y0 - local[1]],
                                                                 [local[0] - x1, local[1] - y1]))))
               for x0, y0, x1, y1 in T_BOXES)


class PushT(GymPixels):
    success_radius = 20.0  # stable-worldmodel's block-position tolerance (arena pixels)
    angle_tolerance = math.pi / 9
    coverage_threshold = 0.95  # gym-pusht's own success: 95% of the goal T covered
    reach = 100.0  # arena pixels the agent is pulled towards at |a| = 1
    goal_offset = 25
    proprio_dim = 4

    def __init__(self, image_size: int = 64, max_episode_steps: int = 100):
        try:
            importlib.import_module("gym_pusht")  # registers gym_pusht/PushT-v0
        except ImportError as err:
            raise ValueError("the push-t world needs the gym-pusht package: pip install 'worldjepa[pusht]'") from err
        size = 4 * image_size
        super().__init__("gym_pusht/PushT-v0", image_size, max_episode_steps, obs_type="pixels",
                         observation_width=size, observation_height=size)
        self.success_radius = PushT.success_radius  # the adapter's default radius is for raw states
        self.proprio_dim = PushT.proprio_dim
        self._scratch = None  # a second environment for pictures of states and for drawing tasks

    # -- state ---------------------------------------------------------------------------------
    def _read_state(self, sim=None) -> np.ndarray:
        sim = sim or self._sim()
        a, b = sim.agent, sim.block
        return np.array([a.position.x, a.position.y, b.position.x, b.position.y, float(wrap(b.angle)),
                         a.velocity.x, a.velocity.y])

    def _write_state(self, state: np.ndarray, sim=None) -> None:
        if np.shape(state) != (7,):
            raise ValueError("a push-t state is (agent x, agent y, block x, block y, block angle, agent vx, agent vy), "
                             f"got shape {np.shape(state)}")
        sim = sim or self._sim()
        s = np.asarray(state, np.float64)
        sim.agent.position, sim.agent.velocity = s[0:2].tolist(), s[5:7].tolist()
        # the angle first: pymunk turns a body about its centre of gravity, which would move the origin that
        # the state's (block x, block y) names (gym-pusht's reset does the opposite, for its legacy data)
        sim.block.angle = float(s[4])
        sim.block.position = s[2:4].tolist()
        sim.block.velocity, sim.block.angular_velocity = (0.0, 0.0), 0.0
        for body in (sim.agent, sim.block):
            sim.space.reindex_shapes_for_body(body)

    def _observation_from_state(self):
        return self._sim().get_obs()

    def _env_action(self, a: np.ndarray) -> np.ndarray:
        return np.clip(self._read_state()[:2] + a * self.reach, 0.0, ARENA)

    def proprio(self) -> np.ndarray:
        s = self._read_state()
        return (np.concatenate([s[:2], s[5:7]]) / ARENA).astype(np.float32)

    def _scratch_env(self):
        if self._scratch is None:
            from gym_pusht.envs.pusht import PushTEnv

            self._scratch = PushTEnv(obs_type="pixels", observation_width=4 * self.image_size,
                                     observation_height=4 * self.image_size)
            self._scratch.reset(seed=0)
        return self._scratch

    def render_state(self, state):
        """The picture of a state, drawn by a second environment so that this one is left alone."""
        painter = self._scratch_env()
        # the drawing shows the contacts of the last physics step: a vanishing step makes them this state's own,
        # not the ones left from the painter's previous picture (the state is written again after it)
        self._write_state(state, painter)
        painter.space.step(1e-9)
        self._write_state(state, painter)
        return self._resize(painter.get_obs())

    visible_columns = ("agent x", "agent y", "block x", "block y")

    def visible_state(self, states: np.ndarray) -> np.ndarray:
        """What the arena reads off one frame of states [..., 7]: the agent's and the block's positions (arena /
        512; `visible_columns`). Not the agent's velocity (proprio's second half), which no single frame holds;
        not the block's angle, which a frame shows but which wraps and is not a length: the arena's error is a
        distance between positions."""
        return (np.asarray(states)[..., :4] / ARENA).astype(np.float32)

    # -- the arena's impossible events (arena/surprise.py) -------------------------------------
    def teleport(self, state, rng: np.random.Generator, min_jump: float) -> np.ndarray:
        """The state with the agent moved at least `min_jump` arena widths, to a place clear of the block
        (velocity kept): the arena's impossible "teleport" event."""
        state = np.asarray(state, np.float64)
        for _ in range(1000):
            place = rng.uniform(WALL + AGENT_RADIUS, ARENA - WALL - AGENT_RADIUS, 2)
            if np.linalg.norm(place - state[:2]) >= min_jump * ARENA and gap_to_t(place, state) > AGENT_RADIUS + 5:
                return np.concatenate([place, state[2:]])
        raise ValueError(f"no place clear of the block lies {min_jump} arena widths from the agent of {state}")

    def render_vanished(self, state):
        """The picture of `state` with the agent gone (drawn off the arena): the arena's "vanish" event."""
        away = np.asarray(state, np.float64).copy()
        away[:2] = -10 * ARENA
        return self.render_state(away)

    # -- tasks and success ---------------------------------------------------------------------
    def _random_state(self, rng):
        return self.sample_task(rng).start

    def sample_task(self, rng) -> Task:
        """Start and goal `goal_offset` steps apart on a noisy scripted push towards a random nearby pose (the
        block moved 60–150 and turned up to ±45°), as Push-T takes them from expert episodes; tasks whose block
        moves less than twice the tolerances (40, 2π/9) are redrawn."""
        sim = self._scratch_env()
        sim.obs_type = "state"  # no pictures while drawing
        try:
            return self._draw_task(sim, rng)
        finally:
            sim.obs_type = "pixels"

    @staticmethod
    def _pose_near(state: np.ndarray, rng) -> np.ndarray:
        """A block pose 60–150 away from the state's (kept off the walls), turned by up to ±45°."""
        heading = rng.uniform(0, 2 * np.pi)
        target = np.array(state, np.float64, copy=True)
        target[2:4] = np.clip(state[2:4] + rng.uniform(60, 150) * np.array([np.cos(heading), np.sin(heading)]),
                              120, 392)
        target[4] = wrap(state[4] + rng.uniform(-np.pi / 4, np.pi / 4))
        return target

    def _draw_task(self, sim, rng) -> Task:
        for _ in range(100):
            start = np.array([*rng.uniform(50, 450, 2), *rng.uniform(100, 400, 2), rng.uniform(-np.pi, np.pi), 0, 0])
            target = self._pose_near(start, rng)
            # a fresh space: the painter's last contacts (and its last step's length, which scales their warm start)
            # would otherwise make the task depend on what was drawn before, not on `rng` alone
            sim._setup()
            self._write_state(start, sim)
            policy = self.expert(rng, noise=0.2)
            trajectory, actions = [start], []
            for _ in range(int(rng.integers(0, 20)) + self.goal_offset):
                actions.append(np.clip(policy(trajectory[-1], target), -1.0, 1.0))
                sim.step(np.clip(trajectory[-1][:2] + actions[-1] * self.reach, 0.0, ARENA))
                trajectory.append(self._read_state(sim))
            first, goal = trajectory[-1 - self.goal_offset], trajectory[-1]
            turned = abs(float(wrap(goal[4] - first[4])))
            if self.distance(first, goal) > 2 * self.success_radius or turned > 2 * self.angle_tolerance:
                return Task(first, goal, actions=np.array(actions[-self.goal_offset:], np.float32))
        raise RuntimeError("could not draw a push-t task whose block moves; the expert or physics is broken")

    def distance(self, state, goal) -> float:
        """The block's position error (arena pixels), as stable-worldmodel measures it."""
        return float(np.linalg.norm(np.asarray(state)[2:4] - np.asarray(goal)[2:4]))

    def reached(self, state, goal) -> bool:
        """stable-worldmodel's pose criterion: position error < 20 and angle error < π/9."""
        return self.distance(state, goal) < self.success_radius and \
            abs(float(wrap(state[4] - goal[4]))) < self.angle_tolerance

    def coverage(self, state, goal) -> float:
        """The share of the goal T's area that the block covers (gym-pusht's measure, at the task's goal pose)."""
        from gym_pusht.envs.pusht import PushTEnv, pymunk_to_shapely

        shapes = self._sim().block.shapes
        block = pymunk_to_shapely(PushTEnv.get_goal_pose_body(np.asarray(state)[2:5]), shapes)
        target = pymunk_to_shapely(PushTEnv.get_goal_pose_body(np.asarray(goal)[2:5]), shapes)
        return float(block.intersection(target).area / target.area)

    def criteria(self, state, goal) -> dict[str, bool]:
        return {"coverage": self.coverage(state, goal) > self.coverage_threshold}

    # -- a scripted expert ---------------------------------------------------------------------
    def expert(self, rng, noise: float = 0.0) -> Policy:
        """Walk round the block to the contact point behind it (seen from the goal), then push through the
        centre of gravity, aiming off-centre to turn it; in place, push one end of the bar sideways. Once at its
        goal it heads for a new pose nearby, so that recorded episodes keep pushing (as demonstrations do)."""
        heading = {"given": None, "target": None}

        def policy(state, goal):
            s = np.asarray(state, np.float64)
            if heading["given"] is None or not np.array_equal(goal, heading["given"]):
                heading["given"], heading["target"] = np.array(goal, copy=True), np.asarray(goal, np.float64)
            if self.reached(s, heading["target"]):
                heading["target"] = self._pose_near(s, rng)
            g = heading["target"]
            centre, agent = block_centre(s), s[:2]
            to_goal = block_centre(g) - centre
            dist, turn = float(np.linalg.norm(to_goal)), float(wrap(g[4] - s[4]))
            if dist > 10.0:  # translate, with an offset that turns the block on the way
                d = to_goal / dist
                aim = centre - np.array([-d[1], d[0]]) * np.clip(turn, -0.6, 0.6) * 40.0
            else:  # in place: push the bar's end perpendicular to it
                arm = rotation(s[4]) @ np.array([50.0, 15.0])
                d = np.array([-arm[1], arm[0]]) / np.linalg.norm(arm) * np.sign(turn or 1.0)
                aim = s[2:4] + arm
            hit = ray_hits_t(aim - 200.0 * d, d, s)
            contact = (aim - 200.0 * d + (hit if hit is not None else 200.0) * d) - d * (AGENT_RADIUS + 3.0)
            side = np.array([-d[1], d[0]])
            lateral = float((agent - contact) @ side)
            behind = (agent - centre) @ d < (contact - centre) @ d + 5.0  # no farther forward than the contact
            if behind and abs(lateral) < 8.0 and (agent - contact) @ d > -40.0:  # in position: push through
                target = agent + d * 40.0 - side * lateral
            elif behind:  # behind the block, off line: line up a little way back
                target = contact - d * 25.0
            else:  # beside or in front: walk round the block on the nearer side, to behind it
                away = agent - centre
                gap = float(np.linalg.norm(away))
                clearance = T_RADIUS + AGENT_RADIUS + 15.0
                sign = np.sign(away @ side) or 1.0
                target = centre + (side * sign - d) * clearance
                if gap < clearance:  # too close to circle round it: step outwards too
                    target = target + (clearance - gap) * away / max(gap, 1e-6)
            a = (target - agent) / self.reach
            if noise > 0:
                a = a + noise * rng.standard_normal(2)
            return np.clip(a, -1.0, 1.0).astype(np.float32)

        return policy

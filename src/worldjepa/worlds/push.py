"""`push`: a round pusher moves a rectangular block to a goal position and angle, on pymunk physics.

Top-down 2D rigid-body physics (pymunk): the block slides on the floor with Coulomb-like friction
(a pivot and a gear joint to the static floor with bounded force, the usual top-down trick), the
pusher is a kinematic disk driven at velocity a · max_speed, and four walls close the arena. Only
contact moves the block: to turn it the pusher must push off its centre. Simulation happens in arena
units (100 = the image width, because pymunk's contact tolerances are absolute); states are in image
units [0, 1], x right, y down:

    state = (pusher x, pusher y, block x, block y, block angle)

A task is the Push-T protocol of DINO-WM and LeWM: its goal is the state that a noisy scripted push
reaches 25 steps after the start (and the block must have moved more than twice the success radius).
It is reached when the block is within `success_radius` of the goal position and `angle_tolerance` of
the goal angle (mod π: the rectangle looks the same turned by half a turn). The goal picture shows the
block at its goal pose and the pusher where that push left it.
"""

from __future__ import annotations

import math

import numpy as np
import pymunk

from .acting import ActingWorld, Policy, Task, disk_mask, paint

SCALE = 100.0  # arena units per image width


def angle_error(a: float, b: float) -> float:
    """|a − b| modulo π, in [0, π/2]."""
    d = (a - b) % math.pi
    return float(min(d, math.pi - d))


class Push(ActingWorld):
    BACKGROUND, BLOCK, PUSHER = (235, 235, 225), (60, 90, 200), (230, 70, 50)
    success_radius = 0.05
    angle_tolerance = math.radians(15)
    proprio_dim = 2
    block_size = (0.26, 0.12)  # length and width, image units
    pusher_radius = 0.04
    max_speed = 0.4  # image widths per second at |a| = 1
    dt, substeps = 0.1, 10  # seconds per step; physics substeps per step
    push_force = 400.0  # the hand's force limit (arena units): about 7× the block's floor friction
    goal_offset = 25  # steps between a task's start and its goal (the Push-T protocol of DINO-WM and LeWM)

    def __init__(self, image_size: int = 64, max_episode_steps: int = 100, render_mode: str = "rgb_array"):
        super().__init__(image_size, 2, max_episode_steps, render_mode)
        self.space = pymunk.Space()
        self.space.gravity = (0.0, 0.0)
        floor = self.space.static_body
        for a, b in (((0, 0), (100, 0)), ((100, 0), (100, 100)), ((100, 100), (0, 100)), ((0, 100), (0, 0))):
            wall = pymunk.Segment(floor, a, b, 2.0)
            wall.friction = 0.5
            self.space.add(wall)
        L, W = self.block_size[0] * SCALE, self.block_size[1] * SCALE
        self.block = pymunk.Body(1.0, pymunk.moment_for_box(1.0, (L, W)))
        box = pymunk.Poly.create_box(self.block, (L, W))
        box.friction = 0.6
        self.space.add(self.block, box)
        for joint in (pymunk.PivotJoint(floor, self.block, (0, 0), (0, 0)), pymunk.GearJoint(floor, self.block, 0.0, 1.0)):
            joint.max_bias = 0.0  # no position correction: pure friction
            joint.max_force = 60.0 if isinstance(joint, pymunk.PivotJoint) else 2500.0
            self.space.add(joint)
        # The pusher is a dynamic disk dragged by a kinematic "hand" through a pivot joint of bounded
        # force: it pushes hard enough to slide the block, but it cannot squeeze the block through a
        # wall the way an infinitely strong kinematic body does (pymunk then ejects the block).
        self.hand = pymunk.Body(body_type=pymunk.Body.KINEMATIC)
        self.pusher = pymunk.Body(0.1, float("inf"))  # light: at speed within one substep
        disk = pymunk.Circle(self.pusher, self.pusher_radius * SCALE)
        disk.friction = 0.6
        drag = pymunk.PivotJoint(self.hand, self.pusher, (0, 0), (0, 0))
        drag.max_force, drag.max_bias = self.push_force, 3 * self.max_speed * SCALE
        self.space.add(self.hand, self.pusher, disk, drag)
        c = (np.arange(image_size) + 0.5) / image_size
        self._x, self._y = np.meshgrid(c, c)
        self._sim: Push | None = None  # the task-drawing simulator, made on first use

    # -- state ---------------------------------------------------------------------------------
    def _set_state(self, state):
        if np.shape(state) != (5,):
            raise ValueError("a push state is (pusher x, pusher y, block x, block y, block angle), got shape "
                             f"{np.shape(state)}")
        s = np.asarray(state, np.float64)
        for body in (self.hand, self.pusher):
            body.position, body.velocity = (s[0] * SCALE, s[1] * SCALE), (0.0, 0.0)
        self.block.position = (s[2] * SCALE, s[3] * SCALE)
        self.block.angle = float(s[4])
        self.block.velocity, self.block.angular_velocity = (0.0, 0.0), 0.0
        for body in (self.hand, self.pusher, self.block):
            self.space.reindex_shapes_for_body(body)
        self.state = s

    def get_state(self):
        if self.state is None:
            raise RuntimeError("call reset() before step() or render()")
        p, b = self.pusher.position, self.block.position
        return np.array([p.x / SCALE, p.y / SCALE, b.x / SCALE, b.y / SCALE, self.block.angle])

    def proprio(self):
        return self.get_state()[:2].astype(np.float32)

    def _advance(self, action):
        r = self.pusher_radius
        h = self.dt / self.substeps
        for _ in range(self.substeps):
            pos = np.array(self.pusher.position) / SCALE
            v = action * self.max_speed
            nxt = pos + v * h
            v = np.where((nxt < r) | (nxt > 1 - r), 0.0, v)  # the hand stops at the walls
            self.hand.velocity = tuple(v * SCALE)
            self.space.step(h)
        # the step ends at rest: the hand waits where the pusher is, so nothing hidden carries over
        self.hand.velocity, self.pusher.velocity = (0.0, 0.0), (0.0, 0.0)
        self.hand.position = self.pusher.position
        self.state = self.get_state()

    # -- tasks ---------------------------------------------------------------------------------
    def _random_state(self, rng):
        return self.sample_task(rng).start

    def _free_pusher(self, rng, block_xy, angle) -> np.ndarray:
        """A pusher position in the arena that does not overlap the block."""
        for _ in range(100):
            p = rng.uniform(0.08, 0.92, size=2)
            if self._block_distance(p, block_xy, angle) > self.pusher_radius + 0.02:
                return p
        return np.array([0.08, 0.08])

    def _block_distance(self, p, block_xy, angle) -> float:
        c, s = math.cos(angle), math.sin(angle)
        d = np.asarray(p) - block_xy
        local = np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1]])
        q = np.abs(local) - np.array(self.block_size) / 2
        return float(np.linalg.norm(np.maximum(q, 0.0)) + min(max(q[0], q[1]), 0.0))

    def _far_target(self, rng, block_xy, angle) -> np.ndarray:
        """A block pose 0.15–0.3 away, turned by up to ±45°: where the scripted pusher heads."""
        direction = rng.uniform(0, 2 * math.pi)
        xy = np.clip(block_xy + rng.uniform(0.15, 0.3) * np.array([math.cos(direction), math.sin(direction)]),
                     0.22, 0.78)
        return np.array([*self._free_pusher(rng, xy, angle), *xy, angle + rng.uniform(-math.pi / 4, math.pi / 4)])

    def sample_task(self, rng):
        """Start and goal are `goal_offset` steps apart on a noisy scripted push, as Push-T takes them
        from expert episodes: every goal is reachable in time, and the pusher stands in the goal
        picture where a push that gets there leaves it. Tasks whose block barely moves are redrawn."""
        sim = self._scratch()
        for _ in range(100):
            xy, angle = rng.uniform(0.3, 0.7, size=2), rng.uniform(-math.pi / 2, math.pi / 2)
            state = np.array([*self._free_pusher(rng, xy, angle), *xy, angle])
            target = self._far_target(rng, xy, angle)
            sim._set_state(state)
            policy = sim.expert(rng, noise=0.2)
            trajectory = [state]
            for _ in range(int(rng.integers(0, 20)) + self.goal_offset):
                sim._advance(sim.check_action(policy(trajectory[-1], target)))  # no pictures needed
                trajectory.append(sim.get_state())
            start, goal = trajectory[-1 - self.goal_offset], trajectory[-1]
            if self.distance(start, goal) > 2 * self.success_radius:
                return Task(start, goal)
        raise RuntimeError("could not draw a push task whose block moves; the expert or physics is broken")

    def _scratch(self) -> "Push":
        """A second simulator for drawing tasks, so that drawing one leaves this world's state alone."""
        if self._sim is None:
            self._sim = Push(self.image_size, max_episode_steps=10**9)
        return self._sim

    def distance(self, state, goal):
        return float(np.linalg.norm(np.asarray(state)[2:4] - np.asarray(goal)[2:4]))

    def reached(self, state, goal) -> bool:
        return self.distance(state, goal) < self.success_radius and \
            angle_error(state[4], goal[4]) < self.angle_tolerance

    # -- pictures ------------------------------------------------------------------------------
    def render_state(self, state):
        s = np.asarray(state, np.float64)
        canvas = np.empty((self.image_size, self.image_size, 3), np.float32)
        canvas[:] = self.BACKGROUND
        c, sn = math.cos(s[4]), math.sin(s[4])
        dx, dy = self._x - s[2], self._y - s[3]
        u, v = c * dx + sn * dy, -sn * dx + c * dy
        px = self.image_size
        inside = np.minimum(self.block_size[0] / 2 - np.abs(u), self.block_size[1] / 2 - np.abs(v))
        paint(canvas, np.clip(inside * px + 0.5, 0.0, 1.0), self.BLOCK)
        # a notch marks one end, so that the angle is visible modulo 2π in the picture
        notch = disk_mask(self.image_size, s[2:4] + 0.3 * self.block_size[0] * np.array([c, sn]), 0.025 * px)
        paint(canvas, notch * (inside > 0), (250, 210, 60))
        paint(canvas, disk_mask(self.image_size, s[:2], self.pusher_radius * px), self.PUSHER)
        return (canvas + 0.5).astype(np.uint8)

    # -- a scripted expert ---------------------------------------------------------------------
    def expert(self, rng, noise=0.0) -> Policy:
        """Go behind the block (seen from the goal), then push towards the goal, aiming off-centre to turn."""

        def policy(state, goal):
            s, g = np.asarray(state), np.asarray(goal)
            to_goal = g[2:4] - s[2:4]
            dist = np.linalg.norm(to_goal)
            turn = ((g[4] - s[4] + math.pi / 2) % math.pi) - math.pi / 2
            if dist > 0.02:
                d = to_goal / dist
            else:  # in place: push sideways at one end to turn
                d = np.array([-math.sin(s[4]), math.cos(s[4])]) * np.sign(turn or 1.0)
            side = np.array([-d[1], d[0]])
            axis = np.array([math.cos(s[4]), math.sin(s[4])])
            reach = 0.5 * abs(self.block_size[0] * np.dot(d, axis)) + \
                0.5 * abs(self.block_size[1] * np.dot(d, [-axis[1], axis[0]])) + self.pusher_radius
            contact = s[2:4] - d * (reach + 0.005) + side * np.clip(turn, -0.5, 0.5) * 0.1
            rel = s[:2] - s[2:4]
            behind = np.dot(rel, d) < -(reach - 0.02)
            lateral = np.dot(s[:2] - contact, side)
            speed = self.max_speed * self.dt  # displacement at |a| = 1
            if behind and abs(lateral) < 0.03:  # in position: push, correcting sideways drift
                a = d * min(1.0, 0.3 + dist / speed) - side * lateral / speed
            elif behind:  # behind but off line: slide sideways while backing off a little
                a = (contact - d * 0.04 - s[:2]) / speed
            else:  # beside or in front: go around on the nearer side
                sign = np.sign(np.dot(rel, side)) or 1.0
                half = 0.5 * float(np.hypot(*self.block_size))
                clearance = half + self.pusher_radius + 0.03
                waypoint = s[2:4] + side * sign * clearance - d * reach
                a = (waypoint - s[:2]) / max(np.linalg.norm(waypoint - s[:2]), 1e-6)
                gap = np.linalg.norm(rel)
                if gap < clearance:  # too close to circle round it: step outwards too
                    a = a + (clearance - gap) / 0.03 * rel / max(gap, 1e-6)
            a = np.clip(a, -1.0, 1.0)
            if noise > 0:
                a = a + noise * rng.standard_normal(2)
            return np.clip(a, -1.0, 1.0).astype(np.float32)

        return policy

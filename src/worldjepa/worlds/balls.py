"""The built-in physics world: coloured balls under gravity in a box, rendered as RGB video.

A 2.5-D world. Each ball lives on one of a few depth layers: its apparent radius is r·d₀/d (nearer is
bigger) and nearer balls are drawn over farther ones (occlusion order). Motion is in image coordinates
(x right, y down, both in [0, 1]); balls bounce elastically off the four image borders and off balls
of the same layer (balls on different layers pass in front of each other). An optional occluder bar
stands in front of every layer. Ball k always has colour PALETTE[k], so identities are visible.

Everything is vectorised over a batch of clips and deterministic in the seed. Per frame the world
returns ground truth: positions, velocities, a depth map, wall-bounce events (which ball, which wall)
and ball–ball collision events (which pair).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import WorldConfig

PALETTE = np.array([
    (230, 60, 50), (60, 200, 80), (70, 110, 240), (240, 210, 60),
    (210, 80, 220), (70, 220, 230), (245, 150, 40), (235, 235, 235),
], dtype=np.float32)
WALLS = ("left", "right", "top", "bottom")
LIGHT = np.array([-0.45, -0.55, 0.70], dtype=np.float32) / np.linalg.norm([-0.45, -0.55, 0.70])
OCCLUDER_DEPTH, OCCLUDER_WIDTH, OCCLUDER_COLOR = 0.8, 0.16, (150, 150, 160)


@dataclass
class Clips:
    """A batch of generated clips and their ground truth (B clips, T frames, K balls)."""

    frames: np.ndarray  # [B, T, H, W, 3] uint8
    positions: np.ndarray  # [B, T, K, 2] ball centres in [0, 1] image coordinates (x right, y down)
    velocities: np.ndarray  # [B, T, K, 2] image widths per second
    radii: np.ndarray  # [B, K] apparent radius in image widths
    layers: np.ndarray  # [B, K] depth of each ball's layer
    walls: np.ndarray  # [B, T, K, 4] bool: ball k bounced off (left, right, top, bottom) during frame t
    collisions: np.ndarray  # [B, T, K, K] bool, symmetric: balls i and j collided during frame t
    occluder: np.ndarray  # [B] x of the occluder's left edge, NaN when the clip has none
    depth: np.ndarray | None  # [B, T, H, W] float32 depth map, or None when not requested


class BallWorld:
    def __init__(self, cfg: WorldConfig | None = None, image_size: int = 64):
        self.cfg = cfg or WorldConfig()
        if not 1 <= self.cfg.num_balls <= len(PALETTE):
            raise ValueError(f"num_balls must be between 1 and {len(PALETTE)}, got {self.cfg.num_balls}")
        if not 0.0 < self.cfg.occluder_width <= 0.8:
            raise ValueError(f"occluder_width must be in (0, 0.8] box widths, got {self.cfg.occluder_width}")
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
        self.size = image_size

    # ------------------------------------------------------------------ simulation
    def _initial_state(self, rng: np.random.Generator, batch: int):
        c, K = self.cfg, self.cfg.num_balls
        depths = np.asarray(c.depths, dtype=np.float32)
        layers = depths[rng.integers(0, len(depths), size=(batch, K))]
        radii = (rng.uniform(*c.radius, size=(batch, K)) * depths[0] / layers).astype(np.float32)
        pos = self._place(rng, radii, layers)
        angle = rng.uniform(0, 2 * np.pi, size=(batch, K))
        speed = rng.uniform(*c.speed, size=(batch, K))
        vel = np.stack([np.cos(angle), np.sin(angle)], -1) * speed[..., None]
        return pos.astype(np.float64), vel.astype(np.float64), radii, layers

    @staticmethod
    def _place(rng, radii, layers, tries: int = 200) -> np.ndarray:
        """Uniform positions with no overlap between balls of the same layer (rejection per clip)."""
        B, K = radii.shape
        pos = rng.uniform(radii[..., None], 1 - radii[..., None], size=(B, K, 2))
        for _ in range(tries):
            gap = np.linalg.norm(pos[:, :, None] - pos[:, None], axis=-1) - (radii[:, :, None] + radii[:, None])
            clash = (gap < 0) & (layers[:, :, None] == layers[:, None]) & ~np.eye(K, dtype=bool)
            bad = clash.any((1, 2))
            if not bad.any():
                return pos
            pos[bad] = rng.uniform(radii[bad][..., None], 1 - radii[bad][..., None], size=(int(bad.sum()), K, 2))
        raise RuntimeError("could not place balls without overlap: use fewer or smaller balls")

    def _step(self, pos, vel, radii, layers, dt, walls, collisions, gravity: float):
        """One semi-implicit Euler step with elastic wall and same-layer ball collisions (in place)."""
        vel[..., 1] += gravity * dt
        pos += vel * dt
        r = radii.astype(np.float64)
        for axis, (lo, hi) in enumerate(((0, 1), (2, 3))):
            low, high = pos[..., axis] < r, pos[..., axis] > 1 - r
            pos[..., axis] = np.where(low, 2 * r - pos[..., axis], pos[..., axis])
            pos[..., axis] = np.where(high, 2 * (1 - r) - pos[..., axis], pos[..., axis])
            vel[..., axis] = np.where(low, np.abs(vel[..., axis]), vel[..., axis])
            vel[..., axis] = np.where(high, -np.abs(vel[..., axis]), vel[..., axis])
            walls[..., lo] |= low
            walls[..., hi] |= high
        K = pos.shape[1]
        for i in range(K):
            for j in range(i + 1, K):
                delta = pos[:, i] - pos[:, j]
                dist = np.linalg.norm(delta, axis=-1)
                normal = delta / np.maximum(dist, 1e-9)[:, None]
                approach = ((vel[:, i] - vel[:, j]) * normal).sum(-1)
                hit = (dist < r[:, i] + r[:, j]) & (layers[:, i] == layers[:, j]) & (approach < 0)
                if not hit.any():
                    continue
                mi, mj = r[:, i] ** 2, r[:, j] ** 2  # mass ∝ area
                impulse = np.where(hit, 2 * approach / (mi + mj), 0.0)[:, None] * normal
                vel[:, i] -= impulse * mj[:, None]
                vel[:, j] += impulse * mi[:, None]
                overlap = np.where(hit, r[:, i] + r[:, j] - dist, 0.0)[:, None] * normal / 2
                pos[:, i] += overlap
                pos[:, j] -= overlap
                collisions[:, i, j] |= hit
                collisions[:, j, i] |= hit

    def generate(self, batch: int, frames: int, seed: int, depth: bool = False) -> Clips:
        """Simulate and render `batch` clips of `frames` frames, deterministically from `seed`."""
        if batch < 1 or frames < 1:
            raise ValueError(f"generate needs at least one clip of at least one frame, got batch={batch}, frames={frames}")
        c = self.cfg
        rng = np.random.default_rng(seed)
        pos, vel, radii, layers = self._initial_state(rng, batch)
        has_occluder = rng.uniform(size=batch) < c.occluder
        occluder = np.where(has_occluder, rng.uniform(0.1, 0.9 - c.occluder_width, size=batch), np.nan)
        P, V, walls, collisions = self.simulate(pos, vel, radii, layers, frames)
        rgb, depth_map = self.render(P.astype(np.float32), radii, layers, occluder, depth, c.occluder_width)
        return Clips(rgb, P.astype(np.float32), V.astype(np.float32), radii, layers, walls, collisions,
                     occluder.astype(np.float32), depth_map)

    def simulate(self, pos, vel, radii, layers, frames: int, gravity: float | None = None):
        """Trajectories from a state (frame 0 is the given state; nothing is modified in place):
        positions and velocities [B, frames, K, 2], wall events [B, frames, K, 4] and collision events
        [B, frames, K, K]. `gravity` replaces the world's (the intuitive-physics test turns it over)."""
        c, (B, K) = self.cfg, radii.shape
        pos, vel = np.array(pos, np.float64), np.array(vel, np.float64)
        g = c.gravity if gravity is None else gravity
        dt = 1.0 / (c.fps * c.substeps)
        P, V = np.zeros((B, frames, K, 2)), np.zeros((B, frames, K, 2))
        walls = np.zeros((B, frames, K, 4), dtype=bool)
        collisions = np.zeros((B, frames, K, K), dtype=bool)
        for t in range(frames):
            if t > 0:
                for _ in range(c.substeps):
                    self._step(pos, vel, radii, layers, dt, walls[:, t], collisions[:, t], g)
            P[:, t], V[:, t] = pos, vel
        return P, V, walls, collisions

    # ------------------------------------------------------------------ rendering
    def render(self, positions: np.ndarray, radii: np.ndarray, layers: np.ndarray, occluder: np.ndarray,
               depth: bool = False, occluder_width: float = OCCLUDER_WIDTH) -> tuple[np.ndarray, np.ndarray | None]:
        """positions [B, T, K, 2] → frames [B, T, S, S, 3] uint8 (and a depth map [B, T, S, S])."""
        B, T, K, _ = positions.shape
        S = self.size
        centres = (np.arange(S, dtype=np.float32) + 0.5) / S
        shade_y = 1.0 - 0.25 * centres[:, None]  # a soft vertical gradient so the box has a floor
        image = np.broadcast_to(np.asarray(self.cfg.background, np.float32) * shade_y[..., None], (B, T, S, S, 3)).copy()
        far = float(max(self.cfg.depths)) + 1.0
        zbuf = np.full((B, T, S, S), far, dtype=np.float32)
        order = np.argsort(-layers, axis=1, kind="stable")  # far to near, per clip
        b_idx = np.arange(B)
        bi, ti = b_idx[:, None, None, None], np.arange(T)[None, :, None, None]
        for rank in range(K):
            k = order[:, rank]
            # draw inside a window around the ball (shifted to stay in the image, so indices are unique)
            r = radii[b_idx, k]
            win = min(S, 2 * int(np.ceil(r.max() * S)) + 3)
            cx, cy = positions[b_idx, :, k, 0], positions[b_idx, :, k, 1]  # [B, T]
            x0 = np.clip(np.floor(cx * S).astype(int) - win // 2, 0, S - win)
            y0 = np.clip(np.floor(cy * S).astype(int) - win // 2, 0, S - win)
            xs = x0[..., None] + np.arange(win)  # [B, T, win]
            ys = y0[..., None] + np.arange(win)
            rr = r[:, None, None, None]
            dx = ((xs[:, :, None, :] + 0.5) / S - cx[..., None, None]) / rr  # [B, T, win, win]
            dy = ((ys[:, :, :, None] + 0.5) / S - cy[..., None, None]) / rr
            rho2 = dx**2 + dy**2
            coverage = np.clip((1.0 - np.sqrt(rho2)) * rr * S + 0.5, 0.0, 1.0)  # anti-aliased edge
            nz = np.sqrt(np.clip(1.0 - rho2, 0.0, 1.0))
            light = np.clip(-dx * LIGHT[0] - dy * LIGHT[1] + nz * LIGHT[2], 0.0, 1.0)
            color = PALETTE[k][:, None, None, None, :] * (0.3 + 0.7 * light)[..., None]
            alpha = coverage[..., None]
            rows, cols = ys[:, :, :, None], xs[:, :, None, :]
            image[bi, ti, rows, cols] = image[bi, ti, rows, cols] * (1 - alpha) + color * alpha
            d = layers[b_idx, k][:, None, None, None]
            zbuf[bi, ti, rows, cols] = np.where(coverage > 0.5, d - rr * d * nz, zbuf[bi, ti, rows, cols])
        if np.isfinite(occluder).any():
            left = occluder[:, None, None, None]
            inside = ((centres[None, None, None, :] >= left) & (centres[None, None, None, :] < left + occluder_width))
            inside = np.broadcast_to(inside, (B, T, S, S))
            image = np.where(inside[..., None], np.asarray(OCCLUDER_COLOR, np.float32), image)
            zbuf = np.where(inside, OCCLUDER_DEPTH, zbuf)
        frames = np.clip(image + 0.5, 0, 255).astype(np.uint8)
        return frames, (zbuf if depth else None)

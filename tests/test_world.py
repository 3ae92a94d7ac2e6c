import numpy as np

from worldjepa.config import WorldConfig
from worldjepa.worlds.balls import BallWorld


def test_deterministic_in_seed():
    w = BallWorld(WorldConfig(occluder=0.5))
    a, b, c = w.generate(4, 6, seed=1), w.generate(4, 6, seed=1), w.generate(4, 6, seed=2)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.positions, b.positions)
    assert not np.array_equal(a.frames, c.frames)


def test_energy_is_conserved():
    """Elastic walls and collisions under gravity: kinetic + potential energy stays constant."""
    cfg = WorldConfig(num_balls=4, fps=30, substeps=20)
    clips = BallWorld(cfg).generate(8, 60, seed=3)
    mass = clips.radii ** 2  # the world's masses are ∝ area
    speed2 = (clips.velocities ** 2).sum(-1)  # [B, T, K]
    height = -clips.positions[..., 1]  # y grows downwards
    energy = (mass[:, None] * (0.5 * speed2 + cfg.gravity * height)).sum(-1)  # [B, T]
    drift = np.abs(energy - energy[:, :1]).max() / np.abs(energy).mean()
    assert drift < 0.03, drift
    assert clips.collisions.any() and clips.walls.any()


def test_wall_events_match_velocity_flips():
    cfg = WorldConfig(num_balls=3, gravity=0.0, fps=24, substeps=8)
    clips = BallWorld(cfg).generate(16, 40, seed=4)
    vx = clips.velocities[..., 0]
    flips = np.sign(vx[:, 1:]) != np.sign(vx[:, :-1])  # [B, T-1, K]
    side = clips.walls[:, 1:, :, 0] | clips.walls[:, 1:, :, 1]
    collided = clips.collisions[:, 1:].any(-1)
    assert side.sum() > 10
    assert (flips[side] | collided[side]).all()  # every left/right bounce flips vx (unless a collision did too)
    assert ((flips & ~side) <= collided).all()  # no flip without a bounce or a collision
    # balls stay inside the box
    r = clips.radii[:, None, :]
    assert (clips.positions[..., 0] >= r - 1e-4).all() and (clips.positions[..., 0] <= 1 - r + 1e-4).all()


def test_render_and_depth_agree_with_state():
    cfg = WorldConfig(num_balls=2, depths=(1.0, 2.0))
    world = BallWorld(cfg, image_size=64)
    clips = world.generate(6, 3, seed=5, depth=True)
    far = max(cfg.depths) + 1.0
    for b in range(6):
        for k in range(2):
            x, y = clips.positions[b, 0, k]
            px, py = int(x * 64), int(y * 64)
            # the centre pixel is nearer than the background, at about the ball's layer depth
            assert clips.depth[b, 0, py, px] < far
            assert clips.depth[b, 0, py, px] <= clips.layers[b, k] + 1e-5
    # a clip's first frame renders exactly as render() of its state
    frames, _ = world.render(clips.positions[:, :1], clips.radii, clips.layers, clips.occluder)
    assert np.array_equal(frames[:, 0], clips.frames[:, 0])


def test_occluder_hides_what_is_behind_it():
    clips = BallWorld(WorldConfig(occluder=1.0)).generate(4, 2, seed=6, depth=True)
    for b in range(4):
        left = int(np.ceil(clips.occluder[b] * 64))
        column = clips.frames[b, 0, :, left + 2]
        assert (column == column[0]).all()  # flat occluder colour, whatever the balls do
        assert np.allclose(clips.depth[b, 0, :, left + 2], 0.8)

"""Bring your own robot: episodes from your own logs → a world model → actions toward a goal image.

    python examples/own_robot.py --out runs/own-robot [--steps 300]

Your robot is stood in for here by a planar two-link arm drawn from above (joint angles are its
proprio, joint-velocity commands its 2-D actions, a 64×64 camera image its observation), so that the
script runs anywhere; replace `record_episodes` with your own log reader. Everything after it is
what you would run on real data:

1. write the episodes in the store format (docs/episodes.md): `write_meta` declares the camera size,
   the action dimension and bounds and the proprio dimension; `write_episode` writes one episode;
2. train the compact world model on that folder (`train_world_model`, or `worldjepa train-wm`);
3. plan: encode the current image and the goal image, let CEM find the action chunk sequence of
   lowest energy, send the first chunk to the robot, repeat (a receding-horizon loop).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from worldjepa.config import load_world_model
from worldjepa.data.episodes import StoreMeta, write_episode, write_meta
from worldjepa.dynamics.model import load_world_model as load_run
from worldjepa.dynamics.model import train_world_model
from worldjepa.planning.solvers import make_solver
from worldjepa.worlds.acting import disk_mask, paint

SIZE, LINKS, MAX_SPEED = 64, (0.22, 0.18), 0.15  # camera pixels, link lengths, rad per step at |a| = 1


def draw_arm(q: np.ndarray) -> np.ndarray:
    """A top-down picture of the arm at joint angles q (the stand-in camera)."""
    canvas = np.full((SIZE, SIZE, 3), 245.0, np.float32)
    base = np.array([0.5, 0.5])
    elbow = base + LINKS[0] * np.array([np.cos(q[0]), np.sin(q[0])])
    hand = elbow + LINKS[1] * np.array([np.cos(q[0] + q[1]), np.sin(q[0] + q[1])])
    for a, b, color in ((base, elbow, (60, 60, 70)), (elbow, hand, (80, 120, 220))):
        for s in np.linspace(0, 1, 12):
            paint(canvas, disk_mask(SIZE, a + s * (b - a), 1.6), color)
    paint(canvas, disk_mask(SIZE, hand, 2.5), (230, 60, 40))
    return (canvas + 0.5).astype(np.uint8)


def record_episodes(out: Path, episodes: int, steps: int, seed: int = 0) -> None:
    """Stand-in for your log reader: random smooth joint-velocity commands."""
    write_meta(out, StoreMeta(world="my-arm", image_size=SIZE, action_dim=2, action_low=[-1.0, -1.0],
                              action_high=[1.0, 1.0], proprio_dim=2))
    rng = np.random.default_rng(seed)
    for i in range(episodes):
        q = rng.uniform(-np.pi, np.pi, 2)
        a_prev = np.zeros(2)
        frames, actions, proprio = [draw_arm(q)], [], [q.copy()]
        for _ in range(steps):
            a_prev = np.clip(0.8 * a_prev + 0.6 * rng.standard_normal(2), -1, 1)
            q = q + MAX_SPEED * a_prev
            frames.append(draw_arm(q))
            actions.append(a_prev.copy())
            proprio.append(q.copy())
        write_episode(out, i, np.stack(frames), np.stack(actions), np.stack(proprio))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/own-robot")
    ap.add_argument("--episodes", type=int, default=300)
    ap.add_argument("--steps", type=int, default=300, help="training steps")
    ap.add_argument("overrides", nargs="*", help="world-model config overrides, e.g. data.batch_size=32")
    args = ap.parse_args(argv)
    out = Path(args.out)

    record_episodes(out / "episodes", args.episodes, steps=40)  # 1. your data, in the store format
    cfg = load_world_model("wm-two-rooms", [f"train.steps={args.steps}", "world=my-arm", *args.overrides])
    train_world_model(cfg, out / "episodes", out / "run", progress=False)  # 2. the world model

    model, cfg, _ = load_run(out / "run")  # 3. plan toward a goal image, receding horizon
    solver = make_solver(cfg.plan)
    rng = np.random.default_rng(1)
    q, q_goal = rng.uniform(-np.pi, np.pi, 2), rng.uniform(-np.pi, np.pi, 2)
    z_goal = model.encode(draw_arm(q_goal)[None])
    hand = lambda q: np.array([np.cos(q[0]), np.sin(q[0])]) * LINKS[0] + \
        np.array([np.cos(q[0] + q[1]), np.sin(q[0] + q[1])]) * LINKS[1]  # noqa: E731
    start_error = float(np.linalg.norm(hand(q) - hand(q_goal)))
    for _ in range(8):
        plan = solver.solve(model, model.encode(draw_arm(q)[None]), z_goal)
        for a in plan.actions[0, 0].reshape(-1, 2).numpy():  # the first chunk: frame-skip actions
            q = q + MAX_SPEED * np.clip(a, -1, 1)  # ← send `a` to your robot here
    result = {"hand_error_start": start_error, "hand_error_end": float(np.linalg.norm(hand(q) - hand(q_goal)))}
    print(result)
    return result


if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    main()

"""Bring your own robot: episodes from your own logs → a world model → actions toward a goal image.

    python examples/own_robot.py --out runs/own-robot [--episodes 1000] [--steps 1500] [--goals 20]

Your robot is stood in for here by a planar two-link arm drawn from above (joint angles are its
proprio, joint-velocity commands its 2-D actions, a 64×64 camera image its observation), so that the
script runs anywhere; replace `record_episodes` with your own log reader. Everything after it is
what you would run on real data:

1. write the episodes in the store format (docs/episodes.md): `write_meta` declares the camera size,
   the action dimension and bounds and the proprio dimension; `write_episode` writes one episode;
2. train the compact world model on that folder (`train_world_model`, or `worldjepa train-wm`), with the
   joint readings as proprio;
3. plan: encode the current image and the goal image, let CEM find the action chunk sequence of
   lowest energy plus an action cost (the smallest motion that gets there), send the first chunk to the
   robot, repeat (a receding-horizon loop); here for `--goals` goal poses at once, reporting how many end
   with the hand within SUCCESS of the goal's (18 / 20 at the defaults: docs/episodes.md). For one robot
   at a time, `worldjepa.planning.agent.Agent` is the same loop behind `act(observation, goal)`.
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
from worldjepa.planning.evaluate import plan_overrides
from worldjepa.planning.mpc import shift
from worldjepa.planning.solvers import make_solver
from worldjepa.worlds.acting import disk_mask, paint

SIZE, LINKS, MAX_SPEED = 64, (0.22, 0.18), 0.15  # camera pixels, link lengths, rad per step at |a| = 1
SUCCESS = 0.05  # hand within this distance of the goal's hand position (image widths)
# what this robot needs beyond the two-rooms preset (docs/episodes.md): the joint readings as proprio, and a
# planner that prefers the smallest motion over two chunks (the model's errors grow with the motion)
ROBOT = ["model.use_proprio=true", "plan.horizon=2", "plan.action_weight=20"]


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


def hand(q: np.ndarray) -> np.ndarray:
    """Hand positions [..., 2] of joint angles q [..., 2], relative to the base."""
    first, both = q[..., 0], q[..., 0] + q[..., 1]
    return np.stack([np.cos(first) * LINKS[0] + np.cos(both) * LINKS[1],
                     np.sin(first) * LINKS[0] + np.sin(both) * LINKS[1]], axis=-1)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/own-robot")
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=1500, help="training steps")
    ap.add_argument("--goals", type=int, default=20, help="goal poses to plan to, all at once")
    ap.add_argument("--budget", type=int, default=50, help="robot steps per goal")
    ap.add_argument("overrides", nargs="*", help="world-model config overrides, e.g. data.batch_size=32")
    args = ap.parse_args(argv)
    out = Path(args.out)

    if not (out / "episodes" / "meta.json").exists():
        record_episodes(out / "episodes", args.episodes, steps=40)  # 1. your data, in the store format
    cfg = load_world_model("wm-two-rooms", [f"train.steps={args.steps}", "world=my-arm", *ROBOT, *args.overrides])
    train_world_model(cfg, out / "episodes", out / "run", progress=False)  # 2. the world model (resumable)

    # 3. plan toward goal images in a receding-horizon loop, one problem per goal, solved together.
    # A goal is where 20 random steps lead (a pose the arm can reach within the budget).
    plan_items = [o.removeprefix("plan.") for o in (*ROBOT, *args.overrides) if o.startswith("plan.")]
    model, cfg, _ = load_run(out / "run", plan_overrides(plan_items))  # plan.* overrides apply to a trained run too
    solver = make_solver(cfg.plan)
    rng = np.random.default_rng(1)
    q = rng.uniform(-np.pi, np.pi, (args.goals, 2))
    q_goal = q + MAX_SPEED * np.cumsum(rng.uniform(-1, 1, (20, args.goals, 2)), axis=0)[-1]
    z_goal = model.encode(np.stack([draw_arm(g) for g in q_goal]))
    start = np.linalg.norm(hand(q) - hand(q_goal), axis=-1)
    previous = None
    for call, _ in enumerate(range(0, args.budget, cfg.data.frameskip)):
        z = model.encode(np.stack([draw_arm(x) for x in q]))
        proprio = torch.as_tensor(q, dtype=torch.float32) if model.proprio_dim else None  # the joint readings
        plan = solver.solve(model, z, z_goal, init=previous, seed=cfg.plan.seed + call, proprio0=proprio)
        chunk = plan.actions[:, 0].reshape(args.goals, cfg.data.frameskip, 2).numpy()
        for k in range(cfg.data.frameskip):  # the first chunk: frame-skip actions
            q = q + MAX_SPEED * np.clip(chunk[:, k], -1, 1)  # ← send `chunk[i, k]` to your robot here
        previous = shift(plan.actions, 1, model.action_low, model.action_high)  # warm start for the next plan
    end = np.linalg.norm(hand(q) - hand(q_goal), axis=-1)
    result = {"goals": args.goals, "hand_error_start": float(start.mean()), "hand_error_end": float(end.mean()),
              "success_rate": float((end < SUCCESS).mean()), "success_radius": SUCCESS,
              "closer_than_at_start": int((end < start).sum()),
              "hand_error_end_each": end.tolist()}
    print(result)
    return result


if __name__ == "__main__":
    main()

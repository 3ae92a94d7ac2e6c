"""Planner-in-the-loop data: episodes driven by a trained world model's own MPC, added to an episode store.

A world model trained on scripted pushes and random walks is judged by a planner that searches thousands
of action sequences and keeps the ones the model scores best, which are often the ones it gets wrong
(optimistic predictions of contacts it has rarely seen). Running the planner in the world and training
on what really happened shows the model exactly those cases: the data-aggregation loop of DAgger and of
iterative model-based RL (PETS, PlaNet, TD-MPC collect with their planner). One round:

    worldjepa collect --world push --planner runs/wm-push --episodes 300 --out runs/data-push
    worldjepa train-wm --config wm-push --data runs/data-push --out runs/wm-push-r1 --init runs/wm-push

Tasks come from the world's `sample_task` with generator seed (seed, i), not the `plan` command's stream,
so collected goals are not the evaluation's goals. Every episode runs the whole budget (after the goal is
reached the planner holds it, which is data too), with Gaussian exploration noise on the actions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..data.episodes import StoreMeta, read_meta, write_episode, write_meta
from ..dynamics.model import load_world_model
from ..worlds import make_world
from ..worlds.collect import store_meta
from .mpc import run_mpc
from .solvers import make_solver


def next_index(out: Path, meta: StoreMeta) -> int:
    """First free episode index of store `out` (0 for a new one); an existing store must hold the same
    world, image size and action space, or adding to it would mix data that cannot train together."""
    if not (out / "meta.json").exists():
        write_meta(out, meta)
        return 0
    have = read_meta(out)
    for key in ("world", "image_size", "action_dim", "action_low", "action_high", "proprio_dim"):
        if getattr(have, key) != getattr(meta, key):
            raise ValueError(f"{out} holds {key}={getattr(have, key)!r} episodes but the planner's world gives "
                             f"{getattr(meta, key)!r}: write to another folder")
    names = [p.name.split(".")[0] for p in (out / "episodes").glob("*.npz") if not p.name.endswith(".tmp.npz")]
    return max((int(n) for n in names if n.isdigit()), default=-1) + 1


def collect_with_planner(run_dir: str | Path, out: str | Path, episodes: int, seed: int = 1, explore: float = 0.1,
                         plan_overrides: dict[str, Any] | None = None, batch: int = 50,
                         progress: bool = True, device: str | None = None) -> dict[str, Any]:
    """Add `episodes` planner-driven episodes of the run's world to store `out`; returns a summary with the
    planner's success rate on these (training) goals."""
    if episodes < 1:
        raise ValueError(f"--episodes must be at least 1, got {episodes}")
    if explore < 0:
        raise ValueError(f"exploration noise must be ≥ 0, got {explore}")
    model, cfg, smeta = load_world_model(run_dir, plan_overrides, device=device)
    out = Path(out)
    meta = store_meta(make_world(smeta.world, image_size=cfg.image_size), smeta.world,
                      {"steps_per_episode": cfg.plan.budget, "source": "planner"})
    first = next_index(out, meta)
    solver = make_solver(cfg.plan)
    successes = []
    bar = tqdm(total=episodes, desc=f"collect {smeta.world} (planner)", disable=not progress, unit="ep")
    for start in range(0, episodes, batch):
        n = min(batch, episodes - start)
        worlds = [make_world(smeta.world, image_size=cfg.image_size) for _ in range(n)]
        tasks = [worlds[0].sample_task(np.random.default_rng([seed, start + i])) for i in range(n)]
        result = run_mpc(worlds, tasks, model, solver, cfg.plan, cfg.data.frameskip, record=n, progress=False,
                         seed=seed * 1_000_003 + start, stop_at_goal=False, explore=explore)
        for i, e in enumerate(result.episodes):
            write_episode(out, first + start + i, np.stack(e.frames), np.stack(e.actions), np.stack(e.proprio),
                          np.stack(e.states))
            successes.append(e.success)
        bar.update(n)
        bar.set_postfix(success=f"{np.mean(successes):.2f}")
    bar.close()
    return {"episodes": episodes, "first_index": first, "planner_success": float(np.mean(successes)),
            "explore": explore, "out": str(out)}

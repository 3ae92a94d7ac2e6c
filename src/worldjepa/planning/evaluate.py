"""Planning success of a trained world model in its world: the `worldjepa plan` command.

Tasks (start and goal states) come from the world's `sample_task` with a seeded generator, so two
runs with the same seed plan the same episodes. Writes `results.json`, `episodes.mp4` (a few episodes,
each frame beside its goal) and `planning.png` (distance to the goal over time for every episode,
and the planned energy at each re-plan).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..config import PlanConfig, WorldModelConfig, apply_override, from_dict, to_dict
from ..device import resolve_device
from ..dynamics.ensemble import EnsembleWorldModel
from ..data.episodes import EpisodeStore, StoreMeta
from ..dynamics.generative import EmbeddedCost
from ..dynamics.model import load_world_model
from ..dynamics.protocol import WorldModel
from ..worlds import make_world
from ..worlds.acting import ActingWorld, Task
from ..worlds.corrupt import Corruption, CorruptedWorld
from .goals import dataset_tasks
from .mpc import MPCResult, run_mpc
from .solvers import make_solver


def plan_overrides(items: list[str]) -> dict[str, Any]:
    """`key=value` strings → checked PlanConfig fields (unknown keys name the closest one): the
    config's own override mechanism, applied under `plan.`."""
    data: dict[str, Any] = {}
    for item in items:
        apply_override(data, item if item.startswith("plan.") else f"plan.{item}", WorldModelConfig)
    given = data.get("plan", {})
    checked = from_dict(PlanConfig, given, "plan")
    return {k: getattr(checked, k) for k in given}


def planning_model(run_dir: str | Path, plan_overrides: dict[str, Any] | None = None,
                   ensemble: list[str | Path] | None = None, device: str | None = None,
                   cost_model: str | Path | None = None) -> tuple[WorldModel, WorldModelConfig, StoreMeta]:
    """The world model `plan` plans with: the run's, measured in `cost_model`'s latent space (dynamics/
    generative.py's EmbeddedCost) or planned together with the runs of `ensemble` (dynamics/ensemble.py); with
    the run's config (its plan section changed by `plan_overrides`) and store metadata."""
    model, cfg, smeta = load_world_model(run_dir, plan_overrides, device=device)
    if cost_model is not None:
        embedder, _, emeta = load_world_model(cost_model, plan_overrides, device=device)
        if emeta.world != smeta.world:
            raise ValueError(f"the cost model {cost_model} was trained on {emeta.world!r} data, {run_dir} on "
                             f"{smeta.world!r}")
        model = EmbeddedCost(model, embedder)
    if ensemble:
        members = [model]
        for other in ensemble:
            m, _, ometa = load_world_model(other, plan_overrides, device=device)
            if ometa.world != smeta.world:
                raise ValueError(f"ensemble member {other} was trained on {ometa.world!r} data, {run_dir} on "
                                 f"{smeta.world!r}: members must model the same world")
            members.append(m)
        model = EnsembleWorldModel(members, cfg.plan.disagreement)
    return model, cfg, smeta


def draw_tasks(world: ActingWorld, count: int, seed: int, goals: str | Path | None = None,
               goal_offset: int = 25) -> list[Task]:
    """The tasks `plan` draws with its seed: the world's own, or goals `goal_offset` steps ahead on the recorded
    episodes of the store `goals` (the field's protocol)."""
    rng = np.random.default_rng(seed)
    if goals is not None:
        return dataset_tasks(EpisodeStore(goals, image_size=world.image_size), world, count, goal_offset, rng)
    return [world.sample_task(rng) for _ in range(count)]


def evaluate_planning(run_dir: str | Path, out: str | Path | None = None, episodes: int | None = None,
                      plan_overrides: dict[str, Any] | None = None, record: int = 4, progress: bool = True,
                      world: str | None = None, ensemble: list[str | Path] | None = None,
                      device: str | None = None, goals: str | Path | None = None,
                      goal_offset: int = 25, corruption: Corruption | None = None,
                      cost_model: str | Path | None = None) -> dict[str, Any]:
    """Plan `episodes` goal episodes with the world model of `run_dir` (with `ensemble`, more runs of the
    same world planned together with it: dynamics/ensemble.py) and write results.json, a video of the
    first `record` episodes and a plot of distance and energy over time into `out`. With `corruption`, the
    model sees every observation and goal through it (worlds/corrupt.py); with `cost_model`, a pixel model's
    energy is measured in that world-model run's latent space (dynamics/generative.py's EmbeddedCost)."""
    model, cfg, smeta = planning_model(run_dir, plan_overrides, ensemble, device, cost_model)
    plan = cfg.plan
    if episodes is not None:
        plan = dataclasses.replace(plan, episodes=episodes)
    name = world or smeta.world
    if world and world != smeta.world:
        raise ValueError(f"this world model was trained on {smeta.world!r} data, not {world!r}")
    worlds = [make_world(name, image_size=cfg.image_size) for _ in range(plan.episodes)]
    if corruption is not None:
        worlds = [CorruptedWorld(w, corruption, seed=plan.seed + i) for i, w in enumerate(worlds)]
    tasks = draw_tasks(worlds[0], plan.episodes, plan.seed, goals, goal_offset)
    result = run_mpc(worlds, tasks, model, make_solver(plan), plan, cfg.data.frameskip, record=record,
                     progress=progress, seed=plan.seed)
    summary = {"world": name, "run": str(run_dir), **result.summary(), "plan": to_dict(plan),
               "frameskip": cfg.data.frameskip, "success_radius": worlds[0].success_radius,
               "precision": plan.precision, "device": str(resolve_device(device or cfg.train.device)),
               **({"goals": str(goals), "goal_offset": goal_offset} if goals is not None else {}),
               **({"corruption": corruption.name} if corruption is not None else {}),
               **({"cost_model": str(cost_model)} if cost_model is not None else {}),
               **({"ensemble": [str(run_dir), *map(str, ensemble)]} if ensemble else {})}
    if summary["success_rate"] is None:
        summary["not_judged"] = (f"{name} has neither a settable state nor a success signal (info['is_success']): "
                                 f"success is not judged; the distance is the RMS pixel difference to the goal image")
    out = Path(out) if out else Path(run_dir) / "plan"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    video = (save_episode_video(result, [w.goal_image(t) for w, t in zip(worlds, tasks)], out / "episodes.mp4")
             if record else None)
    planning_figure(result, worlds[0].success_radius, out / "planning.png")
    summary["out"], summary["files"] = str(out), ["results.json", "planning.png"] + ([video.name] if video else [])
    return summary


def format_plan(s: dict) -> str:
    """The summary of `evaluate_planning` in two lines, for the terminal."""
    p = s["plan"]
    success = "not judged" if s["success_rate"] is None else f"{s['success_rate']:.1%}"
    return (f"{s['world']}: success {success} over {s['episodes']} episodes; final distance mean "
            f"{s['final_distance_mean']:.3f} (success radius {s['success_radius']}); planning "
            f"{s['seconds_per_plan'] * 1000:.0f} ms per step per episode ({s['seconds_per_call']:.2f} s per batched "
            f"call); {p['solver']} {p['samples']}x{p['iterations']} horizon {p['horizon']}, {p['precision']}, "
            f"seed {p['seed']}"
            + "".join(f"; by {k}: {v:.1%}" for k, v in s.get("success_by", {}).items())
            + (f"; ensemble of {len(s['ensemble'])} models, disagreement {p['disagreement']}" if "ensemble" in s else "")
            + (f"\n{s['not_judged']}" if "not_judged" in s else "")
            + f"\nwrote {s['out']}/" + ", ".join(s.get("files", ["results.json", "planning.png"])))


def save_episode_video(result: MPCResult, goals: list[np.ndarray], path: Path, scale: int = 3) -> Path | None:
    from ..data.video import write_video

    clips = []
    for e, goal in zip(result.episodes, goals):
        if not e.frames:
            continue
        for f in e.frames + [e.frames[-1]] * 5:  # hold the last frame a moment
            pair = np.concatenate([f, np.full((f.shape[0], 2, 3), 255, np.uint8), goal], axis=1)
            clips.append(pair.repeat(scale, 0).repeat(scale, 1))
    if not clips:
        return None
    frames = np.stack(clips)
    pad_h, pad_w = (-frames.shape[1]) % 2, (-frames.shape[2]) % 2  # the h264 encoder wants even sizes
    frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
    write_video(path, frames, fps=10.0)
    return path


def planning_figure(result: MPCResult, radius: float, path: Path) -> Path:
    from ..plots import pyplot, save_figure

    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for e in result.episodes:
        a.plot(e.distances, color="tab:green" if e.success else "tab:red", alpha=0.5, lw=1)
    a.axhline(radius, color="k", ls="--", lw=1, label="success radius")
    a.set_xlabel("environment step")
    a.set_ylabel("distance to goal")
    rate = result.success_rate
    a.set_title(f"{len(result.episodes)} episodes, success " + ("not judged" if rate is None else f"{rate:.0%}"))
    a.legend()
    for e in result.episodes:
        if e.energies:
            b.plot(e.energies, color="tab:green" if e.success else "tab:red", alpha=0.5, lw=1)
    b.set_yscale("symlog", linthresh=1e-3)
    b.set_xlabel("re-plan")
    b.set_ylabel("planned energy")
    b.set_title("energy of the chosen plan")
    return save_figure(fig, path)

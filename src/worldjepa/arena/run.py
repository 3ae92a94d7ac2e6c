"""`worldjepa arena`: the three paradigms on the same data, trainer, planner and budget (docs/arena.md).

For each world and seed: one episode store (the last fifth of its episodes held out), the JEPA world model of the
world's preset (`wm-WORLD`, compact form) and the autoregressive and diffusion baselines sized to its trainable
parameters (arena/sizes.py), each trained for the same steps on the same batches; then, per model, a state
reader on its encodings of real frames (arena/readers.py), the open-loop error against horizon on held-out
windows (arena/horizon.py), planning success with one shared, reduced CEM budget, and the cost (parameters,
training time, time per plan). Writes results.json, a table (table.md) and the error against horizon with its
spread across seeds (horizon.png).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import WorldModelConfig, apply_override, from_dict, read_yaml_config
from ..data.episodes import EpisodeStore
from ..dynamics.model import load_world_model, train_world_model
from ..planning.evaluate import evaluate_planning, plan_overrides
from ..worlds import make_world
from ..worlds.collect import collect, store_meta
from .horizon import held_out_windows, rollout_errors, train_reader
from .sizes import matched, trainable

FORMS = ("compact", "autoregressive", "diffusion")


@dataclass
class Scale:
    """How big an arena run is: data, training, readers and the shared planning budget."""

    image_size: int = 64
    episodes: int = 400
    steps_per_episode: int = 50
    train_steps: int = 600
    batch_size: int = 32
    reader_steps: int = 800
    windows_per_episode: int = 4
    plan_episodes: int = 10
    plan: dict[str, Any] = field(default_factory=lambda: {"samples": 32, "iterations": 3, "elites": 4, "horizon": 2,
                                                          "budget": 30})
    model: list[str] = field(default_factory=list)  # overrides of every model's config (the JEPA one is sized by them)


QUICK = Scale(image_size=32, episodes=60, steps_per_episode=16, train_steps=4, batch_size=4, reader_steps=600,
              windows_per_episode=4, plan_episodes=1,
              plan={"samples": 4, "iterations": 1, "elites": 2, "horizon": 1, "budget": 5},
              model=["model.depth=1", "model.width=32", "model.heads=2", "model.token_dim=4", "model.projector_hidden=64",
                     "model.latent_dim=16", "model.predictor_depth=1", "model.predictor_width=32",
                     "model.predictor_heads=2", "model.codes=16", "model.tokenizer_channels=[8,8]",
                     "train.precision=fp32", "objective.sigreg_slices=64"])


def parse_seeds(text: str) -> list[int]:
    """`3` → [0, 1, 2]; `0,4,7` → those seeds. A clear error for anything else."""
    try:
        seeds = [int(s) for s in text.split(",")] if "," in text else list(range(int(text)))
    except ValueError:
        raise ValueError(f"--seeds takes a count (3) or a comma-separated list of seeds (0,4,7), got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds):
        raise ValueError(f"--seeds needs at least one non-negative seed, got {text!r}")
    return seeds


def arena_configs(world: str, scale: Scale, meta, train_episodes: int) -> dict[str, tuple[WorldModelConfig, int, int]]:
    """Each paradigm's config for `world`, with its trainable parameters and the JEPA model's (the target);
    a baseline outside the band stops here, before any training. No model reads proprio (the baselines cannot,
    and the JEPA model would be given the state it is judged on); all train on the first `train_episodes`."""
    data = read_yaml_config(f"wm-{world}")
    if data.get("world") != world:
        raise ValueError(f"the preset wm-{world} is for the world {data.get('world')!r}, not {world!r}")
    for item in [f"image_size={scale.image_size}", f"train.steps={scale.train_steps}", "model.use_proprio=false",
                 f"data.limit={train_episodes}", "plan.precision=fp32",
                 f"data.batch_size={scale.batch_size}", "train.checkpoint_every=100000",
                 f"train.log_every={max(10, scale.train_steps // 12)}",  # the baselines' monitors generate frames
                 *(["optim.warmup_steps=0"] if scale.train_steps < 100 else []), *scale.model]:
        apply_override(data, item, WorldModelConfig)
    base = from_dict(WorldModelConfig, data)
    target = trainable(base, meta)
    out = {"compact": (base, target, target)}
    for form in FORMS[1:]:
        out[form] = matched(base, meta, form)
    return out


def run_arena(worlds: list[str], seeds: list[int], out: str | Path, scale: Scale = Scale(),
              progress: bool = True, device: str | None = None) -> dict[str, Any]:
    say = print if progress else (lambda *a, **k: None)
    split = max(1, scale.episodes * 4 // 5)  # the models and readers train on the first 4/5; the rest is held out
    # every world's three configs (and the parameter band) first, before anything is collected or trained
    configs = {world: arena_configs(world, scale, store_meta(make_world(world, image_size=scale.image_size), world, {}),
                                    split) for world in worlds}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"worlds": {}, "scale": dataclasses.asdict(scale), "seeds": seeds,
                               "held_out_episodes": scale.episodes - split}
    for world in worlds:
        data = out / world / "data"
        if not (data / "meta.json").exists():
            say(f"arena: collecting {scale.episodes} episodes of {world}")
            collect(make_world(world, image_size=scale.image_size), world, data, scale.episodes,
                    scale.steps_per_episode, progress=progress)
        store = EpisodeStore(data)
        if len(store) != scale.episodes:
            raise ValueError(f"{data} holds {len(store)} readable episodes, not {scale.episodes}: delete it to collect "
                             "again")
        rows = []
        for seed in seeds:
            for form, (cfg, params, target) in configs[world].items():
                cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed,
                                                                         device=device or cfg.train.device))
                run = out / world / f"{form}-seed{seed}"
                say(f"arena: {world}, seed {seed}: training {form} ({params:,} trainable parameters)")
                start = time.perf_counter()
                train_world_model(cfg, data, run, progress=progress)
                train_seconds = time.perf_counter() - start
                rows.append(_measure(world, form, seed, run, store, split, cfg, scale, params, target, train_seconds,
                                     out, progress, device))
        results["worlds"][world] = rows
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "table.md").write_text(format_table(results))
    horizon_figure(results, out / "horizon.png")
    say(format_table(results))
    return results


def _measure(world, form, seed, run, store, split, cfg, scale, params, target, train_seconds, out, progress,
             device) -> dict:
    model, _, _ = load_world_model(run, {"precision": "fp32"}, device=device)
    length, skip = cfg.data.window, cfg.data.frameskip
    test = held_out_windows(store, range(split, len(store)), length, skip, scale.windows_per_episode, seed + 1)
    reader = train_reader(model, store, range(0, split), range(split, len(store)), steps=scale.reader_steps, seed=seed)
    row = {"world": world, "form": form, "seed": seed, "trainable_parameters": params, "jepa_parameters": target,
           "train_seconds": train_seconds, "reader_r2": reader.held_out_r2}
    if reader.held_out_r2 >= reader.min_r2:
        row["rollout_error"] = rollout_errors(model, reader, test).tolist()
    else:
        row["rollout_error"] = None
        row["not_judged"] = (f"its state reader reads the state off its encodings of held-out real frames with R² "
                             f"{reader.held_out_r2:.3f} < 0.9: its predictions are not judged")
    plan = evaluate_planning(run, out / world / f"plan-{form}-seed{seed}", episodes=scale.plan_episodes,
                             plan_overrides=_plan(scale), record=0, progress=progress, device=device)
    row.update({"success_rate": plan["success_rate"], "final_distance_mean": plan["final_distance_mean"],
                "seconds_per_plan": plan["seconds_per_plan"]})
    return row


def _plan(scale: Scale) -> dict[str, Any]:
    return plan_overrides([f"{k}={v}" for k, v in scale.plan.items()] + ["precision=fp32"])


def format_table(results: dict) -> str:
    lines = []
    for world, rows in results["worlds"].items():
        lines += [f"## {world}", "", "| model | parameters | train s | reader R² | error h=1 | error h=last | success | s per plan |",
                  "|---|---|---|---|---|---|---|---|"]
        for form in FORMS:
            mine = [r for r in rows if r["form"] == form]
            if not mine:
                continue

            def spread(values):
                values = [v for v in values if v is not None]
                if not values:
                    return "—"
                return f"{np.mean(values):.3g} ± {np.std(values):.2g}" if len(values) > 1 else f"{values[0]:.3g}"

            errors = [r["rollout_error"] for r in mine if r["rollout_error"]]
            lines.append(f"| {form} | {mine[0]['trainable_parameters']:,} | {spread([r['train_seconds'] for r in mine])} "
                         f"| {spread([r['reader_r2'] for r in mine])} | {spread([e[0] for e in errors])} "
                         f"| {spread([e[-1] for e in errors])} | {spread([r['success_rate'] for r in mine])} "
                         f"| {spread([r['seconds_per_plan'] for r in mine])} |")
        lines.append("")
    return "\n".join(lines)


def horizon_figure(results: dict, path: Path) -> Path:
    from ..plots import pyplot

    plt = pyplot()
    worlds = list(results["worlds"])
    fig, axes = plt.subplots(1, len(worlds), figsize=(5 * len(worlds), 3.6), squeeze=False)
    for ax, world in zip(axes[0], worlds):
        for form in FORMS:
            curves = [r["rollout_error"] for r in results["worlds"][world] if r["form"] == form and r["rollout_error"]]
            if not curves:
                continue
            curves = np.array(curves)
            h = np.arange(1, curves.shape[1] + 1)
            ax.plot(h, curves.mean(0), marker="o", label=f"{form} ({len(curves)} seeds)")
            ax.fill_between(h, curves.min(0), curves.max(0), alpha=0.2)
        ax.set(title=world, xlabel="steps ahead (open loop)", ylabel="state error")
        if ax.lines:
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no state reader reached R² 0.9", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""`worldjepa arena`: the three paradigms on the same data, trainer, planner and budget (docs/arena.md).

For each world and seed: one episode store (the last fifth of its episodes held out), the JEPA world model of the
world's preset (`wm-WORLD`, compact form) and the autoregressive and diffusion baselines sized to its trainable
parameters (arena/sizes.py), each trained for the same steps on the same batches; then, per model, a state
reader on its encodings of real frames (arena/readers.py), the open-loop error against horizon on held-out
windows (arena/horizon.py), planning success with one shared, reduced CEM budget (the pixel models planned twice:
by distance in pixels and in the JEPA model's embedding), both again with the frames corrupted by noise and by
moving distractors (worlds/corrupt.py), surprise on impossible transitions (arena/surprise.py) and the cost
(parameters, training time, time per plan). Writes results.json, table.md, the plots and report.html
(arena/page.py). A run folder that already holds a trained model is measured, not trained again.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import WorldModelConfig, apply_override, from_dict, read_yaml_config, to_dict
from ..data.episodes import EpisodeStore
from ..dynamics.model import load_world_model, train_world_model
from ..planning.evaluate import evaluate_planning, plan_overrides
from ..train.checkpoint import CHECKPOINT, read_checkpoint_meta
from ..worlds import make_world
from ..worlds.collect import collect, store_meta
from ..worlds.corrupt import Corruption
from .horizon import held_out_windows, rollout_errors, train_reader
from .page import EMBEDDING, FORMS, write_page
from .readers import FRAME_READERS
from .sizes import matched, trainable
from .surprise import KINDS, impossible_pairs, surprise_test



@dataclass
class Scale:
    """How big an arena run is: data, training, readers, measurements and the shared planning budget."""

    image_size: int = 64
    episodes: int = 400
    steps_per_episode: int = 50
    train_steps: int = 600
    batch_size: int = 32
    reader_steps: int = 800
    frame_reader: str = "conv"  # how frames are read ("keypoints" for scenes of several objects: push-t)
    horizon: int = 8  # model steps of the open-loop rollouts judged (held-out windows of horizon + 1 frames)
    windows_per_episode: int = 1
    plan_episodes: int = 10
    # the shared CEM budget, reduced for the token-by-token and denoising samplers so that three seeds fit in 90 min
    # on 2 cores: each plan's 2 model steps are both executed (docs/arena.md)
    plan: dict[str, Any] = field(default_factory=lambda: {"samples": 16, "iterations": 2, "elites": 4, "horizon": 2,
                                                          "execute": 2, "budget": 30})
    precision: str = "bf16"  # of every model's rollouts, readers' inputs and plans
    corruptions: list[str] = field(default_factory=lambda: ["noise=0.1", "distractors=2"])  # beside clean frames
    event: int = 4  # the frame of the impossible event in the surprise windows (of horizon + 1 frames)
    model: list[str] = field(default_factory=list)  # overrides of every model's config (the JEPA one is sized by them)


QUICK = Scale(image_size=32, episodes=60, steps_per_episode=16, train_steps=4, batch_size=4, reader_steps=600,
              horizon=3, windows_per_episode=4, plan_episodes=1, precision="fp32",
              plan={"samples": 4, "iterations": 1, "elites": 2, "horizon": 1, "budget": 5}, event=2,
              model=["model.depth=1", "model.width=32", "model.heads=2", "model.token_dim=4", "model.projector_hidden=64",
                     "model.latent_dim=16", "model.predictor_depth=1", "model.predictor_width=32",
                     "model.predictor_heads=2", "model.codes=16", "model.tokenizer_channels=[8,8]",
                     "train.precision=fp32", "objective.sigreg_slices=64"])


def training_split(episodes: int) -> int:
    """How many of a store's first episodes the models and readers train on (4/5); the rest is held out."""
    return max(1, episodes * 4 // 5)


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
    a baseline outside the band stops here, before any training. No model reads proprio or learns from it (the
    baselines cannot; the JEPA model would be given, or by a proprio anchor such as wm-push-t's taught, the state it
    is judged on); all train on the first `train_episodes`."""
    data = read_yaml_config(f"wm-{world}")
    if data.get("world") != world:
        raise ValueError(f"the preset wm-{world} is for the world {data.get('world')!r}, not {world!r}")
    for item in [f"image_size={scale.image_size}", f"train.steps={scale.train_steps}", "model.use_proprio=false",
                 "objective.proprio_anchor=0",
                 f"data.limit={train_episodes}", f"plan.precision={scale.precision}",
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
    split = training_split(scale.episodes)
    corruptions = [Corruption()] + [Corruption.parse(c) for c in scale.corruptions]
    if not 1 <= scale.event <= scale.horizon:
        raise ValueError(f"the surprise event must fall within the windows' {scale.horizon} steps, got {scale.event}")
    if scale.frame_reader not in FRAME_READERS:
        raise ValueError(f"a frame reader is one of {', '.join(FRAME_READERS)}, got {scale.frame_reader!r}")
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
                check_trained_with(run, cfg)
                # a row already measured (a resumed arena) is not measured again, unless the scale or the JEPA model
                # the pixel models' second cost uses has changed since
                jepa = out / world / f"compact-seed{seed}"
                measured = run / "arena.json"
                kept = json.loads(measured.read_text()) if measured.exists() else {}
                if kept.get("key") == {"scale": results["scale"], "jepa": _identity(jepa)}:
                    rows.append(kept["row"])
                    continue
                say(f"arena: {world}, seed {seed}: training {form} ({params:,} trainable parameters)")
                trained = train_world_model(cfg, data, run, progress=progress)
                row = {"world": world, "form": form, "seed": seed, "trainable_parameters": params,
                       "jepa_parameters": target, "train_seconds": trained["train_seconds"]}
                say(f"arena: {world}, seed {seed}: measuring {form}")
                start = time.perf_counter()
                row.update(measure(world, run, jepa, store, split, cfg, scale, corruptions, seed, progress, device))
                row["measure_seconds"] = time.perf_counter() - start
                # keyed after training: the JEPA model of this seed may just have been written
                measured.write_text(json.dumps({"key": {"scale": results["scale"], "jepa": _identity(jepa)},
                                                "row": row}, indent=2))
                rows.append(row)
        results["worlds"][world] = rows
    (out / "results.json").write_text(json.dumps(results, indent=2))
    page = write_page(results, out)
    say((out / "table.md").read_text())
    say(f"arena: wrote {out}/results.json, table.md, the plots and {page.name}")
    return results


def check_trained_with(run: Path, cfg: WorldModelConfig) -> None:
    """A model already in `run` must have been trained as `cfg` says (model, objective, optimiser, steps, seed):
    resuming would otherwise reuse it, or train it on under another schedule, without a word."""
    checkpoint = run / CHECKPOINT
    if not checkpoint.exists():
        return
    saved, wanted = read_checkpoint_meta(checkpoint).get("config", {}), to_dict(cfg)
    keys = [k for k in ("model", "objective", "optim") if saved.get(k) != wanted[k]]
    keys += [f"train.{k}" for k in ("steps", "seed") if saved.get("train", {}).get(k) != wanted["train"][k]]
    if keys:
        raise ValueError(f"{run} holds a model trained with another {', '.join(keys)} than this arena's: delete the "
                         "folder to train it again, or use another --out")


def _identity(run: Path) -> int | None:
    """When the run's checkpoint was written (None before it exists)."""
    checkpoint = run / CHECKPOINT
    return checkpoint.stat().st_mtime_ns if checkpoint.exists() else None


def measure(world: str, run: Path, jepa: Path, store: EpisodeStore, split: int, cfg: WorldModelConfig, scale: Scale,
            corruptions: list[Corruption], seed: int, progress: bool, device: str | None) -> dict[str, Any]:
    """A trained model's reader, rollout errors, planning (clean and corrupted) and surprise."""
    model, _, _ = load_world_model(run, {"precision": scale.precision}, device=device)
    held_out = range(split, len(store))
    skip = cfg.data.frameskip
    seconds = {"reader": 0.0, "rollouts": 0.0, "planning": 0.0, "surprise": 0.0}  # where measuring's time goes
    start = time.perf_counter()

    def lap(part: str) -> None:
        nonlocal start
        seconds[part] += time.perf_counter() - start
        start = time.perf_counter()

    world_env = make_world(world, image_size=scale.image_size)
    reader = train_reader(model, store, range(0, split), held_out, steps=scale.reader_steps, seed=seed,
                          world=world_env, frame_reader=scale.frame_reader)
    lap("reader")
    row: dict[str, Any] = {"reader_r2": reader.held_out_r2, "reader_r2_per_column": list(reader.per_column),
                           "rollout_error": {}, "planning": {}, "surprise": {}, "measure_parts": seconds}
    judged = reader.held_out_r2 >= reader.min_r2
    if not judged:
        row["not_judged"] = (f"its state reader reads the state off its encodings of held-out real frames with R² "
                             f"{reader.held_out_r2:.3f} < 0.9: its predictions are not judged")
    plan = plan_overrides([f"{k}={v}" for k, v in scale.plan.items()] + [f"precision={scale.precision}"])

    def planned(name: str, corruption: Corruption, cost_model: Path | None = None) -> dict[str, Any]:
        label = name.replace(" ", "-").replace(",", "_").replace("=", "")
        p = evaluate_planning(run, run.parent / f"plan-{run.name}-{label}", episodes=scale.plan_episodes,
                              plan_overrides=plan, record=0, progress=progress, device=device,
                              corruption=corruption, cost_model=cost_model)
        return {k: p[k] for k in ("success_rate", "final_distance_mean", "seconds_per_plan")}

    for corruption in corruptions:
        row["rollout_error"][corruption.name] = None
        if judged:  # a model whose reader cannot read the truth has no rollouts worth drawing windows for
            windows = held_out_windows(store, held_out, scale.horizon + 1, skip, scale.windows_per_episode, seed + 1,
                                       corruption, world_env)
            row["rollout_error"][corruption.name] = rollout_errors(model, reader, windows).tolist()
        lap("rollouts")
        row["planning"][corruption.name] = planned(corruption.name, corruption)
        if corruption is corruptions[0] and cfg.model.form != "compact":  # clean frames, the pixel models' second cost
            row["planning"][EMBEDDING] = planned(EMBEDDING, corruption, jepa)
        lap("planning")
    for kind in [k for k, needs in KINDS.items() if hasattr(world_env, needs)]:
        pairs = impossible_pairs(world_env, store, held_out, kind, scale.horizon + 1, skip, scale.event, seed=seed + 2)
        row["surprise"][kind] = surprise_test(model, pairs, seed=seed)
    lap("surprise")
    return row

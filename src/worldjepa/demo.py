"""`worldjepa demo`: V-JEPA 2.1 pretraining on the built-in physics world, then linear probes.

1. pretrain the `tiny-cpu` recipe on clips of bouncing balls generated on the fly (resumable: a second
   run of the demo picks up its checkpoint);
2. generate held-out probe clips (seeds that training never sees) with ground-truth ball states;
3. fit ridge probes from frozen features to ball positions and velocities, for the pretrained encoder
   (its EMA teacher), for the same architecture at random initialisation, and for raw pixels laid out
   on the same grid (see eval/state_probe.py for the probe's input);
4. write the run folder: config.yaml, checkpoint.safetensors, log.jsonl, results.json, pca.png, loss.png;
5. the world-model path in miniature (`world_model_demo`, under OUT/world-model): collect episodes
   in `two-rooms`, train the compact world model end to end from pixels, plan to goals in the other
   room with CEM in MPC, report success, distance and planning time (plan/: results.json,
   planning.png, episodes.mp4).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from . import config
from .device import resolve_device
from .doctor import diagnose_run
from .eval.features import patch_features
from .eval.state_probe import pixel_probe_r2, probe_clips, state_probe_r2
from .pretrain import build_encoder, load_pretrained, pretrain
from .report.pictures import loss_figure, pca_figure

PROBE_TRAIN_CLIPS, PROBE_TEST_CLIPS = 2000, 500


def run_demo(out: str | Path = "runs/demo", overrides: list[str] | tuple[str, ...] = (),
             probe_train: int = PROBE_TRAIN_CLIPS, probe_test: int = PROBE_TEST_CLIPS,
             progress: bool = True, resume: bool = True, probe: str = "moments",
             world_model: bool = True, device: str | None = None) -> dict[str, Any]:
    start = time.perf_counter()
    out = Path(out)
    cfg = config.load("tiny-cpu", list(overrides))
    say = print if progress else (lambda *a, **k: None)
    say(f"worldjepa demo → {out}\n"
        f"[1/5] pretraining {cfg.model.encoder} ({cfg.objective.recipe}) for {cfg.train.steps} steps on "
        f"{cfg.data.frames}-frame {cfg.data.image_size}² clips of the built-in physics world")
    summary = pretrain(cfg, out, resume=resume, progress=progress)
    train_s = time.perf_counter() - start

    say(f"[2/5] probing frozen features on {probe_train} + {probe_test} held-out clips")
    d, m = cfg.data, cfg.model
    train = probe_clips(d.world, d.image_size, probe_train, d.frames, m.tubelet_size, cfg.train.seed, 0)
    test = probe_clips(d.world, d.image_size, probe_test, d.frames, m.tubelet_size, cfg.train.seed, 1)
    where = resolve_device(device or cfg.train.device)
    pretrained = load_pretrained(out)[0].to(where)
    torch.manual_seed(cfg.train.seed + 1)
    random_init = build_encoder(cfg).eval().to(where)
    results = {
        "pretrained": state_probe_r2(pretrained, train, test, probe),
        "random_init": state_probe_r2(random_init, train, test, probe),
        "pixels": pixel_probe_r2(train, test, m.patch_size, m.tubelet_size, probe),
    }

    say("[3/5] writing pictures")
    sample = test.clips.frames[:3]
    pca_figure(sample, {"pretrained": patch_features(pretrained, sample),
                        "random init": patch_features(random_init, sample)}, out / "pca.png", m.tubelet_size)
    loss_figure(out, out / "loss.png")

    total_s = time.perf_counter() - start
    report = {"probes": results, "train_summary": summary, "train_wall_seconds": train_s,
              "total_wall_seconds": total_s, "probe_clips": {"train": probe_train, "test": probe_test},
              "probe": probe,
              "probe_input": ("last-level patch features pooled with their first spatial moments "
                              "[mean f, mean x·f, mean y·f] at two consecutive tubelet steps" if probe == "moments"
                              else "flattened last-level patch grids of two consecutive tubelet steps")
              + " (eval/state_probe.py)",
              "encoder_for_features": "EMA teacher" if cfg.objective.regularizer == "ema" else "encoder"}
    health = diagnose_run(out, device=device)
    report["doctor"] = {"verdicts": health.verdicts, "numbers": health.numbers}
    (out / "results.json").write_text(json.dumps(report, indent=2))
    say(format_table(results))
    say(f"training health (worldjepa doctor {out}): {', '.join(health.verdicts)}; "
        + health.text().split("numbers: ", 1)[1])
    if world_model:
        report["world_model"] = world_model_demo(out / "world-model", progress=progress, resume=resume, device=device)
        total_s = time.perf_counter() - start
        report["total_wall_seconds"] = total_s
        (out / "results.json").write_text(json.dumps(report, indent=2))
    say(f"done in {total_s / 60:.1f} min; run folder: {out} (results.json, pca.png, loss.png, log.jsonl"
        + (", world-model/" if world_model else "") + ")")
    return report


# The world-model stage is sized to about three minutes: fewer episodes, training steps and CEM samples
# than the wm-two-rooms preset (docs/planning.md has the full-size numbers), the same model and MPC.
DEMO_WM = {"episodes": 400, "steps": 300, "goals": 20}
DEMO_PLAN = {"samples": 150, "iterations": 15, "elites": 15}


def world_model_demo(out: str | Path, progress: bool = True, resume: bool = True, episodes: int = DEMO_WM["episodes"],
                     steps: int = DEMO_WM["steps"], goals: int = DEMO_WM["goals"],
                     plan_overrides: dict[str, Any] | None = None, device: str | None = None) -> dict[str, Any]:
    from .data.episodes import read_meta
    from .dynamics.model import train_world_model
    from .planning.evaluate import evaluate_planning, format_plan
    from .worlds import make_world
    from .worlds.collect import collect

    say = print if progress else (lambda *a, **k: None)
    out = Path(out)
    data = out / "data"
    say(f"[4/5] world model: collecting {episodes} episodes in two-rooms (noisy expert + random walks)")
    try:
        done = resume and len(list((data / "episodes").glob("*.npz"))) >= episodes and read_meta(data)
    except (FileNotFoundError, ValueError):
        done = False
    if not done:
        collect(make_world("two-rooms"), "two-rooms", data, episodes, progress=progress)
    cfg = config.load_world_model("wm-two-rooms", [f"train.steps={steps}", *([f"train.device={device}"] if device else [])])
    say(f"[5/5] training the compact world model end to end from pixels for {steps} steps, then planning to "
        f"{goals} goals in the other room (CEM in MPC)")
    t0 = time.perf_counter()
    train = train_world_model(cfg, data, out / "run", resume=resume, progress=progress)
    train_s = time.perf_counter() - t0
    plan = evaluate_planning(out / "run", out / "run" / "plan", episodes=goals,
                             plan_overrides=DEMO_PLAN if plan_overrides is None else plan_overrides, progress=progress,
                             device=device)
    say(format_plan(plan))
    return {"episodes": episodes, "train_steps": steps, "train_wall_seconds": train_s,
            "train_seconds": train.get("train_seconds"), "plan": plan}


def format_table(results: dict[str, dict[str, float]]) -> str:
    lines = ["", "linear probes on held-out clips (R², higher is better)",
             f"  {'features':<14}{'position':>10}{'velocity':>10}"]
    for name, r in results.items():
        lines.append(f"  {name:<14}{r['position_r2']:>10.3f}{r['velocity_r2']:>10.3f}")
    p, r = results["pretrained"], results["random_init"]
    lines.append(f"  pretrained − random: position {p['position_r2'] - r['position_r2']:+.3f}, "
                 f"velocity {p['velocity_r2'] - r['velocity_r2']:+.3f}")
    return "\n".join(lines)

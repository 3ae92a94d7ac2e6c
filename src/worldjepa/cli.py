"""The `worldjepa` command.

    worldjepa demo [--out DIR]                              pretrain + probe on the built-in world
    worldjepa pretrain --config NAME|FILE --out DIR [section.key=value ...]
    worldjepa embed PATH --checkpoint DIR [--out FILE] [--pool mean|none]
    worldjepa generate --out DIR --clips N                  write the physics world as videos
    worldjepa doctor RUN                                    is training healthy? (collapse, predictor, actions)
    worldjepa configs                                       list the presets

Errors caused by the input (a bad config key, a missing or unreadable file, an impossible shape) are
printed as one line saying what to change, with exit status 2; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from .config import ConfigError

USER_ERRORS = (ConfigError, FileNotFoundError, NotADirectoryError, ValueError)


def _user_errors() -> tuple[type[BaseException], ...]:
    from .data.video import MediaError
    from .train.trainer import TrainingError

    return USER_ERRORS + (MediaError, TrainingError)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="worldjepa", description="JEPA world models: pretrain, embed, plan, evaluate")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="pretrain tiny-cpu on the physics world and probe it; then collect, train a "
                                    "world model and plan in two-rooms (≈10 min on 2 cores)")
    d.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    d.add_argument("--fresh", action="store_true", help="ignore a checkpoint already in --out")
    d.add_argument("--probe", choices=("moments", "grid"), default="moments",
                   help="probe input: moment-pooled patch grid (default) or the whole flattened grid (slow)")
    d.add_argument("--probe-clips", type=int, default=None, help="probe-training clips (default 2000)")
    d.add_argument("--no-world-model", action="store_true",
                   help="stop after pretraining and probes (skip collect → train world model → plan)")
    d.add_argument("overrides", nargs="*", help="config overrides section.key=value")

    t = sub.add_parser("pretrain", help="self-supervised pretraining (V-JEPA 2.1 and ablations)")
    t.add_argument("--config", default="tiny-cpu", help="preset name or YAML path (see `worldjepa configs`)")
    t.add_argument("--out", required=True, help="run folder; an existing checkpoint there is resumed")
    t.add_argument("--no-resume", action="store_true", help="start over even if --out holds a checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("overrides", nargs="*", help="config overrides section.key=value, e.g. train.steps=200")

    e = sub.add_parser("embed", help="features of images, videos or a folder, to a safetensors file")
    e.add_argument("path", help="an image, a video or a folder of them")
    e.add_argument("--checkpoint", required=True, help="a run folder or checkpoint file")
    e.add_argument("--out", default=None, help="output file (default: PATH stem + .features.safetensors)")
    e.add_argument("--pool", choices=("mean", "none"), default="mean",
                   help="mean: one vector per window; none: the patch grid")
    e.add_argument("--stride", type=int, default=None, help="frames between video windows (default: clip length)")
    e.add_argument("--quiet", action="store_true")

    g = sub.add_parser("generate", help="write clips of the built-in physics world as video files + ground truth")
    g.add_argument("--out", required=True)
    g.add_argument("--clips", type=int, default=100)
    g.add_argument("--frames", type=int, default=16)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--image-size", type=int, default=64)
    g.add_argument("--depth", action="store_true", help="also store per-frame depth maps")

    c = sub.add_parser("collect", help="run scripted experts and random walks in a world; write an episode store")
    c.add_argument("--world", default="two-rooms", help="two-rooms, push, or gym:ENV_ID")
    c.add_argument("--episodes", type=int, default=1000)
    c.add_argument("--steps", type=int, default=None, help="steps per episode (default: the world's budget)")
    c.add_argument("--out", required=True)
    c.add_argument("--expert-share", type=float, default=0.5, help="share of episodes run by the noisy expert")
    c.add_argument("--noise", type=float, default=0.3, help="expert action noise (std)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--image-size", type=int, default=64)
    c.add_argument("--planner", default=None, metavar="RUN",
                   help="drive the episodes with this train-wm run's MPC planner instead (added to --out; the world "
                        "is the run's)")
    c.add_argument("--explore", type=float, default=0.1, help="with --planner: action noise (std)")
    c.add_argument("plan_overrides", nargs="*", help="with --planner: planner overrides key=value, e.g. samples=150")

    w = sub.add_parser("train-wm", help="train an action-conditioned world model on an episode store")
    w.add_argument("--config", default="wm-two-rooms", help="preset name (wm-*) or YAML path")
    w.add_argument("--data", required=True, help="episode store folder (from `worldjepa collect`)")
    w.add_argument("--out", required=True, help="run folder; an existing checkpoint there is resumed")
    w.add_argument("--no-resume", action="store_true")
    w.add_argument("--init", default=None, metavar="RUN", help="start from this train-wm run's weights (fine-tune)")
    w.add_argument("--quiet", action="store_true")
    w.add_argument("overrides", nargs="*", help="config overrides section.key=value")

    pl = sub.add_parser("plan", help="plan to goals with a trained world model (MPC); success rate, distance, time")
    pl.add_argument("--checkpoint", required=True, help="a `train-wm` run folder")
    pl.add_argument("--world", default=None, help="the world (default: the one the model was trained on)")
    pl.add_argument("--episodes", type=int, default=None, help="goal episodes (default: plan.episodes of the run)")
    pl.add_argument("--out", default=None, help="output folder (default: CHECKPOINT/plan)")
    pl.add_argument("--record", type=int, default=4, help="episodes to save as video")
    pl.add_argument("--ensemble", action="append", default=None, metavar="RUN",
                    help="another train-wm run of the same world, planned together with CHECKPOINT (repeat for "
                         "more): the energy is the members' mean plus disagreement=W times their spread")
    pl.add_argument("--quiet", action="store_true")
    pl.add_argument("overrides", nargs="*", help="planner overrides key=value, e.g. solver=mppi samples=200")

    ev = sub.add_parser("eval", help="the evaluation suite of a run: probes, anticipation, surprise, navigation, planning")
    ev.add_argument("--checkpoint", required=True, help="a run folder (pretrain, demo or train-wm) or checkpoint file")
    ev.add_argument("--suite", default=None, help="all (the default), or comma-separated tasks: depth, state, "
                    "anticipation, surprise (pretraining runs); navigation, planning (world-model runs)")
    ev.add_argument("--labels", default=None, help="a label file (CSV: clip,label[,split]) of your own clips to probe "
                    "(docs/evaluation.md); alone, only these are evaluated")
    ev.add_argument("--out", default=None, help="output folder (default: the run folder's eval/)")
    ev.add_argument("--small", action="store_true", help="a few samples per task: a smoke test, not a result")
    ev.add_argument("--quiet", action="store_true")

    rp = sub.add_parser("report", help="one self-contained HTML page about a run (opens offline)")
    rp.add_argument("run", help="a run folder")
    rp.add_argument("--out", default=None, help="output file (default: RUN/report.html)")

    dr = sub.add_parser("doctor", help="diagnose a run from its log: healthy, collapse, predictor no better than "
                                       "copying, predictor ignores actions (exit status 1 when unhealthy)")
    dr.add_argument("run", help="a run folder (pretrain, demo or train-wm)")
    dr.add_argument("--json", action="store_true", help="print the diagnosis as JSON")

    sub.add_parser("configs", help="list the config presets")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except _user_errors() as err:
        print(f"worldjepa {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"worldjepa {args.command}: interrupted; a run resumes from its last checkpoint", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    warnings.simplefilter("default")
    if args.command == "demo":
        from .demo import run_demo

        from .demo import PROBE_TRAIN_CLIPS

        run_demo(args.out, args.overrides, resume=not args.fresh, probe=args.probe,
                 probe_train=args.probe_clips or PROBE_TRAIN_CLIPS, world_model=not args.no_world_model)
    elif args.command == "pretrain":
        from . import config
        from .pretrain import pretrain

        cfg = config.load(args.config, args.overrides)
        summary = pretrain(cfg, args.out, resume=not args.no_resume, progress=not args.quiet)
        print(json.dumps({k: v for k, v in summary.items() if k != "final"} | {"final_loss": summary.get("final", {}).get("loss")}))
    elif args.command == "embed":
        from .embed import embed

        out = args.out or str(Path(args.path).with_suffix("")) + ".features.safetensors"
        print(json.dumps(embed(args.path, args.checkpoint, out, args.pool, args.stride, progress=not args.quiet)))
    elif args.command == "generate":
        from .worlds.export import export_world

        path = export_world(args.out, args.clips, args.frames, args.seed, args.image_size, depth=args.depth)
        print(f"wrote {args.clips} clips to {path}")
    elif args.command == "collect":
        if args.planner:
            from .planning.evaluate import plan_overrides
            from .planning.explore import collect_with_planner

            done = collect_with_planner(args.planner, args.out, args.episodes, seed=args.seed, explore=args.explore,
                                        plan_overrides=plan_overrides(args.plan_overrides))
            print(f"added {args.episodes} planner episodes (indices {done['first_index']}–"
                  f"{done['first_index'] + args.episodes - 1}) to {args.out}; the planner reached "
                  f"{done['planner_success']:.0%} of these goals")
            return 0
        if args.plan_overrides:
            raise ValueError(f"planner overrides {args.plan_overrides} need --planner RUN")
        from .worlds import make_world
        from .worlds.collect import collect

        world = make_world(args.world, image_size=args.image_size)
        meta = collect(world, args.world, args.out, args.episodes, args.steps, args.expert_share, args.noise, args.seed)
        print(f"wrote {args.episodes} episodes of {meta.extra['steps_per_episode']} steps to {args.out}")
    elif args.command == "train-wm":
        from .config import load_world_model
        from .dynamics.model import train_world_model

        cfg = load_world_model(args.config, args.overrides)
        summary = train_world_model(cfg, args.data, args.out, resume=not args.no_resume, progress=not args.quiet,
                                    init=args.init)
        print(json.dumps({k: v for k, v in summary.items() if k != "final"} | {"final_loss": summary.get("final", {}).get("loss")}))
    elif args.command == "plan":
        from .planning.evaluate import evaluate_planning, plan_overrides

        summary = evaluate_planning(args.checkpoint, args.out, args.episodes, plan_overrides(args.overrides),
                                    record=args.record, progress=not args.quiet, world=args.world,
                                    ensemble=args.ensemble)
        print(format_plan(summary))
    elif args.command == "eval":
        from .eval.suite import SMALL, evaluate

        evaluate(args.checkpoint, args.out, args.suite, SMALL if args.small else None, progress=not args.quiet,
                 labels=args.labels)
    elif args.command == "report":
        from .report.html import write_report

        print(f"wrote {write_report(args.run, args.out)}")
    elif args.command == "doctor":
        from dataclasses import asdict

        from .doctor import diagnose_run

        d = diagnose_run(args.run)
        print(json.dumps(asdict(d) | {"verdicts": d.verdicts}, indent=1) if args.json else d.text())
        return 0 if d.healthy else 1
    elif args.command == "configs":
        from .config import presets

        print("\n".join(presets()))
    return 0


def format_plan(s: dict) -> str:
    p = s["plan"]
    return (f"{s['world']}: success {s['success_rate']:.1%} over {s['episodes']} episodes; final distance mean "
            f"{s['final_distance_mean']:.3f} (success radius {s['success_radius']}); planning "
            f"{s['seconds_per_plan'] * 1000:.0f} ms per step per episode ({s['seconds_per_call']:.2f} s per batched "
            f"call); {p['solver']} {p['samples']}x{p['iterations']} horizon {p['horizon']}, {p['precision']}, "
            f"seed {p['seed']}"
            + (f"; ensemble of {len(s['ensemble'])} models, disagreement {p['disagreement']}" if "ensemble" in s else "")
            + f"\nwrote {s['out']}/results.json, planning.png, episodes.mp4")


if __name__ == "__main__":
    raise SystemExit(main())

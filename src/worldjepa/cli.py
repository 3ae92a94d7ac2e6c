"""The `worldjepa` command: one small function per subcommand, found through `COMMANDS`.

    worldjepa demo | pretrain | embed | generate | collect | export | train-wm | plan | eval | report | doctor | convert
              | configs | resources | shard | arena | vl

(`worldjepa COMMAND --help` says more; `python -m worldjepa` is the same command.) Every subcommand takes
--device (auto, cpu, cuda, mps). Errors caused by the input (a bad config key, a missing or unreadable
file, an impossible shape, a device this machine lacks) are printed as one line saying what to change,
with exit status 2; warnings are one line each; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from .config import ConfigError
from .device import DEVICES, resolve_device

USER_ERRORS = (ConfigError, FileNotFoundError, NotADirectoryError, ValueError)
UNTIL = ("stop after this step with a checkpoint, as an interruption would (the same command without --until "
         "resumes): a job's share of a run under a time limit")


def _user_errors() -> tuple[type[BaseException], ...]:
    from .data.video import MediaError
    from .train.trainer import TrainingError

    return USER_ERRORS + (MediaError, TrainingError)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="worldjepa", description="JEPA world models: pretrain, embed, plan, evaluate")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", default=None, choices=DEVICES,
                        help="where models run: auto (the best available: cuda, mps, cpu; the default), cpu, cuda "
                             "or mps; for training commands the same as train.device=...")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_with(common))

    d = sub.add_parser("demo", help="pretrain tiny-cpu on the physics world and probe it; then collect, train a "
                                    "world model and plan in two-rooms (≈12 min on 2 cores)")
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
    t.add_argument("--init", default=None, metavar="RUN",
                   help="start from this pretraining run's weights (fine-tune; a `worldjepa convert` folder: pass its "
                        "config.yaml as --config)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--until", type=int, default=None, metavar="STEP", help=UNTIL)
    t.add_argument("overrides", nargs="*", help="config overrides section.key=value, e.g. train.steps=200")

    e = sub.add_parser("embed", help="features of images, videos or a folder, to a safetensors file")
    e.add_argument("path", help="an image, a video or a folder of them")
    e.add_argument("--checkpoint", required=True, help="a run folder or checkpoint file")
    e.add_argument("--out", default=None, help="output file (default: PATH stem + .features.safetensors)")
    e.add_argument("--pool", choices=("mean", "none"), default="mean",
                   help="mean: one vector per window; none: the patch grid")
    e.add_argument("--stride", type=int, default=None, help="frames between video windows (default: clip length)")
    e.add_argument("--levels", choices=("last", "all"), default="last",
                   help="last: the final level; all: a hierarchical encoder's levels concatenated (V-JEPA 2.1: 4)")
    e.add_argument("--precision", choices=("bf16", "fp32"), default="bf16", help="autocast precision (default bf16)")
    e.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default 8)")
    e.add_argument("--quiet", action="store_true")

    g = sub.add_parser("generate", help="write clips of the built-in physics world as video files + ground truth")
    g.add_argument("--out", required=True)
    g.add_argument("--clips", type=int, default=100)
    g.add_argument("--frames", type=int, default=16)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--image-size", type=int, default=64)
    g.add_argument("--depth", action="store_true", help="also store per-frame depth maps")

    c = sub.add_parser("collect", help="run scripted experts and random walks in a world; write an episode store")
    c.add_argument("--world", default="two-rooms", help="two-rooms, push, reacher, push-t, or gym:ENV_ID")
    c.add_argument("--episodes", type=int, default=1000)
    c.add_argument("--steps", type=int, default=None, help="steps per episode (default: the world's budget)")
    c.add_argument("--out", required=True)
    c.add_argument("--expert-share", type=float, default=0.5, help="share of episodes run by the noisy expert")
    c.add_argument("--noise", type=float, default=0.3, help="expert action noise (std)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--image-size", type=int, default=64)
    c.add_argument("--workers", type=int, default=1,
                   help="processes collecting at once (the store is the same with any number); a folder already "
                        "holding part of the same collection is resumed")
    c.add_argument("--planner", default=None, metavar="RUN",
                   help="drive the episodes with this train-wm run's MPC planner instead (added to --out; the world "
                        "is the run's)")
    c.add_argument("--explore", type=float, default=0.1, help="with --planner: action noise (std)")
    c.add_argument("plan_overrides", nargs="*", help="with --planner: planner overrides key=value, e.g. samples=150")

    x = sub.add_parser("export", help="an episode store as a LeRobotDataset v3 folder (parquet + AV1 mp4); "
                                      "train-wm and plan read such folders in place")
    x.add_argument("store", help="an episode store folder (from `worldjepa collect`)")
    x.add_argument("--format", choices=("lerobot",), default="lerobot")
    x.add_argument("--out", required=True, help="the dataset folder to write")
    x.add_argument("--fps", type=int, default=10, help="frames per second written in the dataset (default 10)")
    x.add_argument("--lossless", action="store_true",
                   help="lossless RGB H.264 instead of AV1 (LeRobot's default, 4:2:0 chroma): frames come back exactly")
    x.add_argument("--crf", type=int, default=20, help="AV1 quality, lower is better (default 20; LeRobot's: 30)")
    x.add_argument("--task", default="", help="the task description stored with every episode")

    w = sub.add_parser("train-wm", help="train an action-conditioned world model on an episode store")
    w.add_argument("--config", default="wm-two-rooms", help="preset name (wm-*) or YAML path")
    w.add_argument("--data", required=True, help="episode store folder (from `worldjepa collect`)")
    w.add_argument("--out", required=True, help="run folder; an existing checkpoint there is resumed")
    w.add_argument("--no-resume", action="store_true")
    w.add_argument("--init", default=None, metavar="RUN", help="start from this train-wm run's weights (fine-tune)")
    w.add_argument("--quiet", action="store_true")
    w.add_argument("--until", type=int, default=None, metavar="STEP", help=UNTIL)
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
    pl.add_argument("--goals", default=None, metavar="STORE",
                    help="take goals from recorded episodes (an episode store or LeRobot folder of the world): start at "
                         "a recorded step, the goal is the frame --goal-offset steps later (the field's protocol; the "
                         "only goals a world without settable state has)")
    pl.add_argument("--goal-offset", type=int, default=25, help="with --goals: steps from start to goal (default 25)")
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

    cv = sub.add_parser("convert", help="published weights (V-JEPA 2, 2.1, 2-AC, I-JEPA; torch.hub files, transformers "
                                        "folders, hub ids) → worldjepa run folders; or a run → a published layout")
    cv.add_argument("source", help="a checkpoint file, a transformers folder or a Hugging Face hub id; with --to, a "
                                   "worldjepa pretraining run folder")
    cv.add_argument("--out", required=True, help="the run folder to write (with --to: the folder of the layout)")
    cv.add_argument("--to", choices=("hf", "hub"), default=None,
                    help="write the run SOURCE in a published layout: hf (transformers) or hub (Meta's torch.hub file)")
    cv.add_argument("--world", default=None, help="a V-JEPA 2-AC checkpoint's world (two-rooms, push, reacher, push-t, "
                                                  "gym:ENV_ID): its actions must fit the predictor's")
    cv.add_argument("--image-size", type=int, default=None,
                    help="frames the encoder sees (default: the source config's, else 384 for V-JEPA 2.1, 256 for V-JEPA 2)")
    cv.add_argument("--frames", type=int, default=16, help="clip length of the run (default 16, the published evaluations')")
    cv.add_argument("--heads", type=int, default=None, help="the encoder's attention heads, for sizes Meta did not release")
    cv.add_argument("--predictor-heads", type=int, default=None, help="the same for the predictor")
    cv.add_argument("--allow-missing", action="store_true",
                    help="load a checkpoint with missing or unexpected keys anyway (the report is still printed; missing "
                         "tensors start from worldjepa's initialisation)")

    sub.add_parser("configs", help="list the config presets")

    sh = sub.add_parser("shard", help="decode a folder or CSV manifest of videos and images once into tar shards of "
                                      "frames at training size (data.source=shards; docs/scaling.md)")
    sh.add_argument("src", help="a folder, a media file or a CSV manifest (path[,label] per row)")
    sh.add_argument("--out", required=True, help="folder for the shards")
    sh.add_argument("--size", type=int, default=64, help="frame side in pixels, = data.image_size (default 64)")
    step = sh.add_mutually_exclusive_group()
    step.add_argument("--stride", type=int, default=1, help="keep every N-th frame (default 1)")
    step.add_argument("--fps", type=float, default=None, help="keep the frames nearest this rate instead")
    sh.add_argument("--shard-mb", type=float, default=1000.0, help="close a shard past this size (default 1000)")
    sh.add_argument("--quiet", action="store_true")

    rs = sub.add_parser("resources", help="before a pretraining run: parameters, FLOPs, activation memory, time per "
                                          "step and the micro-batch that fits (docs/scaling.md)")
    rs.add_argument("--config", default="tiny-cpu", help="preset name or YAML path")
    rs.add_argument("--gpus", type=int, default=1)
    rs.add_argument("--gpu-memory", type=float, default=80.0, metavar="GB", help="memory per GPU (default 80)")
    rs.add_argument("--mfu", type=float, default=0.45, help="model FLOPs utilisation assumed (default 0.45)")
    rs.add_argument("--tflops", type=float, default=989.0, help="a GPU's peak (default 989: H100 / H200 dense bf16)")
    rs.add_argument("--fsdp", action=argparse.BooleanOptionalAction, default=None,
                    help="shard weights, gradients and moments over the GPUs (default: when weights pass 8 GB)")
    rs.add_argument("--json", action="store_true")
    rs.add_argument("overrides", nargs="*", help="config overrides section.key=value")

    ar = sub.add_parser("arena", help="autoregressive, diffusion and JEPA world models on the same data, trainer, "
                                      "planner and budget (docs/arena.md)")
    ar.add_argument("--worlds", default="two-rooms", help="comma-separated worlds with a wm-WORLD preset (default two-rooms)")
    ar.add_argument("--seeds", default="3", help="a count (3: seeds 0, 1, 2) or a list (0,4,7)")
    ar.add_argument("--out", required=True, help="folder for the data, the runs, results.json, table.md, horizon.png")
    ar.add_argument("--quick", action="store_true", help="toy scale, for a check that it all runs (about a minute)")
    ar.add_argument("--train-steps", type=int, default=None,
                    help="training steps of every model, the same for all (default: the scale's, 600; --quick 4)")
    ar.add_argument("--reader-steps", type=int, default=None,
                    help="training steps of every state reader (default: the scale's, 800)")
    ar.add_argument("--frame-reader", default=None,
                    help="how the pixel models' frames are read (default conv; keypoints for push-t: docs/arena.md)")
    ar.add_argument("--quiet", action="store_true")

    vl = sub.add_parser("vl", help="VL-JEPA: predict text embeddings from frozen video features (docs/vl-jepa.md)")
    actions = vl.add_subparsers(dest="action", required=True, parser_class=_with(common))
    vf = actions.add_parser("features", help="simulate captioned clips and cache a frozen encoder's features")
    vf.add_argument("--encoder", required=True, metavar="RUN", help="a `worldjepa pretrain` run folder (frozen)")
    vf.add_argument("--out", required=True, help="the VL data folder to write")
    vf.add_argument("--clips", type=int, default=2000, help="clips to simulate (default 2000; the last fifth is the test set)")
    vf.add_argument("--frames", type=int, default=None, help="frames per clip (default: the encoder's)")
    vf.add_argument("--seed", type=int, default=0, help="the simulation's seed")
    vf.add_argument("--world", choices=("balls", "two-rooms"), default="balls",
                    help="the world whose clips and texts to simulate (default balls; two-rooms: door passages and "
                         "rooms, no class labels or long clips)")
    vf.add_argument("--streams", type=int, default=12, help="long clips (120 frames) for selective decoding (default 12)")
    vf.add_argument("--scene-frames", type=int, nargs=2, default=(30, 60), metavar=("LOW", "HIGH"),
                    help="a long clip is scenes of LOW to HIGH frames cut together (default 30 60; 120 120: one scene)")
    vf.add_argument("--captions", metavar="FILE", help="your own clips instead: a JSON-lines file of videos and their "
                                                       "captions or questions (format in docs/vl-jepa.md)")
    vt = actions.add_parser("train", help="train a VL-JEPA model on a VL data folder (resumed if --out holds one)")
    vt.add_argument("--data", required=True, metavar="FOLDER", help="the VL data folder `vl features` wrote")
    vt.add_argument("--out", required=True, help="the run folder")
    vt.add_argument("--config", default=None, help="a YAML file of VL settings (data, model, optim, train)")
    vt.add_argument("--quiet", action="store_true")
    vt.add_argument("overrides", nargs="*", help="config overrides section.key=value, e.g. model.text=scratch")
    ve = actions.add_parser("eval", help="classification, retrieval, VQA and attribute swaps on the test clips")
    ve.add_argument("--run", required=True, help="a `vl train` run folder")
    ve.add_argument("--decoder-steps", type=int, default=800,
                    help="training steps of the light caption decoder (RUN/decoder, trained once; default 800)")
    return p


def _with(common: argparse.ArgumentParser):
    """Subparsers that all take the common options (--device)."""
    class Sub(argparse.ArgumentParser):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, parents=[common], **kwargs)

    return Sub


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _one_line(args.command)
        try:
            if args.device is not None:  # asked for a device this machine lacks: say so before any work
                resolve_device(args.device)
            return COMMANDS[args.command](args) or 0
        except _user_errors() as err:
            print(f"worldjepa {args.command}: error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"worldjepa {args.command}: interrupted; a run resumes from its last checkpoint", file=sys.stderr)
            return 130


def _one_line(command: str):
    """A warning as one line on stderr (not Python's file:line and source line under it)."""
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"worldjepa {command}: warning: {message}", file=file or sys.stderr)

    return show


def _overrides(args: argparse.Namespace) -> list[str]:
    """The config overrides of a training command, with --device as train.device."""
    return [*args.overrides, *([f"train.device={args.device}"] if args.device else [])]


def _check_until(until: int | None) -> None:
    if until is not None and until < 1:
        raise ValueError(f"--until {until}: give the step to stop after, at least 1")


def _print_once(line: str) -> None:
    """Print on rank 0 only: under torchrun every process runs the command."""
    from .distributed import ranks

    if ranks().main:
        print(line)


def _summary_line(summary: dict) -> str:
    return json.dumps({k: v for k, v in summary.items() if k != "final"} | {"final_loss": summary.get("final", {}).get("loss")})


def _demo(args: argparse.Namespace) -> None:
    from .demo import PROBE_TRAIN_CLIPS, run_demo

    run_demo(args.out, _overrides(args), resume=not args.fresh, probe=args.probe,
             probe_train=args.probe_clips or PROBE_TRAIN_CLIPS, world_model=not args.no_world_model,
             device=args.device)


def _pretrain(args: argparse.Namespace) -> None:
    from . import config
    from .pretrain import pretrain

    cfg = config.load(args.config, _overrides(args))
    _check_until(args.until)
    _print_once(_summary_line(pretrain(cfg, args.out, resume=not args.no_resume, progress=not args.quiet,
                                       init=args.init, until=args.until)))


def _embed(args: argparse.Namespace) -> None:
    from .embed import embed

    out = args.out or str(Path(args.path).with_suffix("")) + ".features.safetensors"
    print(json.dumps(embed(args.path, args.checkpoint, out, args.pool, args.stride, progress=not args.quiet,
                           device=args.device, levels=args.levels, precision=args.precision,
                           batch_size=args.batch_size)))


def _generate(args: argparse.Namespace) -> None:
    from .worlds.export import export_world

    path = export_world(args.out, args.clips, args.frames, args.seed, args.image_size, depth=args.depth)
    print(f"wrote {args.clips} clips to {path}")


def _collect(args: argparse.Namespace) -> None:
    if args.planner:
        from .planning.evaluate import plan_overrides
        from .planning.explore import collect_with_planner

        done = collect_with_planner(args.planner, args.out, args.episodes, seed=args.seed, explore=args.explore,
                                    plan_overrides=plan_overrides(args.plan_overrides), device=args.device)
        print(f"added {args.episodes} planner episodes (indices {done['first_index']}–"
              f"{done['first_index'] + args.episodes - 1}) to {args.out}; the planner reached "
              f"{done['planner_success']:.0%} of these goals")
        return
    if args.plan_overrides:
        raise ValueError(f"planner overrides {args.plan_overrides} need --planner RUN")
    from .worlds import make_world
    from .worlds.collect import collect

    world = make_world(args.world, image_size=args.image_size)
    meta = collect(world, args.world, args.out, args.episodes, args.steps, args.expert_share, args.noise, args.seed,
                   workers=args.workers)
    print(f"wrote {args.episodes} episodes of {meta.extra['steps_per_episode']} steps to {args.out}")


def _export(args: argparse.Namespace) -> None:
    from .data.episodes import EpisodeStore
    from .data.lerobot import write_lerobot

    store = EpisodeStore(args.store)
    write_lerobot(store.episodes, args.out, fps=args.fps, task=args.task, robot_type=store.meta.world,
                  lossless=args.lossless, crf=args.crf)
    print(f"wrote {len(store)} episodes ({store.steps} steps) to {args.out} (LeRobotDataset v3.0, "
          f"{'lossless H.264' if args.lossless else f'AV1 crf {args.crf}'})"
          + (f"; {len(store.skipped)} unreadable episodes skipped" if store.skipped else ""))


def _train_wm(args: argparse.Namespace) -> None:
    from .config import load_world_model
    from .dynamics.model import train_world_model

    cfg = load_world_model(args.config, _overrides(args))
    _check_until(args.until)
    _print_once(_summary_line(train_world_model(cfg, args.data, args.out, resume=not args.no_resume,
                                                progress=not args.quiet, init=args.init, until=args.until)))


def _plan(args: argparse.Namespace) -> None:
    from .planning.evaluate import evaluate_planning, format_plan, plan_overrides

    summary = evaluate_planning(args.checkpoint, args.out, args.episodes, plan_overrides(args.overrides),
                                record=args.record, progress=not args.quiet, world=args.world,
                                ensemble=args.ensemble, device=args.device, goals=args.goals,
                                goal_offset=args.goal_offset)
    print(format_plan(summary))


def _eval(args: argparse.Namespace) -> None:
    from .eval.suite import SMALL, evaluate

    evaluate(args.checkpoint, args.out, args.suite, SMALL if args.small else None, progress=not args.quiet,
             labels=args.labels, device=args.device)


def _report(args: argparse.Namespace) -> None:
    from .report.html import write_report

    print(f"wrote {write_report(args.run, args.out, device=args.device)}")


def _doctor(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .doctor import diagnose_run

    d = diagnose_run(args.run, device=args.device)
    print(json.dumps(asdict(d) | {"verdicts": d.verdicts}, indent=1) if args.json else d.text())
    return 0 if d.healthy else 1


def _convert(args: argparse.Namespace) -> None:
    from .interop.runs import convert, export

    if args.to:
        print(f"wrote {export(args.source, args.out, args.to)}")
        return
    done = convert(args.source, args.out, world=args.world, image_size=args.image_size, frames=args.frames,
                   heads=args.heads, predictor_heads=args.predictor_heads, allow_missing_keys=args.allow_missing)
    print(json.dumps(done))
    print(f"licence of the weights: {done['licence']}")


def _shard(args: argparse.Namespace) -> None:
    from .data.shards import write_shards

    if args.size < 1 or args.stride < 1 or (args.fps is not None and args.fps <= 0) or args.shard_mb <= 0:
        raise ValueError("--size and --stride must be at least 1, --fps and --shard-mb positive")
    print(json.dumps(write_shards(args.src, args.out, args.size, args.stride, args.fps, args.shard_mb,
                                  progress=not args.quiet)))


def _resources(args: argparse.Namespace) -> None:
    from . import config
    from .resources import estimate, format_estimate

    if args.gpus < 1 or args.gpu_memory <= 0 or not 0 < args.mfu <= 1 or args.tflops <= 0:
        raise ValueError("--gpus must be at least 1, --gpu-memory and --tflops positive, --mfu in (0, 1]")
    e = estimate(config.load(args.config, args.overrides), args.config, args.gpus, args.gpu_memory, args.mfu,
                 args.tflops, args.fsdp)
    print(json.dumps(e.as_dict(), indent=1) if args.json else format_estimate(e))


def _arena(args: argparse.Namespace) -> None:
    import dataclasses

    from .arena.run import QUICK, Scale, parse_seeds, run_arena
    from .config import presets

    seeds = parse_seeds(args.seeds)
    worlds = [w.strip() for w in args.worlds.split(",") if w.strip()]
    from .config import read_yaml_config

    known = sorted(p[3:] for p in presets() if p.startswith("wm-") and read_yaml_config(p).get("world") == p[3:])
    unknown = [w for w in worlds if w not in known]
    if not worlds or unknown:
        raise ValueError(f"--worlds: {', '.join(unknown) or 'none given'} has no wm-WORLD preset; choose from "
                         f"{', '.join(known)}")
    scale = QUICK if args.quick else Scale()
    if args.train_steps is not None:
        if args.train_steps < 1:
            raise ValueError(f"--train-steps needs a positive number of training steps, got {args.train_steps}")
        scale = dataclasses.replace(scale, train_steps=args.train_steps)
    if args.reader_steps is not None:
        if args.reader_steps < 1:
            raise ValueError(f"--reader-steps needs a positive number of steps, got {args.reader_steps}")
        scale = dataclasses.replace(scale, reader_steps=args.reader_steps)
    if args.frame_reader is not None:
        from .arena.readers import FRAME_READERS

        if args.frame_reader not in FRAME_READERS:
            raise ValueError(f"--frame-reader: {args.frame_reader} is not a frame reader; choose from "
                             f"{', '.join(FRAME_READERS)}")
        scale = dataclasses.replace(scale, frame_reader=args.frame_reader)
    run_arena(worlds, seeds, args.out, scale, progress=not args.quiet, device=args.device)


def _vl(args: argparse.Namespace) -> None:
    if args.action == "features":
        from .vl.data import cache_features

        data = cache_features(args.encoder, args.out, clips=args.clips, frames=args.frames, seed=args.seed,
                              device=args.device, streams=args.streams, captions=args.captions,
                              scene_frames=tuple(args.scene_frames), world=args.world)
        skipped = data.meta.get("skipped_videos")
        print(f"vl features: {data.meta['clips']} clips, {len(data.texts)} texts, {data.meta['tokens']} visual tokens "
              f"of {data.meta['dim']} per clip in {data.meta['feature_seconds']:.0f} s (simulation "
              f"{data.meta['simulate_seconds']:.0f} s)" + (f", {skipped} unreadable videos skipped" if skipped else "")
              + f" → {args.out}")
    elif args.action == "train":
        from .config import VLConfig, apply_override, from_dict, read_yaml_config
        from .vl.train import train_vl

        raw = read_yaml_config(args.config) if args.config else {}
        for item in [f"data.path={args.data}", *args.overrides] + ([f"train.device={args.device}"] if args.device else []):
            apply_override(raw, item, VLConfig)
        result = train_vl(from_dict(VLConfig, raw), args.out, progress=not args.quiet)
        print(f"vl train: {result['steps']} steps, {result['trainable_parameters']:,} trainable parameters, "
              f"{result['train_seconds']:.0f} s → {args.out}")
    else:
        from .vl.evaluate import evaluate_run

        scores = evaluate_run(args.run, decoder_steps=args.decoder_steps)
        for key, value in scores.items():
            if not isinstance(value, list):
                print(f"{key:32s} {value:.3f}" if isinstance(value, float) else f"{key:32s} {value}")
        for row in scores.get("selective", []):
            print(f"selective {row['decoder']:9s} {row['policy']:8s} {row['setting']!s:5s} "
                  f"{row['decodes_per_s']:.2f} decodes/s  CIDEr-D {row['cider']:.3f}  count right {row['fact_right']:.3f}")


def _configs(args: argparse.Namespace) -> None:
    from .config import presets

    print("\n".join(presets()))


COMMANDS = {"demo": _demo, "pretrain": _pretrain, "embed": _embed, "generate": _generate, "collect": _collect,
            "export": _export,
            "train-wm": _train_wm, "plan": _plan, "eval": _eval, "report": _report, "doctor": _doctor,
            "convert": _convert, "configs": _configs, "resources": _resources,
            "shard": _shard, "arena": _arena, "vl": _vl}


if __name__ == "__main__":
    raise SystemExit(main())

"""The `worldjepa` command.

    worldjepa demo [--out DIR]                              pretrain + probe on the built-in world
    worldjepa pretrain --config NAME|FILE --out DIR [section.key=value ...]
    worldjepa embed PATH --checkpoint DIR [--out FILE] [--pool mean|none]
    worldjepa generate --out DIR --clips N                  write the physics world as videos
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

    d = sub.add_parser("demo", help="pretrain tiny-cpu on the built-in physics world and probe it (≈8 min on 2 cores)")
    d.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    d.add_argument("--fresh", action="store_true", help="ignore a checkpoint already in --out")
    d.add_argument("--probe", choices=("moments", "grid"), default="moments",
                   help="probe input: moment-pooled patch grid (default) or the whole flattened grid (slow)")
    d.add_argument("--probe-clips", type=int, default=None, help="probe-training clips (default 2000)")
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
                 probe_train=args.probe_clips or PROBE_TRAIN_CLIPS)
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
    elif args.command == "configs":
        from .config import presets

        print("\n".join(presets()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

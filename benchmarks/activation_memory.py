"""`worldjepa resources`' memory estimate against a measured training step on this CPU.

    python benchmarks/activation_memory.py                      # the configs below, fp32
    python benchmarks/activation_memory.py --out benchmarks/results/activation_memory.json

For each config a fresh process builds the objective and the trainer, notes its resident memory, trains two
steps (the second holds AdamW's moments) and reports its peak resident memory. Measured = peak − resident
after the build; estimated = activations and input of the batch + gradients + AdamW moments
(worldjepa/resources.py). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

CONFIGS = {  # name: tiny-cpu overrides; activations of 1.3–1.4 GB per step by the estimate
    "tiny-cpu, 16 × 128 px clips, batch 8": ["data.image_size=128", "data.frames=16", "data.batch_size=8"],
    "ViT-S 12 × 384, 16 × 64 px clips, batch 16": ["model.encoder=small", "data.image_size=64", "data.frames=16",
                                                    "data.batch_size=16"],
}
COMMON = ["train.precision=fp32", "data.image_fraction=0", "train.threads=2"]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def child(overrides: list[str]) -> dict:
    import torch

    from worldjepa import config
    from worldjepa.pretrain import build_objective, build_source
    from worldjepa.train.trainer import Trainer

    cfg = config.load("tiny-cpu", overrides)
    torch.set_num_threads(cfg.train.threads)
    source = build_source(cfg)
    batches = [source.batch(s) for s in range(2)]
    objective = build_objective(cfg)
    trainer = Trainer(objective, source, cfg.optim, cfg.train, "/tmp/unused-activation-memory", kind="pretrain",
                      progress=False)
    del batches[:]  # data made, then dropped: the step's own input is measured with it
    base = rss_bytes()
    for step in range(2):
        trainer.step([source.batch(step)], step)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"base": base, "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/activation_memory.json")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child)))
        return
    from worldjepa import config
    from worldjepa.resources import FP32, estimate

    rows = []
    for name, overrides in CONFIGS.items():
        e = estimate(config.load("tiny-cpu", overrides + COMMON), name)
        estimated = (e.state_bytes - e.parameters * FP32
                     + e.global_batch * (e.activation_bytes_per_sample + e.input_bytes_per_sample))
        done = subprocess.run([sys.executable, __file__, "--child", *overrides, *COMMON], capture_output=True,
                              text=True, check=True)
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        delta = measured["peak"] - measured["base"]
        rows.append({"config": name, "overrides": overrides + COMMON,
                     "activations_gb": e.global_batch * e.activation_bytes_per_sample / 1e9,
                     "estimated_gb": estimated / 1e9, "measured_gb": delta / 1e9,
                     "error": estimated / delta - 1})
    print(f"{'config':<46} {'activations':>11} {'estimated':>9} {'measured':>9} {'error':>7}")
    for r in rows:
        print(f"{r['config']:<46} {r['activations_gb']:>9.2f}GB {r['estimated_gb']:>7.2f}GB {r['measured_gb']:>7.2f}GB "
              f"{r['error']:>+7.1%}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

"""The GPU benchmark: a V-JEPA 2.1 ViT-L/16 training step and a V-JEPA 2-AC CEM iteration, against a matmul
ceiling measured in the same run (docs/scaling.md).

    python benchmarks/gpu.py --out benchmarks/results/gpu.json          # on one GPU: under 5 minutes on an H200
    python benchmarks/gpu.py --tiny --device cpu                        # the same code at toy scale (the tests)

1. ceiling: the bf16 matmul rate of this device (square matmuls of 8192, timed), the denominator of every MFU
   below beside the datasheet's peak (--peak-tflops, default 989: H100 / H200 dense bf16);
2. ViT-L/16 step: V-JEPA 2.1 pretraining (dense loss, 4 levels, EMA teacher, predictor 24 × 384) on 16-frame
   256 px clips, bf16 autocast, through the trainer's own `step`: tokens/s, seconds per step, peak memory, MFU
   with the step's FLOPs from worldjepa/resources.py;
3. 2-AC CEM iteration: 800 action samples through the ViT-g-size action-conditioned predictor (24 × 1024,
   16 heads, on 256 patches of 1408 channels plus action and state tokens), one step ahead, L1 energy to a goal:
   seconds per iteration, its FLOPs and the fraction of the ceiling.
Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from worldjepa import config
from worldjepa.data.batches import Batch
from worldjepa.device import autocast, resolve_device
from worldjepa.dynamics.patch import PatchActionPredictor
from worldjepa.pretrain import build_objective
from worldjepa.resources import blocks_flops, estimate
from worldjepa.train.trainer import Trainer

FULL = {"matmul": 8192, "encoder": "large", "image_size": 256, "frames": 16, "patch": 16, "batch": 16,
        "predictor": (24, 384, 12), "samples": 800, "ac": (24, 1024, 16), "latent": 1408, "grid": 16, "steps": 5}
TINY = {"matmul": 256, "encoder": "tiny-cpu", "image_size": 32, "frames": 4, "patch": 8, "batch": 2,
        "predictor": (1, 32, 2), "samples": 16, "ac": (2, 64, 2), "latent": 48, "grid": 4, "steps": 2}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int) -> float:
    """Seconds per call of fn, after one warm-up call."""
    fn()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / repeats


def matmul_ceiling(n: int, device: torch.device) -> float:
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    seconds = timed(lambda: a @ b, device, 10)
    return 2 * n ** 3 / seconds


def vit_step(s: dict, device: torch.device) -> dict:
    p_depth, p_width, p_heads = s["predictor"]
    overrides = [f"model.encoder={s['encoder']}", f"data.image_size={s['image_size']}", f"data.frames={s['frames']}",
                 f"model.patch_size={s['patch']}", "model.tubelet_size=2", f"model.predictor_depth={p_depth}",
                 f"model.predictor_width={p_width}", f"model.predictor_heads={p_heads}", f"data.batch_size={s['batch']}",
                 "data.image_fraction=0", "train.precision=bf16", f"train.device={device.type}"]
    cfg = config.load("tiny-cpu", overrides)
    flops = estimate(cfg).flops_per_step
    trainer = Trainer(build_objective(cfg), None, cfg.optim, cfg.train, "unused", kind="pretrain", progress=False)
    g = torch.Generator().manual_seed(0)
    batch = Batch(video=torch.randn(s["batch"], s["frames"], 3, s["image_size"], s["image_size"], generator=g))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step = iter(range(10 ** 6))
    seconds = timed(lambda: trainer.step([batch], next(step)), device, s["steps"])
    tokens = s["batch"] * (s["frames"] // 2) * (s["image_size"] // s["patch"]) ** 2
    return {"config": overrides, "seconds_per_step": seconds, "tokens_per_s": tokens / seconds,
            "flops_per_step": flops, "achieved_tflops": flops / seconds / 1e12,
            "peak_memory_gb": torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None}


def cem_flops(samples: int, depth: int, width: int, latent: int, patches: int, action_dim: int = 7,
              state_dim: int = 7) -> float:
    """Forward FLOPs of one CEM iteration: every sample's one-step rollout (its group of action, state and
    patch tokens through the predictor) and the L1 energy's subtraction."""
    n = patches + 2
    per = blocks_flops(n, depth, width, 4 * width) + 2 * patches * (latent * width + width * latent)
    per += 2 * width * (action_dim + state_dim)
    return samples * per


def cem_iteration(s: dict, device: torch.device) -> dict:
    depth, width, heads = s["ac"]
    grid, latent, samples = s["grid"], s["latent"], s["samples"]
    predictor = PatchActionPredictor(latent, (grid, grid), 7, width, depth, heads, proprio_dim=7).to(device).eval()
    g = torch.Generator().manual_seed(0)
    z0 = torch.randn(1, grid * grid, latent, generator=g).to(device).expand(samples, -1, -1)
    goal = torch.randn(1, grid * grid, latent, generator=g).to(device)
    proprio = torch.randn(1, 1, 7, generator=g).to(device).expand(samples, -1, -1)
    actions = (0.05 * torch.randn(samples, 1, 7, generator=g)).to(device)

    @torch.no_grad()
    def iteration():
        with autocast(device, "bf16"):
            z = predictor.rollout(z0, actions, proprio)[:, -1]
        energy = (z.float() - goal).abs().mean((1, 2))
        return energy.topk(min(10, samples), largest=False).indices  # the elites CEM refits to

    seconds = timed(iteration, device, s["steps"])
    flops = cem_flops(samples, depth, width, latent, grid * grid)
    return {"samples": samples, "seconds_per_iteration": seconds, "flops_per_iteration": flops,
            "achieved_tflops": flops / seconds / 1e12,
            "parameters": sum(p.numel() for p in predictor.parameters())}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="toy scale, for a CPU and the tests")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="the datasheet's dense bf16 peak")
    parser.add_argument("--out", default="benchmarks/results/gpu.json")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    s = TINY if args.tiny else FULL
    ceiling = matmul_ceiling(s["matmul"], device)
    step, cem = vit_step(s, device), cem_iteration(s, device)
    for part in (step, cem):
        part["mfu_of_ceiling"] = part["achieved_tflops"] * 1e12 / ceiling
        part["mfu_of_peak"] = part["achieved_tflops"] / args.peak_tflops
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
              "torch": torch.__version__, "scale": "tiny" if args.tiny else "full",
              "matmul_ceiling_tflops": ceiling / 1e12, "vit_step": step, "cem_iteration": cem}
    print(f"device {result['device']}, bf16 matmul ceiling {ceiling / 1e12:.1f} TFLOPS (n = {s['matmul']})")
    print(f"{'':<22} {'time':>10} {'TFLOPS':>8} {'of ceiling':>10} {'of peak':>8}")
    print(f"{'ViT-L step' if not args.tiny else 'ViT step (tiny)':<22} {step['seconds_per_step']:>9.3f}s "
          f"{step['achieved_tflops']:>8.2f} {step['mfu_of_ceiling']:>10.1%} {step['mfu_of_peak']:>8.1%}"
          f"   {step['tokens_per_s']:,.0f} tokens/s"
          + (f", peak {step['peak_memory_gb']:.1f} GB" if step["peak_memory_gb"] else ""))
    print(f"{'2-AC CEM iteration':<22} {cem['seconds_per_iteration']:>9.3f}s {cem['achieved_tflops']:>8.2f} "
          f"{cem['mfu_of_ceiling']:>10.1%} {cem['mfu_of_peak']:>8.1%}   {cem['samples']} samples, "
          f"{cem['flops_per_iteration']:.2e} FLOPs")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()

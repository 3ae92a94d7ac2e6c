"""Does a predictor trained only to forecast the next frame detect violations where the pretraining
predictor does not? (docs/results.md, "Surprise".)

    python benchmarks/surprise_frame_predictor.py --checkpoint runs/physics/tiny-physics-seed0 \
        [--clips 3000] [--steps 5000] [--seed 0] [--out benchmarks/results]

On the frozen encoder of a pretraining run, frame t's tokens are the encoder's output for the tubelet
(frame t−1, frame t), LayerNorm'ed. V-JEPA 2-AC's block-causal patch predictor without actions
(dynamics/patch.py; 3 blocks × 128, 4 heads) predicts frame t+1's tokens as frame t's plus a learned
change, from up to `--window` − 1 frames: L1 loss, teacher forcing, AdamW with warm-up and cosine decay,
on 16-frame clips of the physics world with the 0.3-wide occluder in half of them. Surprise is the L1
error of that prediction over time, and the VoE quadruplets are the evaluation suite's (eval/voe.py,
same clips and event frames). The reference in the same features is copying frame t's tokens.
Prints a table of quadruplet accuracies (mean and peak surprise) and writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from worldjepa.data.batches import to_tensor
from worldjepa.device import autocast
from worldjepa.dynamics.patch import PatchActionPredictor
from worldjepa.eval.surprise import accuracies
from worldjepa.eval.voe import voe_pairs
from worldjepa.pretrain import load_pretrained
from worldjepa.worlds.balls import BallWorld

KINDS = ("permanence", "continuity")
CLIP_SETS = ("possible", "impossible", "possible_control", "impossible_control")


@torch.no_grad()
def frame_tokens(vit, frames: np.ndarray, batch: int = 64) -> torch.Tensor:
    """uint8 clips [B, T, S, S, 3] → [B, T − 1, N, D] bf16: frame t's tokens from the tubelet (t − 1, t)."""
    out = []
    for i in range(0, len(frames), batch):
        x = to_tensor(frames[i:i + batch])
        pairs = torch.stack([x[:, :-1], x[:, 1:]], 2).flatten(0, 1)
        with autocast("cpu", "bf16"):
            z = vit(pairs).float()
        out.append(F.layer_norm(z, z.shape[-1:]).unflatten(0, (x.shape[0], -1)).to(torch.bfloat16))
    return torch.cat(out)


def next_frame(predictor, z: torch.Tensor) -> torch.Tensor:
    """Predictions of frames 1.. from frames ..0: the current tokens plus the predicted change."""
    with autocast("cpu", "bf16"):
        delta = predictor(z, torch.zeros(*z.shape[:2], 0))
    return z + delta.float()


def train(predictor, Z: torch.Tensor, steps: int, window: int, batch: int, lr: float, seed: int) -> list[dict]:
    opt = torch.optim.AdamW(predictor.parameters(), lr=lr, weight_decay=1e-3)
    g = torch.Generator().manual_seed(seed)
    log = []
    for step in range(steps):
        idx = torch.randint(0, Z.shape[0], (batch,), generator=g)
        start = int(torch.randint(0, Z.shape[1] - window + 1, (1,), generator=g))
        z = Z[idx, start:start + window].float()
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + np.cos(np.pi * step / steps))
        loss = (next_frame(predictor, z[:, :-1]) - z[:, 1:]).abs().mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(predictor.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            copy = float((z[:, :-1] - z[:, 1:]).abs().mean())
            log.append({"step": step, "loss": float(loss), "copy": copy})
            print(f"step {step}: L1 {float(loss):.4f}, copying {copy:.4f}", flush=True)
    return log


@torch.no_grad()
def surprise(vit, predictor, clips: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(predictor's, copying's) error of every frame t ≥ 1 of the tokens, [B, T − 2] each."""
    z = frame_tokens(vit, clips).float()
    B, T = z.shape[:2]
    pred, copy = np.zeros((B, T - 1)), np.zeros((B, T - 1))
    for t in range(1, T):
        lo = max(0, t - (window - 1))
        guess = next_frame(predictor, z[:, lo:t])[:, -1]
        pred[:, t - 1] = (guess - z[:, t]).abs().flatten(1).mean(1).numpy()
        copy[:, t - 1] = (z[:, t - 1] - z[:, t]).abs().flatten(1).mean(1).numpy()
    return pred, copy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True, help="a pretraining run folder (its encoder is frozen)")
    ap.add_argument("--clips", type=int, default=3000)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--pairs", type=int, default=100, help="VoE quadruplets per violation type")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    vit, cfg = load_pretrained(args.checkpoint)
    world = dataclasses.replace(cfg.data.world, occluder=0.5, occluder_width=0.3)
    size = cfg.data.image_size
    t0 = time.perf_counter()
    gen = BallWorld(world, size)
    Z = torch.cat([frame_tokens(vit, gen.generate(min(500, args.clips - s), 16, seed=1000 + s + 100_000 * args.seed).frames)
                   for s in range(0, args.clips, 500)])
    print(f"tokens of {args.clips} clips: {tuple(Z.shape)} in {time.perf_counter() - t0:.0f} s", flush=True)
    side = size // cfg.model.patch_size
    predictor = PatchActionPredictor(Z.shape[-1], (side, side), 0, 128, 3, 4)
    t0 = time.perf_counter()
    log = train(predictor, Z, args.steps, args.window, args.batch, args.lr, args.seed)
    train_seconds = time.perf_counter() - t0
    predictor.eval()
    rows = {}
    for kind in KINDS:
        pairs = voe_pairs(kind, cfg.data.world, size, args.pairs, frames=16, seed=0, events=(8, 12), max_hidden=4)
        errors = {name: surprise(vit, predictor, getattr(pairs, name), args.window) for name in CLIP_SETS}
        for which, i in (("frame predictor", 0), ("copying", 1)):
            s = {name: e[i] for name, e in errors.items()}
            rows.setdefault(which, {})[kind] = {
                "mean": accuracies({k: v.mean(1) for k, v in s.items()})["quadruplet"],
                "peak": accuracies({k: v.max(1) for k, v in s.items()})["quadruplet"]}
    last = log[-10:]
    ratio = float(np.mean([r["loss"] / r["copy"] for r in last]))
    print(f"\nquadruplet accuracy, mean / peak surprise ({args.pairs} per type); {args.steps} steps in "
          f"{train_seconds:.0f} s; error / copying's over the last logged steps {ratio:.2f}")
    print(f"| {'':16} | " + " | ".join(f"{k:>11}" for k in KINDS) + " |")
    for which, r in rows.items():
        print(f"| {which:16} | " + " | ".join(f"{r[k]['mean']:.2f} / {r[k]['peak']:.2f}" for k in KINDS) + " |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "surprise_frame_predictor.json"
    path.write_text(json.dumps({"args": vars(args), "accuracy": rows, "error_over_copy": ratio,
                                "train_seconds": train_seconds, "log": log}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Which VQ tokenizer keeps the agent? The autoregressive baseline's tokenizer stage alone, in variants (docs/arena.md)

    python benchmarks/arena_tokenizer_variants.py --data runs/arena/two-rooms/data \
        --out runs/arena/tokenizer-variants.json

The arena's autoregressive model trains its tokenizer alone for its first 180 steps (0.3 of 600) on batches of 32
windows of 4 frames, then freezes it; benchmarks/arena_tokenizer.py found that its round trip loses the agent.
This trains the tokenizer stage alone, as the arena does (the world's wm-WORLD preset's AdamW, schedule over the
arena's 600 steps and weight decay on matrices only, bf16 autocast, 128 frames a step), in variants that differ in one thing each, and reads the agent's position off each one's round
trip of the held-out episodes' frames with the arena's frame reader (trained on real frames, the arena's split).

- `arena`: the arena's tokenizer (64 codes; every code that no cell of the batch chose restarts on the batch);
- `restart-idle-50`: a code restarts only after 50 batches unused (a code for the agent's rarer places survives);
- `no-restart`: codes never restart (IRIS);
- `codes-512`: 512 codes (IRIS's vocabulary), restarting after 50 idle batches;
- `foreground-x10`: the arena's, with pixels that differ from the batch's median frame weighted 10× in the
  reconstruction (the agent is a few pixels of a static scene);
- `grid-16`: the arena's with two downsamplings instead of three (16 × 16 cells of 4 × 4 pixels, 256 tokens a
  frame, four times the transformer's calls per generated frame).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from worldjepa.arena.horizon import episode_frames, train_reader
from worldjepa.arena.run import training_split
from worldjepa.config import OptimConfig, load_world_model
from worldjepa.data.batches import to_tensor
from worldjepa.data.episodes import EpisodeStore
from worldjepa.dynamics.autoregressive import VQTokenizer
from worldjepa.train.schedule import learning_rate
from worldjepa.train.trainer import param_groups
from worldjepa.worlds import make_world

VARIANTS = {
    "arena": dict(codes=64, restart_after=1, foreground=1.0),
    "restart-idle-50": dict(codes=64, restart_after=50, foreground=1.0),
    "no-restart": dict(codes=64, restart_after=0, foreground=1.0),
    "codes-512": dict(codes=512, restart_after=50, foreground=1.0),
    "foreground-x10": dict(codes=64, restart_after=1, foreground=10.0),
    "grid-16": dict(codes=64, restart_after=1, foreground=1.0, channels=(32, 64)),
}
ARENA_STEPS = 600  # the arena's training steps, over which its schedule runs


class Frames:
    """The frame reader's "model": frames are their own latents (as for the arena's pixel models)."""

    def encode(self, x):
        return x


def train_tokenizer(frames: np.ndarray, image_size: int, steps: int, optim: OptimConfig, codes: int,
                    restart_after: int, foreground: float, seed: int,
                    channels: tuple[int, ...] = (32, 64, 64)) -> VQTokenizer:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tokenizer = VQTokenizer(image_size, codes, channels=channels)
    groups = param_groups(tokenizer)
    for group in groups:
        group["weight_decay"] = optim.weight_decay[0] if group["apply_decay"] else 0.0
    optimizer = torch.optim.AdamW(groups, lr=optim.lr, betas=optim.betas, eps=optim.eps)
    idle = torch.zeros(codes, dtype=torch.long)  # consecutive batches each code went unchosen
    for step in range(steps):
        for group in optimizer.param_groups:  # the arena's schedule runs over all 600 steps of its model
            group["lr"] = learning_rate(step, ARENA_STEPS, optim)
        x = to_tensor(frames[rng.integers(len(frames), size=128)])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            e = tokenizer.encoder(x)
        e = e.float()
        index, q = tokenizer.quantize(e)
        used = torch.bincount(index.flatten(), minlength=codes) > 0
        idle = torch.where(used, 0, idle + 1)
        if restart_after and (idle >= restart_after).any():
            with torch.no_grad():  # the arena's restart, for codes idle long enough
                dead = idle >= restart_after
                flat = e.detach().permute(0, 2, 3, 1).reshape(-1, e.shape[1])
                pick = torch.randint(len(flat), (int(dead.sum()),), generator=torch.Generator().manual_seed(step))
                tokenizer.codebook.weight[dead] = flat[pick]
            idle[dead] = 0
            index, q = tokenizer.quantize(e)
        straight = e + (q - e).detach()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            decoded = tokenizer.decoder(straight)
        error = (decoded.float() - x).pow(2)
        if foreground != 1.0:  # pixels off the batch's median frame (what moves) weigh more
            moving = ((x - x.median(0).values).abs().amax(1, keepdim=True) > 0.1).float()
            error = error * (1 + (foreground - 1) * moving)
        loss = error.mean() + (q - e.detach()).pow(2).mean() + 0.25 * (e - q.detach()).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tokenizer.parameters(), optim.grad_clip)
        optimizer.step()
    return tokenizer.eval()


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="an arena world's episode store (runs/arena/two-rooms/data)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--steps", type=int, default=180, help="the arena's tokenizer stage: 0.3 of 600 steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frame-reader", default="conv", help="conv, or keypoints for push-t (as the arena's --frame-reader)")
    ap.add_argument("--reader-steps", type=int, default=800)
    ap.add_argument("--out", default=None, help="a JSON file for the figures")
    args = ap.parse_args()
    store = EpisodeStore(args.data)
    world = make_world(store.meta.world, image_size=store.meta.image_size)
    optim = load_world_model(f"wm-{store.meta.world}").optim
    split = training_split(len(store))
    held_out = range(split, len(store))
    with torch.enable_grad():
        reader = train_reader(Frames(), store, range(0, split), held_out, steps=args.reader_steps, seed=args.seed,
                              world=world, frame_reader=args.frame_reader)
    if reader.held_out_r2 < reader.min_r2:
        raise SystemExit(f"the frame reader reads held-out real frames with R² {reader.held_out_r2:.3f} < "
                         f"{reader.min_r2}: it cannot judge round trips (raise --reader-steps, or --frame-reader "
                         "keypoints for push-t)")
    frames, states = episode_frames(store, held_out, world)
    training = np.concatenate([store.episodes[e]["obs"] for e in range(split)])
    real = float((reader.read(frames) - states).norm(dim=-1).mean())
    print(f"frame reader: held-out R² {reader.held_out_r2:.3f}, error on real frames {real:.3f}", flush=True)
    rows = []
    for name in args.variants:
        start = time.perf_counter()
        with torch.enable_grad():
            tokenizer = train_tokenizer(training, store.meta.image_size, args.steps, optim, seed=args.seed,
                                        **VARIANTS[name])
        codes = torch.cat([tokenizer.tokenize(frames[i:i + 256]) for i in range(0, len(frames), 256)])
        trip = torch.cat([tokenizer.detokenize(codes[i:i + 256]) for i in range(0, len(codes), 256)])
        used = len(torch.unique(codes))
        error = float((reader.read(trip) - states).norm(dim=-1).mean())
        rows.append({"variant": name, **VARIANTS[name], "error": error,
                     "pixel_mse": float((trip - frames).pow(2).mean()), "codes_used": used,
                     "seconds": time.perf_counter() - start})
        print(f"{name}: agent error {rows[-1]['error']:.3f}, pixel MSE {rows[-1]['pixel_mse']:.4f}, "
              f"{used} codes used, {rows[-1]['seconds']:.0f} s", flush=True)
    print(f"\n| variant | agent position error off the round trip (real frames: {real:.3f}) | pixel MSE | codes used |"
          "\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['error']:.3f} | {r['pixel_mse']:.4f} | {r['codes_used']} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"data": args.data, "steps": args.steps, "seed": args.seed,
                                              "reader_r2": reader.held_out_r2, "real_error": real, "variants": rows},
                                             indent=2))


if __name__ == "__main__":
    main()

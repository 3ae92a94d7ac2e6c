"""Feature extraction at the published setting: a V-JEPA 2 ViT-L/16 in the released torch.hub layout, converted by
`worldjepa convert`, embedding 16-frame 256 px windows with `worldjepa embed`, fp32 against bf16.

    python benchmarks/embed_throughput.py [--size large] [--windows 4] [--repeats 2] [--out runs/bench]

The weights are random (throughput does not depend on them) but go the user's way: written as Meta's file
(`target_encoder`, `module.backbone.` keys), converted into a run folder, then `embed` on a generated video of
`windows` × 16 frames with stride 16. Each precision is timed `repeats` times, alternating, after a warm-up;
the matmul ceiling of each precision is measured in the same run beside it (benchmarks/pretrain_throughput.py),
since a shared machine's speed drifts, and GFLOP/s per window (FlopCounterMode over one window) is set against
it. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from pretrain_throughput import matmul_ceiling  # noqa: E402

from worldjepa.cli import main as worldjepa  # noqa: E402
from worldjepa.interop.vjepa2_hub import vjepa2_hub_state  # noqa: E402
from worldjepa.nn.encoder import Encoder  # noqa: E402
from worldjepa.pretrain import load_pretrained  # noqa: E402

FRAMES, SIZE = 16, 256  # V-JEPA 2's evaluation clips


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="large", help="encoder size preset (large: ViT-L, the published V-JEPA 2 ViT-L)")
    ap.add_argument("--windows", type=int, default=4, help="16-frame windows per timed embed")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="runs/bench")
    args = ap.parse_args()
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp())
    encoder = Encoder(args.size, patch_size=16, tubelet_size=2, separate_tokenizers=False, levels=1, tiled_rope=True)
    torch.save({"target_encoder": {f"module.backbone.{k}": v for k, v in vjepa2_hub_state(encoder).items()}},
               work / "vit.pt")
    del encoder
    assert worldjepa(["convert", str(work / "vit.pt"), "--out", str(work / "run"), "--image-size", str(SIZE)]) == 0
    assert worldjepa(["generate", "--out", str(work / "media"), "--clips", "1", "--frames", str(FRAMES * args.windows),
                      "--image-size", str(SIZE)]) == 0
    video = next((work / "media").rglob("*.mp4"))

    converted, _ = load_pretrained(work / "run")
    params = sum(p.numel() for p in converted.parameters())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        converted(torch.zeros(1, FRAMES, 3, SIZE, SIZE))
    flops = counter.get_total_flops()
    del converted

    def timed(precision: str) -> float:
        start = time.perf_counter()
        code = worldjepa(["embed", str(video), "--checkpoint", str(work / "run"), "--precision", precision,
                          "--stride", str(FRAMES), "--batch-size", "2", "--quiet",
                          "--out", str(work / f"{precision}.safetensors")])
        assert code == 0
        return time.perf_counter() - start

    samples: dict[str, list[tuple[float, float]]] = {"fp32": [], "bf16": []}
    for precision in samples:  # warm-up
        timed(precision)
    for _ in range(args.repeats):
        for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            ceiling = matmul_ceiling(dtype)
            samples[precision].append((timed(precision), ceiling))
    rows = []
    print(f"{args.size}: {params / 1e6:.0f} M parameters, {flops / 1e12:.2f} TFLOP per {FRAMES}×{SIZE}² window; "
          f"{args.windows} windows per embed (model load and video decoding included)")
    print(f"{'precision':<9} {'s/embed':>8} {'windows/s':>9} {'GFLOP/s':>8} {'ceiling':>8} {'of ceiling':>10}")
    for precision, runs in samples.items():
        seconds = statistics.median(s for s, _ in runs)
        ceiling = statistics.median(c for _, c in runs)
        rate = args.windows / seconds
        row = {"precision": precision, "seconds": seconds, "windows_per_s": rate,
               "gflops": rate * flops / 1e9, "ceiling_gflops": ceiling / 1e9, "runs": runs}
        row["of_ceiling"] = row["gflops"] / row["ceiling_gflops"]
        rows.append(row)
        print(f"{precision:<9} {seconds:>8.1f} {rate:>9.3f} {row['gflops']:>8.0f} {row['ceiling_gflops']:>8.0f} "
              f"{row['of_ceiling']:>10.0%}")
    print(f"bf16 / fp32 speed: {rows[1]['windows_per_s'] / rows[0]['windows_per_s']:.2f}×")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "embed_throughput.json").write_text(json.dumps(
        {"size": args.size, "parameters": params, "flops_per_window": flops, "frames": FRAMES, "image_size": SIZE,
         "windows": args.windows, "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
         "rows": rows}, indent=2))
    print(f"wrote {out / 'embed_throughput.json'}")


if __name__ == "__main__":
    main()

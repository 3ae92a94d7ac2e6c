"""Parity with the official code: Meta's own modules, built small with random weights, saved as the released
checkpoints are saved, read back and converted by worldjepa, then run on the same inputs.

    PEERVENV/bin/python benchmarks/parity_official.py OFFICIAL_CHECKOUT [--out runs/bench] [--shapes FILE]

OFFICIAL_CHECKOUT is a work tree of facebookresearch/vjepa2 (fetched by you, never part of this repository);
the official modules need einops (PEERVENV, docs/benchmarks.md, has it). They import timm only for
`drop_path`, which is the identity at the drop rate 0 used here, so a stand-in is put in its place when timm
is absent (timm would pull a CUDA build of torch). Rows so far: the V-JEPA 2 encoder (`vision_transformer.
VisionTransformer` with RoPE, as the hub builds it) at two head widths, one with channels RoPE leaves alone,
the masked-latent predictor (`predictor.vit_predictor`), the V-JEPA 2-AC predictor
(`ac_predictor.vit_ac_predictor`) and, where the checkout has app/vjepa_2_1, the
V-JEPA 2.1 encoder (clips, images, hierarchical levels).
Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import types
from functools import partial
from pathlib import Path

import torch
from torch import nn

import torch.nn.functional as F

from worldjepa.interop.vjepa2_ac_hub import predictor_from_vjepa2_ac_hub
from worldjepa.interop.vjepa2_hub import encoder_from_vjepa2_hub, predictor_from_vjepa2_hub, read_checkpoint
from worldjepa.nn.tokenizers import grid_positions

TOLERANCE = 1e-4


def stand_in_for_timm() -> None:
    try:
        import timm  # noqa: F401
    except ImportError:
        layers = types.ModuleType("timm.models.layers")
        layers.drop_path = lambda x, drop_prob=0.0, training=False: x
        sys.modules.update({"timm": types.ModuleType("timm"), "timm.models": types.ModuleType("timm.models"),
                            "timm.models.layers": layers})


def far_from_init(module: nn.Module, seed: int) -> None:
    """Weights of a trained-looking scale, not the initialisation (where a swapped tensor could hide)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            scale = 1 / math.sqrt(p[0].numel()) if p.dim() > 1 else 0.3
            p.copy_(torch.randn(p.shape, generator=g) * scale + (1.0 if "norm" in name and "weight" in name else 0.0))


def vjepa2_encoder(width: int, heads: int, seed: int) -> dict:
    from src.models.vision_transformer import VisionTransformer

    official = VisionTransformer(img_size=(32, 32), patch_size=8, num_frames=4, tubelet_size=2, embed_dim=width,
                                 depth=2, num_heads=heads, mlp_ratio=4.0, qkv_bias=True, use_rope=True,
                                 norm_layer=partial(nn.LayerNorm, eps=1e-6), use_sdpa=True).eval()
    far_from_init(official, seed)
    state = {f"module.backbone.{k}": v for k, v in official.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp:  # saved and read as a released file is
        torch.save({"encoder": state, "target_encoder": state, "epoch": 1}, Path(tmp) / "vit.pt")
        encoder = encoder_from_vjepa2_hub(read_checkpoint(Path(tmp) / "vit.pt"), heads=heads)
    x = torch.randn(2, 4, 3, 32, 32, generator=torch.Generator().manual_seed(seed + 1))  # [B, T, C, H, W]
    with torch.no_grad():
        theirs = official(x.permute(0, 2, 1, 3, 4))  # the official encoder reads [B, C, T, H, W]
        ours = encoder(x)
    head_dim = width // heads
    return {"module": "V-JEPA 2 encoder (src/models/vision_transformer.py, use_rope)", "width": width, "heads": heads,
            "unrotated_channels": head_dim - 3 * (2 * ((head_dim // 3) // 2)),
            "max_abs_diff": float((ours - theirs).abs().max()), "output_std": float(theirs.std())}


def vjepa2_1_encoder(width: int, heads: int, seed: int) -> dict:
    """V-JEPA 2.1 (app/vjepa_2_1, where a checkout has it): 12 blocks, 64 px at patch 16 (a 4 × 4 grid whose RoPE
    positions are interpolated onto the 16 × 16 pretraining grid), images through their own tokenizer; the
    final output of clips and of images, and the four hierarchical levels."""
    from app.vjepa_2_1.models.vision_transformer import VisionTransformer

    official = VisionTransformer(img_size=(64, 64), patch_size=16, num_frames=4, tubelet_size=2, embed_dim=width,
                                 depth=12, num_heads=heads, mlp_ratio=4.0, qkv_bias=True, use_rope=True,
                                 norm_layer=partial(nn.LayerNorm, eps=1e-6), img_temporal_dim_size=1,
                                 interpolate_rope=True, modality_embedding=True, n_output_distillation=4).eval()
    far_from_init(official, seed)
    state = {f"module.backbone.{k}": v for k, v in official.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp:
        torch.save({"ema_encoder": state, "epoch": 1}, Path(tmp) / "vit21.pt")
        encoder = encoder_from_vjepa2_hub(read_checkpoint(Path(tmp) / "vit21.pt"), heads=heads)
    g = torch.Generator().manual_seed(seed + 1)
    clip, image = torch.randn(2, 4, 3, 64, 64, generator=g), torch.randn(2, 3, 64, 64, generator=g)
    with torch.no_grad():
        diffs = [(encoder(clip) - official(clip.permute(0, 2, 1, 3, 4))).abs().max(),
                 (encoder(image) - official(image[:, :, None])).abs().max()]  # a still is a 1-frame clip there
        official.return_hierarchical = True
        levels = official(clip.permute(0, 2, 1, 3, 4))
        diffs.append((encoder(clip, all_levels=True) - levels).abs().max())
    head_dim = width // heads
    return {"module": "V-JEPA 2.1 encoder: clips, images, 4 levels (app/vjepa_2_1)", "width": width, "heads": heads,
            "unrotated_channels": head_dim - 3 * (2 * ((head_dim // 3) // 2)),
            "max_abs_diff": float(max(diffs)), "output_std": float(levels.std())}


def vjepa2_predictor(width: int, heads: int, seed: int) -> dict:
    """The masked-latent predictor over a 2 × 4 × 4 token grid of a 48-wide encoder: 20 context tokens, 12
    targets (in a scrambled order: the official module sorts by position, worldjepa does not need to), the
    second of two mask tokens."""
    from src.models.predictor import vit_predictor

    official = vit_predictor(img_size=(32, 32), patch_size=8, num_frames=4, tubelet_size=2, embed_dim=48,
                             predictor_embed_dim=width, depth=2, num_heads=heads, use_mask_tokens=True,
                             num_mask_tokens=2, use_rope=True, uniform_power=False, use_sdpa=True).eval()
    far_from_init(official, seed)
    state = {f"module.backbone.{k}": v for k, v in official.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp:
        torch.save({"target_encoder": {}, "predictor": state, "epoch": 1}, Path(tmp) / "vit.pt")
        predictor = predictor_from_vjepa2_hub(read_checkpoint(Path(tmp) / "vit.pt"), heads=heads)
    g = torch.Generator().manual_seed(seed + 1)
    order = torch.stack([torch.randperm(32, generator=g) for _ in range(2)])  # token indices of a 2 × 4 × 4 grid
    ctx, tgt = order[:, :20], order[:, 20:]
    z = torch.randn(2, 20, 48, generator=g)
    positions = grid_positions((2, 4, 4))
    with torch.no_grad():
        theirs = official(z, [ctx], [tgt], mask_index=1)
        ours, _ = predictor(z, positions[ctx], positions[tgt], mask_type=1)
    head_dim = width // heads
    return {"module": "V-JEPA 2 masked-latent predictor (src/models/predictor.py)", "width": width, "heads": heads,
            "unrotated_channels": head_dim - 3 * (2 * ((head_dim // 3) // 2)),
            "max_abs_diff": float((ours - theirs).abs().max()), "output_std": float(theirs.std())}


def vjepa2_ac_predictor(width: int, heads: int, seed: int) -> dict:
    """The 2-AC predictor over 3 steps of a 4 × 4 patch grid of a 48-wide encoder, 7-d actions and states."""
    from src.models.ac_predictor import vit_ac_predictor

    official = vit_ac_predictor(img_size=(32, 32), patch_size=8, num_frames=8, tubelet_size=2, embed_dim=48,
                                predictor_embed_dim=width, depth=2, num_heads=heads, action_embed_dim=7,
                                use_rope=True).eval()
    far_from_init(official, seed)
    state = {f"module.backbone.{k}": v for k, v in official.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp:
        torch.save({"encoder": {}, "predictor": state, "epoch": 1}, Path(tmp) / "ac.pt")
        predictor, left_out = predictor_from_vjepa2_ac_hub(read_checkpoint(Path(tmp) / "ac.pt"), grid=(4, 4),
                                                           heads=heads)
    g = torch.Generator().manual_seed(seed + 1)
    B, T = 2, 3
    z = F.layer_norm(torch.randn(B, T, 16, 48, generator=g), (48,))  # LayerNorm'ed patch features
    actions, states = torch.randn(B, T, 7, generator=g), torch.randn(B, T, 7, generator=g)
    with torch.no_grad():
        theirs = official(z.flatten(1, 2), actions, states)  # [B, T·16, 48]
        theirs = F.layer_norm(theirs, (48,)).unflatten(1, (T, 16))  # normalize_reps, as its training code does
        ours = predictor(z, actions, states)
    head_dim = width // heads
    return {"module": "V-JEPA 2-AC predictor (src/models/ac_predictor.py)", "width": width, "heads": heads,
            "unrotated_channels": head_dim - 3 * (2 * ((head_dim // 3) // 2)), "left_out": left_out,
            "max_abs_diff": float((ours - theirs).abs().max()), "output_std": float(theirs.std())}


def official_shapes() -> dict[str, dict[str, list[int]]]:
    """Every parameter's shape as the official constructors build the released models (on the meta device:
    no memory), for tests/fixtures/official_shapes.json."""
    from src.models import vision_transformer
    from src.models.ac_predictor import vit_ac_predictor

    try:
        from app.vjepa_2_1.models import vision_transformer as v21
    except ImportError:  # a checkout from before V-JEPA 2.1
        v21 = None

    linspace = torch.linspace  # the constructors call .item() on a linspace, which the meta device cannot
    torch.linspace = lambda *a, **k: linspace(*a, **{**k, "device": "cpu"})
    common = dict(patch_size=16, img_size=(256, 256), num_frames=64, tubelet_size=2, use_rope=True, use_sdpa=True)
    try:
        with torch.device("meta"):
            models = {name: vision_transformer.__dict__[name](**common)
                      for name in ("vit_large", "vit_huge", "vit_giant_xformers")}
            models["vit_ac_predictor (on vit_giant_xformers)"] = vit_ac_predictor(
                img_size=(256, 256), patch_size=16, num_frames=64, tubelet_size=2, embed_dim=1408)
            if v21 is not None:  # as the hub builds V-JEPA 2.1 (src/hub/backbones.py): 384 px, images, RoPE interpolation
                for name in ("vit_base", "vit_large", "vit_giant_xformers", "vit_gigantic_xformers"):
                    models[f"2.1 {name}"] = v21.__dict__[name](**{**common, "img_size": (384, 384)},
                                                               img_temporal_dim_size=1, interpolate_rope=True)
    finally:
        torch.linspace = linspace
    return {name: {k: list(v.shape) for k, v in m.state_dict().items()} for name, m in models.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkout", help="a work tree of facebookresearch/vjepa2")
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--shapes", default=None, help="also write the released models' parameter shapes to this JSON "
                    "(tests/fixtures/official_shapes.json)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(args.checkout).resolve()))
    stand_in_for_timm()
    torch.set_default_dtype(torch.float32)
    if args.shapes:
        shapes = official_shapes()
        Path(args.shapes).write_text("{\n" + ",\n".join(f"{json.dumps(name)}: {json.dumps(v, separators=(',', ':'))}"
                                                         for name, v in shapes.items()) + "\n}\n")
        print(f"wrote {args.shapes}: " + ", ".join(f"{k} ({len(v)} tensors)" for k, v in shapes.items()))
    rows = [vjepa2_encoder(96, 4, seed=0), vjepa2_encoder(80, 2, seed=1), vjepa2_predictor(64, 4, seed=4),
            vjepa2_ac_predictor(64, 4, seed=2)]
    if (Path(args.checkout) / "app" / "vjepa_2_1").is_dir():
        rows.append(vjepa2_1_encoder(96, 4, seed=3))
    else:
        print("this checkout has no app/vjepa_2_1: the V-JEPA 2.1 row is skipped")
    print(f"{'module':<62} {'width':>5} {'heads':>5} {'unrotated':>9} {'max |Δ|':>10} {'out std':>8}  verdict")
    for r in rows:
        r["parity"] = r["max_abs_diff"] < TOLERANCE
        print(f"{r['module']:<62} {r['width']:>5} {r['heads']:>5} {r['unrotated_channels']:>9} "
              f"{r['max_abs_diff']:>10.2e} {r['output_std']:>8.3f}  {'parity' if r['parity'] else 'MISMATCH'}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "parity_official.json").write_text(json.dumps({"tolerance": TOLERANCE, "rows": rows}, indent=2))
    print(f"wrote {out / 'parity_official.json'}")
    if not all(r["parity"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Parity with the official code: Meta's own modules, built small with random weights, saved as the released
checkpoints are saved, read back and converted by worldjepa, then run on the same inputs.

    PEERVENV/bin/python benchmarks/parity_official.py OFFICIAL_CHECKOUT [--ijepa IJEPA_CHECKOUT] [--out runs/bench] [--shapes FILE]

OFFICIAL_CHECKOUT is a work tree of facebookresearch/vjepa2 (fetched by you, never part of this repository);
the official modules need einops (PEERVENV, docs/benchmarks.md, has it). They import timm only for
`drop_path`, which is the identity at the drop rate 0 used here, so a stand-in is put in its place when timm
is absent (timm would pull a CUDA build of torch). Rows so far: the V-JEPA 2 encoder (`vision_transformer.
VisionTransformer` with RoPE, as the hub builds it) at two head widths, one with channels RoPE leaves alone,
the masked-latent predictor (`predictor.vit_predictor`), the V-JEPA 2-AC predictor
(`ac_predictor.vit_ac_predictor`) and, where the checkout has app/vjepa_2_1, the
V-JEPA 2.1 encoder (clips, images, hierarchical levels). Then the official modules through worldjepa's
commands: a 2.1 encoder converted, embedded and evaluated; a 2-AC predictor converted with --world two-rooms and
planned with. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import types
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

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


def through_a_released_file(module: nn.Module, entries: tuple[str, ...], convert, **kwargs):
    """The official module saved as a released file is (its state dict under `module.backbone.` in each of
    `entries`), read back with `read_checkpoint` and converted by `convert(checkpoint, **kwargs)`."""
    state = {f"module.backbone.{k}": v for k, v in module.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp:
        torch.save({**{entry: state for entry in entries}, "epoch": 1}, Path(tmp) / "released.pt")
        return convert(read_checkpoint(Path(tmp) / "released.pt"), **kwargs)


def scrambled_masks(seed: int, tokens: int = 32, context: int = 20) -> tuple[torch.Generator, Tensor, Tensor]:
    """(generator, context indices, target indices) of two samples, in a scrambled order."""
    g = torch.Generator().manual_seed(seed)
    order = torch.stack([torch.randperm(tokens, generator=g) for _ in range(2)])
    return g, order[:, :context], order[:, context:]


def vjepa2_encoder(width: int, heads: int, seed: int) -> dict:
    from src.models.vision_transformer import VisionTransformer

    official = VisionTransformer(img_size=(32, 32), patch_size=8, num_frames=4, tubelet_size=2, embed_dim=width,
                                 depth=2, num_heads=heads, mlp_ratio=4.0, qkv_bias=True, use_rope=True,
                                 norm_layer=partial(nn.LayerNorm, eps=1e-6), use_sdpa=True).eval()
    far_from_init(official, seed)
    encoder = through_a_released_file(official, ("encoder", "target_encoder"), encoder_from_vjepa2_hub, heads=heads)
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
    encoder = through_a_released_file(official, ("ema_encoder",), encoder_from_vjepa2_hub, heads=heads)
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
    predictor = through_a_released_file(official, ("predictor",), predictor_from_vjepa2_hub, heads=heads)
    g, ctx, tgt = scrambled_masks(seed + 1)  # token indices of a 2 × 4 × 4 grid
    z = torch.randn(2, 20, 48, generator=g)
    positions = grid_positions((2, 4, 4))
    with torch.no_grad():
        theirs = official(z, [ctx], [tgt], mask_index=1)
        ours, _ = predictor(z, positions[ctx], positions[tgt], mask_type=1)
    head_dim = width // heads
    return {"module": "V-JEPA 2 masked-latent predictor (src/models/predictor.py)", "width": width, "heads": heads,
            "unrotated_channels": head_dim - 3 * (2 * ((head_dim // 3) // 2)),
            "max_abs_diff": float((ours - theirs).abs().max()), "output_std": float(theirs.std())}


def vjepa2_1_predictor(width: int, heads: int, seed: int) -> dict:
    """V-JEPA 2.1's predictor (app/vjepa_2_1/models/predictor.py): 4 blocks over the 4 levels of a 48-wide encoder
    (its MLP `predictor_embed`), a 2 × 4 × 4 grid of 64 px at patch 16 whose RoPE positions are interpolated onto
    the 16 × 16 pretraining grid, modality vectors, the context head (`return_all_tokens`); clips and images."""
    from app.vjepa_2_1.models.predictor import vit_predictor as v21_predictor

    official = v21_predictor(img_size=(64, 64), patch_size=16, num_frames=4, tubelet_size=2, embed_dim=48,
                             predictor_embed_dim=width, depth=4, num_heads=heads, use_mask_tokens=True,
                             num_mask_tokens=2, use_rope=True, interpolate_rope=True, img_temporal_dim_size=1,
                             modality_embedding=True, return_all_tokens=True).eval()
    far_from_init(official, seed)
    predictor = through_a_released_file(official, ("predictor",), predictor_from_vjepa2_hub, heads=heads)
    g, ctx, tgt = scrambled_masks(seed + 1)
    z = torch.randn(2, 20, 4 * 48, generator=g)
    positions = grid_positions((2, 4, 4)).float() * torch.tensor([1.0, 5.0, 5.0])  # h·(16 − 1)/(4 − 1)
    diffs = []
    with torch.no_grad():
        for mod, modality in (("video", 1), ("image", 0)):
            theirs_t, theirs_c = official(z, [ctx], [tgt], mod=mod, mask_index=1)
            ours_t, ours_c = predictor(z, positions[ctx], positions[tgt], mask_type=1, modality=modality)
            diffs += [(ours_t - theirs_t).abs().max(), (ours_c - theirs_c).abs().max()]
    head_dim = width // heads
    return {"module": "V-JEPA 2.1 predictor: targets and context, clips and images (app/vjepa_2_1)", "width": width,
            "heads": heads, "unrotated_channels": head_dim - 3 * (2 * ((head_dim // 3) // 2)),
            "max_abs_diff": float(max(diffs)), "output_std": float(theirs_t.std())}


def vjepa2_ac_predictor(width: int, heads: int, seed: int) -> dict:
    """The 2-AC predictor over 3 steps of a 4 × 4 patch grid of a 48-wide encoder, 7-d actions and states."""
    from src.models.ac_predictor import vit_ac_predictor

    official = vit_ac_predictor(img_size=(32, 32), patch_size=8, num_frames=8, tubelet_size=2, embed_dim=48,
                                predictor_embed_dim=width, depth=2, num_heads=heads, action_embed_dim=7,
                                use_rope=True).eval()
    far_from_init(official, seed)
    predictor, left_out = through_a_released_file(official, ("predictor",), predictor_from_vjepa2_ac_hub,
                                                  grid=(4, 4), heads=heads)
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


def end_to_end(out: Path, with_v21: bool) -> list[dict]:
    """The official modules through worldjepa's commands: a V-JEPA 2.1 encoder (12 blocks, 64 px) converted, then
    `embed` (16-frame windows of a generated video, all 4 levels) and `eval --small`; a V-JEPA 2 encoder and a
    2-AC predictor whose action and state sizes are two-rooms' (2) converted with --world two-rooms, then
    `plan` one episode with samples=50 iterations=3."""
    from src.models.ac_predictor import vit_ac_predictor
    from src.models.vision_transformer import VisionTransformer

    from worldjepa.cli import main as worldjepa

    rows = []
    work = Path(tempfile.mkdtemp(dir=out))
    if with_v21:
        from app.vjepa_2_1.models.vision_transformer import VisionTransformer as V21

        official = V21(img_size=(64, 64), patch_size=16, num_frames=16, tubelet_size=2, embed_dim=96, depth=12,
                       num_heads=4, mlp_ratio=4.0, qkv_bias=True, use_rope=True,
                       norm_layer=partial(nn.LayerNorm, eps=1e-6), img_temporal_dim_size=1, interpolate_rope=True,
                       modality_embedding=True, n_output_distillation=4).eval()
        far_from_init(official, 5)
        torch.save({"ema_encoder": {f"module.backbone.{k}": v for k, v in official.state_dict().items()}},
                   work / "vjepa2_1_small.pt")
        steps = {"convert": ["convert", str(work / "vjepa2_1_small.pt"), "--out", str(work / "v21"), "--heads", "4",
                             "--image-size", "64"],
                 "generate": ["generate", "--out", str(work / "media"), "--clips", "2", "--frames", "40",
                              "--image-size", "64"],
                 "embed": ["embed", str(work / "media"), "--checkpoint", str(work / "v21"), "--levels", "all",
                           "--stride", "8", "--out", str(work / "features.safetensors"), "--quiet"],
                 "eval": ["eval", "--checkpoint", str(work / "v21"), "--small", "--quiet"]}
        codes = {name: worldjepa(argv) for name, argv in steps.items()}
        results = json.loads((work / "v21" / "eval" / "results.json").read_text())
        rows.append({"check": "official V-JEPA 2.1 encoder → convert → embed → eval --small", "exit_codes": codes,
                     "eval_tasks": sorted(results["tasks"]), "skipped": results.get("skipped", {})})
    encoder = VisionTransformer(img_size=(64, 64), patch_size=16, num_frames=16, tubelet_size=2, embed_dim=96,
                                depth=2, num_heads=4, mlp_ratio=4.0, qkv_bias=True, use_rope=True,
                                norm_layer=partial(nn.LayerNorm, eps=1e-6), use_sdpa=True).eval()
    predictor = vit_ac_predictor(img_size=(64, 64), patch_size=16, num_frames=16, tubelet_size=2, embed_dim=96,
                                 predictor_embed_dim=64, depth=2, num_heads=4, action_embed_dim=2, use_rope=True).eval()
    far_from_init(encoder, 6)
    far_from_init(predictor, 7)
    wrap = lambda m: {f"module.backbone.{k}": v for k, v in m.state_dict().items()}  # noqa: E731
    torch.save({"encoder": wrap(encoder), "target_encoder": wrap(encoder), "predictor": wrap(predictor)},
               work / "vjepa2_ac_small.pt")
    steps = {"convert": ["convert", str(work / "vjepa2_ac_small.pt"), "--out", str(work / "ac"), "--world", "two-rooms",
                         "--image-size", "64", "--heads", "4", "--predictor-heads", "4"],
             "plan": ["plan", "--checkpoint", str(work / "ac"), "--episodes", "1", "--record", "0", "--quiet",
                      "samples=50", "iterations=3"]}
    codes = {name: worldjepa(argv) for name, argv in steps.items()}
    plan = json.loads((work / "ac" / "plan" / "results.json").read_text())
    rows.append({"check": "official V-JEPA 2-AC predictor (action size 2) → convert --world two-rooms → plan",
                 "exit_codes": codes, "episodes": plan["episodes"], "success_rate": plan["success_rate"],
                 "final_distance": plan["final_distance_mean"], "seconds_per_plan": plan["seconds_per_plan"]})
    return rows


@contextmanager
def on_meta():
    """Build on the meta device (shapes only); the official constructors call .item() on a linspace, which the
    meta device cannot, so linspace runs on the CPU meanwhile."""
    linspace = torch.linspace
    torch.linspace = lambda *a, **k: linspace(*a, **{**k, "device": "cpu"})
    try:
        with torch.device("meta"):
            yield
    finally:
        torch.linspace = linspace


@contextmanager
def checkout_first(path: Path):
    """Import from another official work tree whose package is also named `src` (facebookresearch/ijepa): its
    modules in place of vjepa2's for the duration, vjepa2's back afterwards."""
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if name == "src" or name.startswith("src.")}
    sys.path.insert(0, str(path.resolve()))
    try:
        yield
    finally:
        sys.path.remove(str(path.resolve()))
        for name in [n for n in sys.modules if n == "src" or n.startswith("src.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def ijepa_rows(checkout: Path) -> tuple[list[dict], dict[str, dict[str, list[int]]]]:
    """I-JEPA's own `VisionTransformer` and `VisionTransformerPredictor` (src/models/vision_transformer.py of
    facebookresearch/ijepa), small with random weights, saved as its checkpoints are (`target_encoder`, `predictor`
    under `module.`) and converted; and the released ViT-H/14 and ViT-g/16 shapes (224 px, with their
    predictors: 12 and 16 blocks of 384 with 16 heads)."""
    from worldjepa.interop.ijepa_official import encoder_from_ijepa_official, predictor_from_ijepa_official

    with checkout_first(checkout):
        from src.models import vision_transformer as ijepa

        encoder = ijepa.vit_small(img_size=[32], patch_size=8).eval()  # 12 blocks of 384, 6 heads, 4 × 4 patches
        predictor = ijepa.vit_predictor(num_patches=16, embed_dim=384, predictor_embed_dim=96, depth=2,
                                        num_heads=6).eval()
        for module, seed in ((encoder, 9), (predictor, 10)):
            fixed = {k: v.clone() for k, v in module.state_dict().items() if "pos_embed" in k}
            far_from_init(module, seed)
            module.load_state_dict({**module.state_dict(), **fixed})  # the sin-cos tables stay fixed, as in I-JEPA
        g, ctx, tgt = scrambled_masks(11, tokens=16, context=10)
        images = torch.randn(2, 3, 32, 32, generator=g)
        with tempfile.TemporaryDirectory() as tmp:
            wrap = lambda m: {f"module.{k}": v for k, v in m.state_dict().items()}  # noqa: E731
            torch.save({"encoder": wrap(encoder), "target_encoder": wrap(encoder), "predictor": wrap(predictor),
                        "epoch": 1, "opt": {}, "scaler": None}, Path(tmp) / "in1k.pth.tar")
            checkpoint = read_checkpoint(Path(tmp) / "in1k.pth.tar")
            ours_encoder = encoder_from_ijepa_official(checkpoint, heads=6)
            ours_predictor = predictor_from_ijepa_official(checkpoint, heads=6)
        positions = grid_positions((1, 4, 4))
        with torch.no_grad():
            theirs_z = encoder(images)
            z_ctx = torch.gather(theirs_z, 1, ctx[..., None].expand(-1, -1, 384))
            theirs_p = predictor(z_ctx, [ctx], [tgt])
            ours_z = ours_encoder(images)
            ours_p, _ = ours_predictor(z_ctx, positions[ctx], positions[tgt], mask_type=0)
        rows = [{"module": "I-JEPA encoder (facebookresearch/ijepa vit_small, 32 px / 8)", "width": 384, "heads": 6,
                 "unrotated_channels": 0, "max_abs_diff": float((ours_z - theirs_z).abs().max()),
                 "output_std": float(theirs_z.std())},
                {"module": "I-JEPA predictor (vit_predictor: 10 context, 6 targets)", "width": 96, "heads": 6,
                 "unrotated_channels": 0, "max_abs_diff": float((ours_p - theirs_p).abs().max()),
                 "output_std": float(theirs_p.std())}]
        with on_meta():
            released = {"ijepa vit_huge/14": (ijepa.vit_huge(img_size=[224], patch_size=14), 12),
                        "ijepa vit_giant/16": (ijepa.vit_giant(img_size=[224], patch_size=16), 16)}
            shapes = {}
            for name, (model, depth) in released.items():
                shapes[name] = {k: list(v.shape) for k, v in model.state_dict().items()}
                head = ijepa.vit_predictor(num_patches=model.patch_embed.num_patches, embed_dim=model.embed_dim,
                                           predictor_embed_dim=384, depth=depth, num_heads=model.num_heads)
                shapes[f"{name} predictor"] = {k: list(v.shape) for k, v in head.state_dict().items()}
    return rows, shapes


def official_shapes() -> dict[str, dict[str, list[int]]]:
    """Every parameter's shape as the official constructors build the released models (on the meta device:
    no memory), for tests/fixtures/official_shapes.json."""
    from src.models import vision_transformer
    from src.models.ac_predictor import vit_ac_predictor

    try:
        from app.vjepa_2_1.models import vision_transformer as v21
    except ImportError:  # a checkout from before V-JEPA 2.1
        v21 = None

    common = dict(patch_size=16, img_size=(256, 256), num_frames=64, tubelet_size=2, use_rope=True, use_sdpa=True)
    with on_meta():
        models = {name: vision_transformer.__dict__[name](**common)
                  for name in ("vit_large", "vit_huge", "vit_giant_xformers")}
        models["vit_ac_predictor (on vit_giant_xformers)"] = vit_ac_predictor(
            img_size=(256, 256), patch_size=16, num_frames=64, tubelet_size=2, embed_dim=1408)
        if v21 is not None:  # as the hub builds V-JEPA 2.1 (src/hub/backbones.py): 384 px, images, RoPE interpolation
            for name in ("vit_base", "vit_large", "vit_giant_xformers", "vit_gigantic_xformers"):
                models[f"2.1 {name}"] = v21.__dict__[name](**{**common, "img_size": (384, 384)},
                                                           img_temporal_dim_size=1, interpolate_rope=True)
    return {name: {k: list(v.shape) for k, v in m.state_dict().items()} for name, m in models.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkout", help="a work tree of facebookresearch/vjepa2")
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--ijepa", default=None, metavar="IJEPA_CHECKOUT",
                    help="a work tree of facebookresearch/ijepa: its encoder and predictor rows, and (with --shapes) "
                         "the released I-JEPA ViT-H/14 and ViT-g/16 shapes")
    ap.add_argument("--shapes", default=None, help="also write the released models' parameter shapes to this JSON "
                    "(tests/fixtures/official_shapes.json)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(args.checkout).resolve()))
    stand_in_for_timm()
    torch.set_default_dtype(torch.float32)
    ijepa, ijepa_shapes = ijepa_rows(Path(args.ijepa)) if args.ijepa else ([], {})
    if args.shapes:
        shapes = official_shapes() | ijepa_shapes
        Path(args.shapes).write_text("{\n" + ",\n".join(f"{json.dumps(name)}: {json.dumps(v, separators=(',', ':'))}"
                                                         for name, v in shapes.items()) + "\n}\n")
        print(f"wrote {args.shapes}: " + ", ".join(f"{k} ({len(v)} tensors)" for k, v in shapes.items()))
    rows = [vjepa2_encoder(96, 4, seed=0), vjepa2_encoder(80, 2, seed=1), vjepa2_predictor(64, 4, seed=4),
            vjepa2_ac_predictor(64, 4, seed=2)]
    if (Path(args.checkout) / "app" / "vjepa_2_1").is_dir():
        rows.append(vjepa2_1_encoder(96, 4, seed=3))
        if (Path(args.checkout) / "app" / "vjepa_2_1" / "models" / "predictor.py").exists():
            rows.append(vjepa2_1_predictor(64, 4, seed=8))
    else:
        print("this checkout has no app/vjepa_2_1: the V-JEPA 2.1 row is skipped")
    rows += ijepa
    print(f"{'module':<62} {'width':>5} {'heads':>5} {'unrotated':>9} {'max |Δ|':>10} {'out std':>8}  verdict")
    for r in rows:
        r["parity"] = r["max_abs_diff"] < TOLERANCE
        print(f"{r['module']:<62} {r['width']:>5} {r['heads']:>5} {r['unrotated_channels']:>9} "
              f"{r['max_abs_diff']:>10.2e} {r['output_std']:>8.3f}  {'parity' if r['parity'] else 'MISMATCH'}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    commands = end_to_end(out, (Path(args.checkout) / "app" / "vjepa_2_1").is_dir())
    for r in commands:
        print(f"{r['check']}: exit codes {r['exit_codes']}"
              + (f"; success {r['success_rate']:.0%}, final distance {r['final_distance']:.3f} (random weights: the "
                 f"command runs and reports)" if "success_rate" in r else f"; eval tasks {r['eval_tasks']}"))
    (out / "parity_official.json").write_text(json.dumps({"tolerance": TOLERANCE, "rows": rows, "commands": commands},
                                                         indent=2))
    print(f"wrote {out / 'parity_official.json'}")
    if not all(r["parity"] for r in rows) or any(c for r in commands for c in r["exit_codes"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()

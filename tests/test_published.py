"""The library against the released configurations (docs/methods.md §3.3, §3.7, §4.3, §5.3): model sizes,
the V-JEPA 2.1 image mask, and predictor shapes the published world models use."""

import pytest
import torch

from worldjepa import config
from worldjepa.config import ConfigError, MaskConfig
from worldjepa.data.episodes import StoreMeta
from worldjepa.dynamics.model import build_objective as build_wm_objective
from worldjepa.dynamics.unroll import feed_back
from worldjepa.nn.encoder import SIZES, Encoder
from worldjepa.nn.tokenizers import IMAGE, VIDEO
from worldjepa.pretrain import build_objective


# (depth, width, heads, MLP width) of the released encoders: V-JEPA 2's vit_large / vit_huge / vit_giant
# (ViT-g: MLP ratio 48/11) and V-JEPA 2.1's vit_gigantic (ViT-G: 26 heads of 64, MLP ratio 64/13)
RELEASED = {"large": (24, 1024, 16, 4096), "huge": (32, 1280, 16, 5120), "giant": (40, 1408, 22, 6144),
            "gigantic": (48, 1664, 26, 8192), "base": (12, 768, 12, 3072)}


@pytest.mark.parametrize("name", sorted(RELEASED))
def test_encoder_presets_are_the_released_sizes(name):
    depth, width, heads, mlp = RELEASED[name]
    size = SIZES[name]
    assert (size.depth, size.width, size.heads) == (depth, width, heads)
    with torch.device("meta"):  # shapes only: no memory for a 2-billion-parameter model
        encoder = Encoder(size, patch_size=16, tubelet_size=2, levels=4)
    block = encoder.blocks[0]
    assert len(encoder.blocks) == depth and encoder.head_dim == width // heads
    assert block.attn.qkv.weight.shape == (3 * width, width) and block.attn.heads == heads
    assert block.mlp[0].weight.shape == (mlp, width) and block.mlp[2].weight.shape == (width, mlp)
    assert encoder.taps == [round((i + 1) * depth / 4) - 1 for i in range(4)]  # equally spaced deep supervision
    norms = [m for m in encoder.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 2 * depth + 4 and all(m.eps == 1e-6 for m in norms)  # the released norm_layer's eps


def test_stills_get_the_released_image_mask(small_overrides):
    """V-JEPA 2.1 masks a still with one mask of 10 blocks of 0.15 of the image, not the clips' pair."""
    assert config.ObjectiveConfig().image_masks == [MaskConfig(num_blocks=10, spatial_scale=(0.15, 0.15),
                                                               aspect_ratio=(0.75, 1.5))]
    cfg = config.load("tiny-cpu", small_overrides + ["data.image_fraction=0.5", "data.image_size=64"])
    objective = build_objective(cfg)
    images = objective._step_masks(4, IMAGE, step=3)
    clips = objective._step_masks(4, VIDEO, step=3)
    assert len(images) == 1 and len(clips) == 2
    assert objective.image_masks[0].cfg.num_blocks == 10 and objective.image_masks[0].cfg.spatial_scale == (0.15, 0.15)
    # 10 blocks of ≈ 0.15 of an 8 × 8 grid (≈ 9.6 tokens each) hide most of the image, but leave context
    hidden = images[0].masked.float().mean(1)
    assert ((hidden > 0.4) & (hidden < 1.0)).all(), hidden


def lewm_parameters() -> int:
    """LeWM's parameter count from its architecture (stable-worldmodel's wm/lewm, scripts/train/config/lewm.yaml):
    Hugging Face ViT-tiny at 224 px, patch 14 (CLS token, learned positions), projector and pred_proj MLPs
    192-2048-192 with BatchNorm, predictor 6 AdaLN-zero blocks of 16 heads × 64 (qkv without bias, LayerNorm
    inside attention and MLP), MLP 2048, 3 learned frame positions, action Embedder (Conv1d 10→10, 10-768-192)."""
    linear = lambda i, o, bias=True: i * o + (o if bias else 0)  # noqa: E731
    vit_layer = 2 * 2 * 192 + 3 * linear(192, 192) + linear(192, 192) + linear(192, 768) + linear(768, 192)
    vit = 3 * 14 * 14 * 192 + 192 + 192 + 257 * 192 + 12 * vit_layer + 2 * 192
    mlp = linear(192, 2048) + 2 * 2048 + linear(2048, 192)
    block = (2 * 192 + linear(192, 3072, bias=False) + linear(1024, 192) + 2 * 192 + linear(192, 2048)
             + linear(2048, 192) + linear(192, 6 * 192))
    predictor = 3 * 192 + 6 * block + 2 * 192
    embedder = linear(10, 10) + linear(10, 768) + linear(768, 192)
    return vit + mlp + predictor + embedder + mlp


def test_the_lewm_preset_has_lewms_shapes_and_size():
    """The `wm-lewm` preset (`planning_latency.py --preset lewm`): LeWM's predictor (6 blocks, 16 heads of 64 on a 192-wide stream,
    attention 1024 wide, MLP 2048, a 192-2048-192 BatchNorm output MLP) and a ViT-tiny whose pooled output
    goes through LeWM's projector; the parameter count within 2% of LeWM's (18.03 M)."""
    assert lewm_parameters() == 18_034_478
    cfg = config.load_world_model("wm-lewm")
    torch.manual_seed(0)
    objective = build_wm_objective(cfg, StoreMeta("bench", 224, 2, [-1.0, -1.0], [1.0, 1.0]))
    ours = sum(p.numel() for p in objective.parameters())
    assert abs(ours / lewm_parameters() - 1) < 0.02, (ours, lewm_parameters())
    p = objective.predictor
    block = p.blocks[0]
    assert block.attn.qkv.weight.shape == (3 * 16 * 64, 192) and block.attn.proj.weight.shape == (192, 1024)
    assert block.mlp[0].weight.shape == (2048, 192) and len(p.blocks) == 6
    # (the BatchNorm takes its statistics over every process of a distributed run: still a BatchNorm1d)
    assert [type(m).__name__ for m in p.out] == ["Linear", "GlobalBatchNorm1d", "GELU", "Linear"]
    assert isinstance(p.out[1], torch.nn.BatchNorm1d) and p.out[0].out_features == 2048
    vit = objective.encoder.vit
    assert (len(vit.blocks), vit.dim, objective.encoder.projector[0].in_features) == (12, 192, 192)
    for b in p.blocks:  # open the AdaLN-zero gates so that every block acts
        torch.nn.init.normal_(b.modulation[1].weight, std=0.1)
    objective.eval()
    z0, actions = torch.randn(3, 192), torch.randn(3, 4, 10)
    torch.testing.assert_close(p.rollout(z0, actions), feed_back(p, z0, actions), rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="predictor_head_dim must be even and at least 6, got 7"):
        config.load_world_model("wm-two-rooms", ["model.predictor_head_dim=7"])


def test_interpolate_rope_maps_rows_and_columns_onto_the_pretraining_grid():
    """V-JEPA 2.1's interpolate_rope: at 384 px (a 24 × 24 grid at patch 16) rows and columns are scaled by
    (16 − 1)/(24 − 1) onto the 256 px grid's range [0, 15]; time is not scaled; at the pretraining
    resolution nothing changes."""
    from worldjepa.nn.encoder import ViTSize
    from worldjepa.nn.tokenizers import grid_positions

    torch.manual_seed(0)
    encoder = Encoder(ViTSize(2, 48, 2), patch_size=16, tubelet_size=2, levels=1, rope_grid=16)
    pos = grid_positions((2, 24, 24))
    scaled = encoder.rope_positions(pos, (2, 24, 24))
    assert scaled[:, 0].tolist() == pos[:, 0].tolist()
    assert scaled[:, 1].max() == pytest.approx(15.0) and scaled[:, 2].max() == pytest.approx(15.0)
    torch.testing.assert_close(scaled[:, 1:], pos[:, 1:] * 15 / 23)
    at_256 = grid_positions((2, 16, 16))
    assert torch.equal(encoder.rope_positions(at_256, (2, 16, 16)), at_256)
    for block in encoder.blocks:  # attention that depends on position enough to show it
        torch.nn.init.normal_(block.attn.qkv.weight, std=0.5)
    plain = Encoder(ViTSize(2, 48, 2), patch_size=16, tubelet_size=2, levels=1)
    plain.load_state_dict(encoder.state_dict())
    clip = torch.randn(1, 2, 3, 256, 256)
    torch.testing.assert_close(encoder(clip), plain(clip))  # the same weights and positions at 256 px
    big = torch.randn(1, 2, 3, 384, 384)
    assert (encoder(big) - plain(big)).abs().max() > 1e-3  # and other positions at 384 px
    cfg = config.load("tiny-cpu", ["model.rope_grid=16"])
    assert build_objective(cfg).encoder.rope_grid == 16


def test_sincos_table_has_the_released_i_jepa_layout():
    """Width 8: ω = [1, 1/100]; columns first, then rows, each [sin(p·ω), cos(p·ω)]."""
    import math

    from worldjepa.nn.posembed import sincos_2d

    e = sincos_2d(torch.tensor([[0.0, 2.0, 3.0]]), 8)[0]  # t = 0, row 2, column 3
    expected = [math.sin(3), math.sin(0.03), math.cos(3), math.cos(0.03),
                math.sin(2), math.sin(0.02), math.cos(2), math.cos(0.02)]
    assert e.tolist() == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_2d(torch.zeros(1, 3), 6)


@pytest.mark.parametrize("recipe,position,ema,min_context", [
    ("ijepa", "sincos", (0.996, 1.0), 10),  # I-JEPA: configs/in1k_vith14_ep300.yaml, absolute 2D table
    ("vjepa2", "rope", (0.99925, 0.99925), 4),
    ("vjepa2.1", "rope", (0.99925, 0.99925), 4),
])
def test_recipes_fill_position_ema_and_minimum_context(recipe, position, ema, min_context):
    extra = ["data.image_fraction=1.0"] if recipe == "ijepa" else []
    cfg = config.load("tiny-cpu", [f"objective.recipe={recipe}", "objective.ema=null", *extra])
    assert (cfg.model.position, cfg.objective.ema, cfg.objective.min_context) == (position, ema, min_context)
    explicit = config.load("tiny-cpu", [f"objective.recipe={recipe}", "objective.min_context=6", *extra])
    assert explicit.objective.min_context == 6  # an explicit setting beats the recipe


def test_the_i_jepa_form_adds_a_fixed_table_and_rotates_nothing(small_overrides):
    """With sin-cos positions the encoder's output for a token changes with its absolute position (the
    table), and the attention gets no rotary tables; runs written before the switch load as RoPE."""
    cfg = config.load("tiny-cpu", small_overrides + ["objective.recipe=ijepa", "data.image_fraction=1.0"])
    encoder = build_objective(cfg).encoder
    assert encoder.position == "sincos"
    calls = []
    for block in encoder.blocks:
        block.register_forward_pre_hook(lambda module, args: calls.append(args[1]))
    image = torch.zeros(1, 3, 32, 32)  # a blank image: every token's content is the same, only position differs
    out = encoder(image)
    assert all(rope is None for rope in calls)
    assert (out[0, 0] - out[0, 5]).abs().max() > 1e-3  # two tokens of equal content, told apart by position
    with pytest.raises(ConfigError, match="model.position=sincos .* set data.image_fraction=1.0"):
        config.load("tiny-cpu", ["model.position=sincos"])


def test_a_run_from_before_the_position_switch_loads_as_rope(tmp_path, small_overrides):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from worldjepa.pretrain import load_pretrained, pretrain

    cfg = config.load("tiny-cpu", small_overrides + ["objective.recipe=ijepa", "data.image_fraction=1.0",
                                                     "model.position=rope", "train.steps=1"])
    pretrain(cfg, tmp_path, progress=False)
    path = tmp_path / "checkpoint.safetensors"
    with safe_open(str(path), "pt") as f:
        tensors, meta = {k: f.get_tensor(k) for k in f.keys()}, json.loads(f.metadata()["worldjepa"])
    del meta["config"]["model"]["position"]  # as an older worldjepa wrote it
    save_file(tensors, str(path), metadata={"worldjepa": json.dumps(meta)})
    encoder, loaded = load_pretrained(tmp_path)
    assert loaded.model.position == "rope" and encoder.position == "rope"

"""The released architectures exactly: worldjepa's presets, written in the released names, have every
parameter shape that the official constructors give (tests/fixtures/official_shapes.json, made by
`benchmarks/parity_official.py OFFICIAL_CHECKOUT --ijepa IJEPA_CHECKOUT --shapes` from facebookresearch/vjepa2's
own `vit_large`, `vit_huge`, `vit_giant_xformers`, `vit_ac_predictor` and 2.1 models, and facebookresearch/ijepa's
`vit_huge`, `vit_giant` and `vit_predictor`; docs/interop.md)."""

import json
from pathlib import Path

import pytest
import torch

from worldjepa.dynamics.patch import PatchActionPredictor
from worldjepa.interop.vjepa2_ac_hub import predictor_from_vjepa2_ac_hub, vjepa2_ac_hub_state
from worldjepa.interop.vjepa2_hub import encoder_from_vjepa2_hub, vjepa2_hub_state
from worldjepa.interop.ijepa_official import ijepa_encoder_state, ijepa_predictor_state
from worldjepa.nn.encoder import Encoder, ViTSize
from worldjepa.nn.predictor import MaskedPredictor

OFFICIAL = json.loads((Path(__file__).parent / "fixtures" / "official_shapes.json").read_text())


def shapes(state):
    return {k: list(v.shape) for k, v in state.items()}


@pytest.mark.parametrize("official,preset", [("vit_large", "large"), ("vit_huge", "huge"),
                                             ("vit_giant_xformers", "giant")])
def test_released_v_jepa_2_encoders_have_the_official_shapes(official, preset):
    with torch.device("meta"):  # shapes only: no memory for a billion parameters
        encoder = Encoder(preset, patch_size=16, tubelet_size=2, separate_tokenizers=False, levels=1, tiled_rope=True)
    assert shapes(vjepa2_hub_state(encoder)) == OFFICIAL[official]


def test_the_released_2ac_predictor_has_the_official_shapes():
    """24 blocks of 1024 with 16 heads on ViT-g's 1408-wide 16 × 16 patch grid, 7-d actions and states; the
    released module's unused extrinsics encoder aside."""
    with torch.device("meta"):
        predictor = PatchActionPredictor(1408, (16, 16), 7, 1024, 24, 16, proprio_dim=7, tiled_rope=True, norm_eps=1e-6)
    expected = {k: v for k, v in OFFICIAL["vit_ac_predictor (on vit_giant_xformers)"].items()
                if not k.startswith("extrinsics_encoder.")}
    assert shapes(vjepa2_ac_hub_state(predictor)) == expected


def test_written_in_the_released_layout_and_read_back_the_models_are_unchanged():
    torch.manual_seed(0)
    encoder = Encoder(ViTSize(2, 48, 4), patch_size=8, tubelet_size=2, separate_tokenizers=False, levels=1,
                      tiled_rope=True).eval()
    predictor = PatchActionPredictor(48, (4, 4), 7, 32, 2, 2, proprio_dim=7, tiled_rope=True, norm_eps=1e-6).eval()
    with torch.no_grad():
        for p in [*encoder.parameters(), *predictor.parameters()]:
            p.normal_(0, 0.3)
    back = encoder_from_vjepa2_hub(vjepa2_hub_state(encoder), heads=4)
    back_predictor, left_out = predictor_from_vjepa2_ac_hub(vjepa2_ac_hub_state(predictor), grid=(4, 4), heads=2)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 3, 32, 32, generator=g)
    z, a, s = torch.randn(2, 3, 16, 48, generator=g), torch.randn(2, 3, 7, generator=g), torch.randn(2, 3, 7, generator=g)
    with torch.no_grad():
        assert (back(x) - encoder(x)).abs().max() < 1e-5  # the video modality vector is folded into the bias
        assert torch.equal(back_predictor(z, a, s), predictor(z, a, s))
    assert left_out == []


def test_a_v_jepa_2_1_encoder_goes_through_the_released_names_with_its_images_and_levels():
    """V-JEPA 2.1's names (app/vjepa_2_1/models/vision_transformer.py: patch_embed, patch_embed_img, blocks,
    norms_block.0-3, img_mod_embed, video_mod_embed): per-pair RoPE, interpolation onto the 16 × 16 pretraining
    grid at patch 16, the released taps of 12 blocks."""
    torch.manual_seed(0)
    encoder = Encoder(ViTSize(12, 48, 4), patch_size=16, tubelet_size=2, separate_tokenizers=True, levels=4,
                      rope_grid=16).eval()
    with torch.no_grad():
        for p in encoder.parameters():
            p.normal_(0, 0.3)
    state = vjepa2_hub_state(encoder)
    assert {"patch_embed_img.proj.weight", "norms_block.3.bias", "img_mod_embed", "video_mod_embed"} <= set(state)
    back = encoder_from_vjepa2_hub({"ema_encoder": {f"module.backbone.{k}": v for k, v in state.items()}}, heads=4)
    assert back.taps == [2, 5, 8, 11] and back.rope_grid == 16 and not back.tiled_rope
    g = torch.Generator().manual_seed(1)
    clip, image = torch.randn(2, 4, 3, 64, 64, generator=g), torch.randn(2, 3, 64, 64, generator=g)
    with torch.no_grad():
        assert torch.equal(back(clip, all_levels=True), encoder(clip, all_levels=True))
        assert torch.equal(back(image), encoder(image))


@pytest.mark.parametrize("official,preset", [("2.1 vit_base", "base"), ("2.1 vit_large", "large"),
                                             ("2.1 vit_giant_xformers", "giant"),
                                             ("2.1 vit_gigantic_xformers", "gigantic")])
def test_released_v_jepa_2_1_encoders_have_the_official_shapes(official, preset):
    """As the hub builds them: 384 px at patch 16, an image tokenizer, modality vectors, four level norms."""
    with torch.device("meta"):
        encoder = Encoder(preset, patch_size=16, tubelet_size=2, separate_tokenizers=True, levels=4, rope_grid=16)
    assert shapes(vjepa2_hub_state(encoder)) == OFFICIAL[official]


@pytest.mark.parametrize("official,size,patch,predictor_depth", [
    ("ijepa vit_huge/14", "huge", 14, 12),  # IN1K-vit.h.14-300e, IN22K-vit.h.14-900e
    ("ijepa vit_giant/16", ViTSize(40, 1408, 16, 48 / 11), 16, 16)])  # IN22K-vit.g.16-600e: 16 heads, not V-JEPA's 22
def test_released_i_jepa_models_have_the_official_shapes(official, size, patch, predictor_depth):
    """facebookresearch/ijepa's vit_huge / vit_giant at 224 px (sin-cos table, one 2D patch embedding) and the
    predictors of their configs (pred_emb_dim 384, the encoder's 16 heads), in I-JEPA's own names."""
    with torch.device("meta"):
        encoder = Encoder(size, patch_size=patch, tubelet_size=1, separate_tokenizers=False, levels=1,
                          position="sincos")
        predictor = MaskedPredictor(encoder.dim, levels=1, width=384, depth=predictor_depth, heads=16,
                                    num_mask_types=1, position="sincos", norm_eps=1e-6)
    assert shapes(ijepa_encoder_state(encoder, 224)) == OFFICIAL[official]
    assert shapes(ijepa_predictor_state(predictor, 224 // patch)) == OFFICIAL[f"{official} predictor"]

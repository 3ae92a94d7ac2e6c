"""V-JEPA 2 in the transformers layout (interop/hf_vjepa2.py) against transformers' own `VJEPA2Model`, an
independent implementation of the released encoder, and V-JEPA 2's tiled RoPE frequencies (nn/rope.py)
against the released formula written out here."""

import contextlib
import math

import pytest
import torch
from transformers import VJEPA2Config, VJEPA2Model

from worldjepa.interop.hf_vjepa2 import (encoder_from_hf_vjepa2, hf_vjepa2_from_encoder, hf_vjepa2_from_predictor,
                                         predictor_from_hf_vjepa2)
from worldjepa.interop.vit_keys import allow_missing
from worldjepa.nn.encoder import Encoder, ViTSize
from worldjepa.nn.rope import apply_rope, rope_tables, segment_dim
from worldjepa.nn.tokenizers import grid_positions

CONFIG = dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2.0, crop_size=32,
              patch_size=8, frames_per_clip=4, tubelet_size=2, pred_hidden_size=24, pred_num_hidden_layers=1,
              pred_num_attention_heads=2, pred_num_mask_tokens=2)


def released_rotation(x, pos):
    """The released rotate_queries_or_keys, written from its definition: channel c of a D-channel segment
    turns with frequency ω_{c mod D/2} (the table is tiled, not interleaved), pairs (a, b) → (−b, a)."""
    D = x.shape[-1]
    omega = 1.0 / 10000 ** (torch.arange(D // 2, dtype=torch.float64) / (D / 2))
    angle = pos[:, None] * omega.repeat(2)  # [N, D]: ω_0..ω_{D/2-1}, ω_0..ω_{D/2-1}
    swapped = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)
    return x * angle.cos() + swapped * angle.sin()


def test_tiled_rope_follows_the_released_formula_and_differs_from_per_pair_frequencies():
    head_dim = 40  # 3 segments of 12 channels + 4 unrotated
    seg = segment_dim(head_dim)
    pos = grid_positions((2, 3, 4)).double()
    x = torch.randn(2, 3, len(pos), head_dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    expected = torch.cat([released_rotation(x[..., i * seg:(i + 1) * seg], pos[:, i]) for i in range(3)]
                         + [x[..., 3 * seg:]], dim=-1)
    ours = apply_rope(x, rope_tables(pos, head_dim, tiled=True))
    assert (ours - expected).abs().max() < 1e-6
    assert (apply_rope(x, rope_tables(pos, head_dim)) - expected).abs().max() > 0.5


def hf_model(seed=0) -> VJEPA2Model:
    torch.manual_seed(seed)
    model = VJEPA2Model(VJEPA2Config(**CONFIG)).eval()
    with torch.no_grad():  # weights far from their initialisation, so that a swapped tensor shows
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (1 / math.sqrt(p[0].numel()) if p.dim() > 1 else 0.3)
                    + (1.0 if "norm" in name and name.endswith("weight") else 0.0))
    return model


def clips(n=2, seed=1):
    return torch.randn(n, 4, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_converted_encoder_matches_transformers_outputs():
    model = hf_model()
    encoder, left_out = encoder_from_hf_vjepa2(model.state_dict(), CONFIG)
    assert left_out and all(k.startswith("predictor.") for k in left_out)
    x = clips()
    with torch.no_grad():
        theirs = model(pixel_values_videos=x, skip_predictor=True).last_hidden_state
        ours = encoder(x)
    assert theirs.shape == ours.shape == (2, 32, 48)
    assert (ours - theirs).abs().max() < 1e-4 and theirs.std() > 0.1
    per_pair = Encoder(ViTSize(2, 48, 2, 2.0), patch_size=8, tubelet_size=2, separate_tokenizers=False, levels=1)
    per_pair.load_state_dict(encoder.state_dict())
    with torch.no_grad():  # the frequency layout matters: worldjepa's own RoPE does not reproduce the weights
        assert (per_pair(x) - theirs).abs().max() > 1e-2


def test_round_trip_is_exact_and_transformers_loads_what_worldjepa_writes():
    model = hf_model()
    state = model.state_dict()
    encoder, _ = encoder_from_hf_vjepa2(state, CONFIG)
    written, config = hf_vjepa2_from_encoder(encoder)
    encoder_keys = {k for k in state if k.startswith("encoder.")}
    assert set(written) == encoder_keys and all(torch.equal(written[k], state[k]) for k in encoder_keys)
    fresh = VJEPA2Model(VJEPA2Config(**{**CONFIG, **{k: v for k, v in config.items() if k != "model_type"}})).eval()
    missing, unexpected = fresh.load_state_dict(written, strict=False)
    assert not unexpected and all(k.startswith("predictor.") for k in missing)
    x = clips()
    with torch.no_grad():
        assert torch.equal(fresh(pixel_values_videos=x, skip_predictor=True).last_hidden_state,
                           model(pixel_values_videos=x, skip_predictor=True).last_hidden_state)


def test_converted_predictor_matches_transformers_and_round_trips_exactly():
    """transformers' VJEPA2Predictor on context / target index lists (its mask token 1) against worldjepa's
    `MaskedPredictor` at the same (t, h, w) positions; then worldjepa → transformers → worldjepa exactly."""
    model = hf_model(seed=3)
    state = model.state_dict()
    predictor = predictor_from_hf_vjepa2(state, CONFIG)
    x = clips(seed=4)
    g = torch.Generator().manual_seed(5)
    order = torch.stack([torch.randperm(32, generator=g) for _ in range(2)])
    context, target = order[:, :20].sort(1).values, order[:, 20:].sort(1).values  # 20 visible, 12 predicted
    with torch.no_grad():
        out = model(pixel_values_videos=x, context_mask=[context], target_mask=[target])
        theirs = out.predictor_output.last_hidden_state
        z = out.last_hidden_state
        positions = grid_positions((2, 4, 4)).float()
        z_ctx = torch.gather(z, 1, context[..., None].expand(-1, -1, 48))
        ours, _ = predictor(z_ctx, positions[context], positions[target], mask_type=1)
    assert theirs.shape == ours.shape == (2, 12, 48) and theirs.std() > 0.1
    assert (ours - theirs).abs().max() < 1e-4
    with torch.no_grad():  # another mask token gives other predictions: the index matters
        assert (predictor(z_ctx, positions[context], positions[target], mask_type=0)[0] - theirs).abs().max() > 1e-3

    written, fields = hf_vjepa2_from_predictor(predictor)
    predictor_keys = {k for k in state if k.startswith("predictor.")}
    assert set(written) == predictor_keys and all(torch.equal(written[k], state[k]) for k in predictor_keys)
    assert {k: fields[k] for k in fields} == {"pred_hidden_size": 24, "pred_num_hidden_layers": 1,
                                              "pred_num_attention_heads": 2, "pred_mlp_ratio": 4.0,
                                              "pred_num_mask_tokens": 2}
    again = predictor_from_hf_vjepa2({**state, **written}, CONFIG)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), predictor.state_dict().values()))


def test_a_config_depth_that_disagrees_with_the_blocks_fails_naming_both_even_when_allowing_missing():
    state = hf_model().state_dict()
    for field, value, prefix in (("pred_num_hidden_layers", 2, "predictor.layer"),
                                 ("num_hidden_layers", 4, "encoder.layer")):
        wrong = {**CONFIG, field: value}
        convert = predictor_from_hf_vjepa2 if field.startswith("pred") else encoder_from_hf_vjepa2
        for lenient in (False, True):
            with allow_missing() if lenient else contextlib.nullcontext():
                with pytest.raises(ValueError, match=rf"{field}={value} but the checkpoint holds "
                                                     rf"{CONFIG[field]} blocks under {prefix}\."):
                    convert(state, wrong)


def test_allow_missing_loads_with_the_report_as_a_warning_and_fresh_tensors_for_the_missing():
    state = hf_model().state_dict()
    lacking = {k: v for k, v in state.items() if k != "encoder.layer.1.norm2.weight"}
    lacking["encoder.extra.weight"] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"missing: encoder\.layer\.1\.norm2\.weight; unexpected: "
                                         r"encoder\.extra\.weight.*--allow-missing"):
        encoder_from_hf_vjepa2(lacking, CONFIG)
    with allow_missing(), pytest.warns(UserWarning, match=r"missing: encoder\.layer\.1\.norm2\.weight"):
        encoder, _ = encoder_from_hf_vjepa2(lacking, CONFIG)
    assert torch.equal(encoder.blocks[1].norm2.weight, torch.ones(48))  # LayerNorm's initial weight
    assert torch.equal(encoder.blocks[1].norm2.bias, state["encoder.layer.1.norm2.bias"])  # the rest as given
    misshaped = {**state, "encoder.layer.0.norm1.weight": torch.ones(7)}
    with allow_missing(), pytest.raises(ValueError, match="mis-shaped"):
        encoder_from_hf_vjepa2(misshaped, CONFIG)


def test_what_does_not_fit_is_refused_by_name():
    state = hf_model().state_dict()
    renamed = dict(state)
    renamed["encoder.layer.0.attention.qry.weight"] = renamed.pop("encoder.layer.0.attention.query.weight")
    with pytest.raises(ValueError, match=r"missing: encoder\.layer\.0\.attention\.query\.weight; "
                                         r"unexpected: encoder\.layer\.0\.attention\.qry\.weight"):
        encoder_from_hf_vjepa2(renamed, CONFIG)
    with pytest.raises(ValueError, match=r"mis-shaped: encoder\.embeddings\.patch_embeddings\.proj\.weight"):
        encoder_from_hf_vjepa2(state, {**CONFIG, "tubelet_size": 1})
    own = Encoder(ViTSize(2, 48, 2), patch_size=8, tubelet_size=2, levels=1)
    with pytest.raises(ValueError, match="tiled_rope=True"):
        hf_vjepa2_from_encoder(own)
    deep = Encoder(ViTSize(2, 48, 2), patch_size=8, tubelet_size=2, levels=2, tiled_rope=True)
    with pytest.raises(ValueError, match="2 output levels"):
        hf_vjepa2_from_encoder(deep)


def released_checkpoint(model: VJEPA2Model) -> dict:
    """The layout of Meta's torch.hub files (src/hub/backbones.py, src/models/vision_transformer.py of
    facebookresearch/vjepa2), filled with the tensors of a transformers model: entries `encoder`,
    `target_encoder` and `predictor`, keys under `module.backbone.`, query/key/value stacked in `attn.qkv`,
    and a `pos_embed` table the RoPE encoder does not use."""
    s = model.state_dict()
    out = {"patch_embed.proj.weight": s["encoder.embeddings.patch_embeddings.proj.weight"],
           "patch_embed.proj.bias": s["encoder.embeddings.patch_embeddings.proj.bias"],
           "norm.weight": s["encoder.layernorm.weight"], "norm.bias": s["encoder.layernorm.bias"],
           "pos_embed": torch.zeros(1, 32, 48)}
    for i in range(CONFIG["num_hidden_layers"]):
        a = f"encoder.layer.{i}."
        for name in ("norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias",
                     "mlp.fc2.weight", "mlp.fc2.bias"):
            out[f"blocks.{i}.{name}"] = s[a + name]
        out[f"blocks.{i}.attn.proj.weight"], out[f"blocks.{i}.attn.proj.bias"] = (s[a + "attention.proj.weight"],
                                                                                  s[a + "attention.proj.bias"])
        for part in ("weight", "bias"):
            out[f"blocks.{i}.attn.qkv.{part}"] = torch.cat([s[f"{a}attention.{n}.{part}"]
                                                             for n in ("query", "key", "value")])
    wrapped = {f"module.backbone.{k}": v for k, v in out.items()}
    return {"encoder": {k: torch.zeros_like(v) for k, v in wrapped.items()}, "target_encoder": wrapped,
            "predictor": {"module.backbone.predictor_embed.weight": torch.zeros(24, 48)}, "epoch": 3}


def test_the_released_hub_checkpoint_loads_with_the_same_outputs(tmp_path):
    from worldjepa.interop.vjepa2_hub import encoder_from_vjepa2_hub, read_checkpoint

    model = hf_model()
    torch.save(released_checkpoint(model), tmp_path / "vitl.pt")
    checkpoint = read_checkpoint(tmp_path / "vitl.pt")
    encoder = encoder_from_vjepa2_hub(checkpoint, heads=2)  # the teacher, as the hub loads it
    x = clips()
    with torch.no_grad():
        theirs = model(pixel_values_videos=x, skip_predictor=True).last_hidden_state
        assert (encoder(x) - theirs).abs().max() < 1e-4
        student = encoder_from_vjepa2_hub(checkpoint, heads=2, key="encoder")
        assert (student(x) - theirs).abs().max() > 0.1  # the other entry really is another model
    with pytest.raises(ValueError, match="not a released size: pass heads="):
        encoder_from_vjepa2_hub(checkpoint)
    with pytest.raises(ValueError, match="no entry 'ema'"):
        encoder_from_vjepa2_hub(checkpoint, heads=2, key="ema")
    broken = {k.replace("blocks.1.mlp.fc2", "blocks.1.mlp.fc_2"): v for k, v in checkpoint["target_encoder"].items()}
    with pytest.raises(ValueError, match=r"missing: blocks\.1\.mlp\.fc2\.weight, blocks\.1\.mlp\.fc2\.bias; "
                                         r"unexpected: blocks\.1\.mlp\.fc_2\.weight"):
        encoder_from_vjepa2_hub(broken, heads=2)


class _RunsCode:
    """A pickle that creates a file when unpickled: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_a_pickle_that_would_run_code_is_refused_and_never_runs(tmp_path):
    from worldjepa.interop.vjepa2_hub import read_checkpoint

    marker = tmp_path / "side_effect"
    torch.save({"target_encoder": {}, "payload": _RunsCode(marker)}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="does not unpickle"):
        read_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()


def test_the_released_2ac_predictor_layout_converts_with_every_key_accounted_for():
    """Names and nesting of the released `vjepa2-ac-vitg.pt` (src/models/ac_predictor.py: predictor_embed,
    action_encoder, state_encoder, extrinsics_encoder, predictor_blocks, predictor_norm, predictor_proj under
    `module.backbone.` in the `predictor` entry). Output parity with the official module itself is measured by
    benchmarks/parity_official.py (docs/interop.md); here the names and shapes go through exactly."""
    from worldjepa.dynamics.patch import PatchActionPredictor
    from worldjepa.interop.vjepa2_ac_hub import predictor_from_vjepa2_ac_hub

    torch.manual_seed(0)
    source = PatchActionPredictor(48, (4, 4), 7, 64, 2, 4, proprio_dim=7, tiled_rope=True, norm_eps=1e-6)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_(0, 0.2)
    names = {"patches": "predictor_embed", "action": "action_encoder", "state": "state_encoder",
             "norm": "predictor_norm", "out": "predictor_proj"}
    released = {}
    for k, v in source.state_dict().items():
        head, rest = k.split(".", 1)
        rest = rest.replace("mlp.0", "mlp.fc1").replace("mlp.2", "mlp.fc2")
        released["module.backbone." + (f"predictor_blocks.{rest}" if head == "blocks" else f"{names[head]}.{rest}")] = v
    released["module.backbone.extrinsics_encoder.weight"] = torch.zeros(64, 6)
    released["module.backbone.extrinsics_encoder.bias"] = torch.zeros(64)
    predictor, left_out = predictor_from_vjepa2_ac_hub({"predictor": released}, grid=(4, 4), heads=4)
    assert left_out == ["extrinsics_encoder.bias", "extrinsics_encoder.weight"]
    g = torch.Generator().manual_seed(1)
    z, a, s = torch.randn(2, 3, 16, 48, generator=g), torch.randn(2, 3, 7, generator=g), torch.randn(2, 3, 7, generator=g)
    with torch.no_grad():
        assert torch.equal(predictor(z, a, s), source(z, a, s))
    with pytest.raises(ValueError, match="not a released size: pass heads="):
        predictor_from_vjepa2_ac_hub({"predictor": released}, grid=(4, 4))
    broken = {k.replace("predictor_proj.bias", "predictor_proj.b"): v for k, v in released.items()}
    with pytest.raises(ValueError, match=r"missing: predictor_proj\.bias; unexpected: predictor_proj\.b"):
        predictor_from_vjepa2_ac_hub(broken, grid=(4, 4), heads=4)


def test_the_released_masked_predictor_layout_converts_with_every_key_accounted_for():
    """Names of the released `predictor` entry (src/models/predictor.py: predictor_embed, mask_tokens.i
    [1, 1, W], predictor_blocks, predictor_norm, predictor_proj; an unused predictor_pos_embed). Output parity
    with the official module: benchmarks/parity_official.py (docs/interop.md)."""
    from worldjepa.interop.vjepa2_hub import predictor_from_vjepa2_hub
    from worldjepa.nn.predictor import MaskedPredictor

    torch.manual_seed(0)
    source = MaskedPredictor(48, levels=1, width=32, depth=2, heads=2, num_mask_types=3, tiled_rope=True,
                             norm_eps=1e-6).eval()
    with torch.no_grad():
        for p in source.parameters():
            p.normal_(0, 0.3)
        source.modality.zero_()
        source.context_head.load_state_dict(source.target_head.state_dict())
    s = source.state_dict()
    released = {"predictor_embed.weight": s["fuse.weight"], "predictor_embed.bias": s["fuse.bias"],
                "predictor_norm.weight": s["norm.weight"], "predictor_norm.bias": s["norm.bias"],
                "predictor_proj.weight": s["target_head.weight"], "predictor_proj.bias": s["target_head.bias"],
                "predictor_pos_embed": torch.zeros(1, 32, 32),
                **{f"mask_tokens.{i}": s["mask_tokens"][i].reshape(1, 1, 32) for i in range(3)}}
    for k, v in s.items():
        if k.startswith("blocks."):
            released["predictor_" + k.replace("mlp.0", "mlp.fc1").replace("mlp.2", "mlp.fc2")] = v
    predictor = predictor_from_vjepa2_hub({"predictor": {f"module.backbone.{k}": v for k, v in released.items()}},
                                          heads=2)
    assert all(torch.equal(a, b) for a, b in zip(predictor.state_dict().values(), source.state_dict().values()))
    with pytest.raises(ValueError, match="2-AC predictor"):
        predictor_from_vjepa2_hub({"predictor": {"predictor_embed.weight": torch.zeros(2, 2),
                                                 "action_encoder.weight": torch.zeros(2, 2)}})
    del released["mask_tokens.2"], released["predictor_proj.bias"]
    with pytest.raises(ValueError, match=r"missing: predictor_proj\.bias"):
        predictor_from_vjepa2_hub(released, heads=2)

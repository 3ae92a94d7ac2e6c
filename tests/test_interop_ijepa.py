"""I-JEPA in the transformers layout (interop/hf_ijepa.py) against transformers' own `IJepaModel`, an
independent implementation: same outputs within 1e-4 in fp32, exact round trips, both generations of key
names, and clear refusals of what does not fit."""

import math

import numpy as np
import pytest
import torch
from transformers import IJepaConfig, IJepaModel

from worldjepa.interop.hf_ijepa import encoder_from_hf_ijepa, hf_ijepa_from_encoder
from worldjepa.nn.encoder import Encoder, ViTSize

CONFIG = dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96, image_size=32,
              patch_size=8, layer_norm_eps=1e-6)


def official_sincos(grid: int, width: int) -> np.ndarray:
    """I-JEPA's get_2d_sincos_pos_embed, written from its definition: the first half of the channels encodes
    the column (meshgrid's first output), the second the row; each half is [sin(p·ω), cos(p·ω)] with
    ω_i = 1 / 10000^(i / (width/4))."""
    omega = 1.0 / 10000 ** (np.arange(width // 4) / (width / 4))
    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")

    def one(p):
        a = p.reshape(-1)[:, None] * omega
        return np.concatenate([np.sin(a), np.cos(a)], axis=1)

    return np.concatenate([one(cols), one(rows)], axis=1)


def hf_model(seed: int = 0) -> IJepaModel:
    """A small IJepaModel with weights far from their initialisation (so that a swapped tensor shows) and
    the fixed table the released checkpoints hold."""
    torch.manual_seed(seed)
    model = IJepaModel(IJepaConfig(**CONFIG)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (1 / math.sqrt(p.shape[-1]) if p.dim() > 1 else 0.3)
                    + (1.0 if "layernorm" in name and name.endswith("weight") else 0.0))
        model.embeddings.position_embeddings.copy_(torch.tensor(official_sincos(4, 48))[None])
    return model


def images(n=3, seed=1):
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_converted_encoder_matches_transformers_outputs():
    model = hf_model()
    encoder = encoder_from_hf_ijepa(model.state_dict(), CONFIG)
    x = images()
    with torch.no_grad():
        theirs = model(pixel_values=x).last_hidden_state
        ours = encoder(x)
    assert theirs.shape == ours.shape == (3, 16, 48)
    assert (ours - theirs).abs().max() < 1e-4
    assert theirs.std() > 0.1  # a real signal, not two near-zero outputs agreeing


def test_round_trips_are_exact_and_transformers_loads_what_worldjepa_writes():
    model = hf_model()
    state = model.state_dict()
    written, config = hf_ijepa_from_encoder(encoder_from_hf_ijepa(state, CONFIG), CONFIG["image_size"])
    assert set(written) == set(state)
    assert all(torch.equal(written[k], state[k]) for k in state)
    reloaded = IJepaModel(IJepaConfig(**{k: v for k, v in config.items() if k != "model_type"})).eval()
    reloaded.load_state_dict(written, strict=True)
    x = images()
    with torch.no_grad():
        assert torch.equal(reloaded(pixel_values=x).last_hidden_state, model(pixel_values=x).last_hidden_state)


def test_a_worldjepa_ijepa_encoder_goes_out_and_back_with_the_same_outputs():
    """An encoder as the ijepa recipe trains it (separate image tokenizer, a 2-frame video tokenizer, a
    modality vector, four output levels) keeps its image features through transformers' layout."""
    torch.manual_seed(3)
    encoder = Encoder(ViTSize(2, 48, 4), patch_size=8, tubelet_size=2, separate_tokenizers=True, levels=2,
                      position="sincos").eval()
    with torch.no_grad():
        encoder.tokenizer.modality.normal_()
    state, config = hf_ijepa_from_encoder(encoder, 32)
    model = IJepaModel(IJepaConfig(**{k: v for k, v in config.items() if k != "model_type"})).eval()
    model.load_state_dict(state, strict=True)
    x = images()
    with torch.no_grad():
        ours, theirs = encoder(x), model(pixel_values=x).last_hidden_state
        back = encoder_from_hf_ijepa(state, config)(x)
    assert (ours - theirs).abs().max() < 1e-4 and (ours - back).abs().max() < 1e-4


def test_the_hubs_legacy_key_names_convert_to_the_same_encoder():
    """Checkpoints saved before transformers 5 name blocks the ViT way (`encoder.layer.N.attention.attention.
    query`, `attention.output.dense`, `intermediate.dense`, `output.dense`)."""
    state = hf_model().state_dict()
    legacy = {}
    for k, v in state.items():
        k = k.replace("layers.", "encoder.layer.").replace("attention.q_proj", "attention.attention.query")
        k = k.replace("attention.k_proj", "attention.attention.key").replace("attention.v_proj", "attention.attention.value")
        k = k.replace("attention.o_proj", "attention.output.dense").replace("mlp.fc1", "intermediate.dense")
        legacy[k.replace("mlp.fc2", "output.dense")] = v
    a, b = encoder_from_hf_ijepa(state, CONFIG), encoder_from_hf_ijepa(legacy, CONFIG)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_bad_checkpoints_are_refused_by_name():
    state = hf_model().state_dict()
    renamed = dict(state)
    renamed["layers.1.mlp.fc_one.weight"] = renamed.pop("layers.1.mlp.fc1.weight")
    with pytest.raises(ValueError, match=r"missing: layers\.1\.mlp\.fc1\.weight; unexpected: layers\.1\.mlp\.fc_one"):
        encoder_from_hf_ijepa(renamed, CONFIG)
    with pytest.raises(ValueError, match=r"mis-shaped: layers\.0\.mlp\.fc1\.weight \(96, 48\) \(expected \(128, 48\)\)"):
        encoder_from_hf_ijepa(state, {**CONFIG, "intermediate_size": 128})
    learned = dict(state, **{"embeddings.position_embeddings": torch.randn(1, 16, 48)})
    with pytest.raises(ValueError, match="not I-JEPA's fixed 2D sin-cos table"):
        encoder_from_hf_ijepa(learned, CONFIG)
    with pytest.raises(ValueError, match="exact GELU"):
        encoder_from_hf_ijepa(state, {**CONFIG, "hidden_act": "relu"})
    with pytest.raises(ValueError, match="lacks patch_size"):
        encoder_from_hf_ijepa(state, {k: v for k, v in CONFIG.items() if k != "patch_size"})
    with pytest.raises(ValueError, match="model.position=sincos"):
        hf_ijepa_from_encoder(Encoder(ViTSize(1, 48, 4), patch_size=8, levels=1, position="rope"), 32)

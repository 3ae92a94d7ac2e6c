"""One door for published weights (interop/published.py): each layout recognised by its contents and
converted to the same outputs, a sharded transformers folder read whole, and anything else refused with the
list of layouts that are read."""

import json

import pytest
import torch
from transformers import VJEPA2Config, VJEPA2Model

from worldjepa.interop.published import LAYOUTS, load_published
from worldjepa.interop.vjepa2_ac_hub import vjepa2_ac_hub_state
from worldjepa.interop.vjepa2_hub import vjepa2_hub_state
from worldjepa.dynamics.patch import PatchActionPredictor
from worldjepa.interop.ijepa_official import ijepa_encoder_state, ijepa_predictor_state
from worldjepa.nn.encoder import Encoder, ViTSize
from worldjepa.nn.predictor import MaskedPredictor


def randomised(model):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model.eval()


def test_transformers_folders_are_recognised_by_their_model_type(tmp_path):
    from test_interop_ijepa import hf_model as ijepa_model

    ijepa = ijepa_model()
    ijepa.save_pretrained(tmp_path / "ijepa")
    vjepa = randomised(VJEPA2Model(VJEPA2Config(hidden_size=48, num_hidden_layers=2, num_attention_heads=2,
                                                crop_size=32, patch_size=8, frames_per_clip=4, pred_hidden_size=24,
                                                pred_num_hidden_layers=1, pred_num_attention_heads=2)))
    vjepa.save_pretrained(tmp_path / "vjepa2", max_shard_size="100KB")  # several shards and an index
    assert len(list((tmp_path / "vjepa2").glob("*.safetensors"))) > 1
    image, clip = torch.randn(2, 3, 32, 32), torch.randn(2, 4, 3, 32, 32)
    a, b = load_published(tmp_path / "ijepa"), load_published(tmp_path / "vjepa2")
    assert (a.layout, b.layout) == ("hf-ijepa", "hf-vjepa2")
    assert not b.left_out and set(b.modules) == {"encoder", "predictor"}  # the predictor converted too
    with torch.no_grad():
        assert (a.modules["encoder"](image) - ijepa(pixel_values=image).last_hidden_state).abs().max() < 1e-4
        assert (b.modules["encoder"](clip) - vjepa(pixel_values_videos=clip, skip_predictor=True)
                .last_hidden_state).abs().max() < 1e-4


def test_hub_files_are_recognised_by_their_entries(tmp_path):
    encoder = randomised(Encoder(ViTSize(2, 48, 4), patch_size=8, tubelet_size=2, separate_tokenizers=False,
                                 levels=1, tiled_rope=True))
    predictor = randomised(PatchActionPredictor(48, (4, 4), 7, 32, 2, 2, proprio_dim=7, tiled_rope=True,
                                                norm_eps=1e-6))
    wrap = lambda state: {f"module.backbone.{k}": v for k, v in state.items()}  # noqa: E731
    torch.save({"encoder": wrap(vjepa2_hub_state(encoder)), "predictor": wrap(vjepa2_ac_hub_state(predictor))},
               tmp_path / "ac.pt")
    torch.save({"target_encoder": wrap(vjepa2_hub_state(encoder))}, tmp_path / "vit.pt")
    ac, plain = load_published(tmp_path / "ac.pt", heads=4, predictor_heads=2, image_size=32), \
        load_published(tmp_path / "vit.pt", heads=4)
    assert (ac.layout, plain.layout) == ("hub-vjepa2-ac", "hub-vjepa2")
    assert set(ac.modules) == {"encoder", "predictor"} and set(plain.modules) == {"encoder"}
    clip = torch.randn(2, 4, 3, 32, 32)
    z, a = torch.randn(2, 3, 16, 48), torch.randn(2, 3, 7)
    with torch.no_grad():
        assert (plain.modules["encoder"](clip) - encoder(clip)).abs().max() < 1e-5
        assert torch.equal(ac.modules["predictor"](z, a, a), predictor(z, a, a))


def test_what_is_not_a_published_layout_is_refused_with_the_list(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"model_type": "vit"}))
    torch.save({"w": torch.zeros(2)}, tmp_path / "other" / "x.pt")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, tmp_path / "other" / "model.safetensors")
    for bad, what in ((tmp_path / "other", "model_type 'vit'"), (tmp_path / "other" / "x.pt", "entries w")):
        with pytest.raises(ValueError, match=what) as err:
            load_published(bad)
        assert all(name in str(err.value) for name in LAYOUTS)
    with pytest.raises(FileNotFoundError):
        load_published(tmp_path / "missing.pt")


def test_an_i_jepa_checkpoint_converts_with_its_licence_said(tmp_path):
    """facebookresearch/ijepa's save_checkpoint: encoder, predictor, target_encoder (under `module.`), opt,
    scaler, epoch, loss, batch_size, world_size, lr; the encoder's names patch_embed.proj (Conv2d), pos_embed,
    blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm. Filled with the tensors of a
    transformers IJepaModel (an independent implementation), it must give that model's outputs."""
    from test_interop_ijepa import CONFIG, hf_model

    model = hf_model()
    s = model.state_dict()
    encoder = {"patch_embed.proj.weight": s["embeddings.patch_embeddings.projection.weight"],
               "patch_embed.proj.bias": s["embeddings.patch_embeddings.projection.bias"],
               "pos_embed": s["embeddings.position_embeddings"], "norm.weight": s["layernorm.weight"],
               "norm.bias": s["layernorm.bias"]}
    for i in range(CONFIG["num_hidden_layers"]):
        a = f"layers.{i}."
        for ours, theirs in (("norm1", "layernorm_before"), ("norm2", "layernorm_after"),
                             ("attn.proj", "attention.o_proj"), ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2")):
            for part in ("weight", "bias"):
                encoder[f"blocks.{i}.{ours}.{part}"] = s[f"{a}{theirs}.{part}"]
        for part in ("weight", "bias"):
            encoder[f"blocks.{i}.attn.qkv.{part}"] = torch.cat([s[f"{a}attention.{n}_proj.{part}"] for n in "qkv"])
    wrapped = {f"module.{k}": v for k, v in encoder.items()}
    predictor = randomised(MaskedPredictor(48, levels=1, width=32, depth=2, heads=2, num_mask_types=1,
                                           position="sincos", norm_eps=1e-6))
    with torch.no_grad():  # I-JEPA's predictor: targets only, no modality vectors
        predictor.context_head.load_state_dict(predictor.target_head.state_dict())
        predictor.modality.zero_()
    official_predictor = {f"module.{k}": v for k, v in ijepa_predictor_state(predictor, grid=4).items()}
    torch.save({"encoder": wrapped, "predictor": official_predictor,
                "target_encoder": wrapped, "opt": {"state": {}, "param_groups": [{"lr": 0.001, "params": [0]}]},
                "scaler": None, "epoch": 300, "loss": 0.1, "batch_size": 2048, "world_size": 16, "lr": 0.001},
               tmp_path / "IN1K-vit.tiny.pth.tar")
    loaded = load_published(tmp_path / "IN1K-vit.tiny.pth.tar", heads=CONFIG["num_attention_heads"], predictor_heads=2)
    assert loaded.layout == "ijepa" and "CC-BY-NC" in loaded.licence
    assert loaded.config == {"image_size": 32}  # every entry but the EMA encoder and the predictor is said unread
    assert loaded.left_out == [f"entry {k}" for k in ("encoder", "opt", "scaler", "epoch", "loss", "batch_size",
                                                       "world_size", "lr")]
    assert all(torch.equal(a, b) for a, b in zip(loaded.modules["predictor"].state_dict().values(),
                                                 predictor.state_dict().values()))
    back = ijepa_encoder_state(loaded.modules["encoder"], 32)  # and I-JEPA's names again, tensor for tensor
    assert back.keys() == encoder.keys() and all(torch.equal(back[k], encoder[k]) for k in back)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (loaded.modules["encoder"](x) - model(pixel_values=x).last_hidden_state).abs().max() < 1e-4

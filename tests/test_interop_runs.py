"""Published weights as run folders (interop/runs.py): `worldjepa convert` writes folders that every command
reads (`embed`, `eval`, `plan`), `--init` fine-tunes them, `convert --to` writes them back; what does not fit
is refused by name. The checkpoints are built in the released layouts (key names, `module.backbone.`
prefixes, entries) from small modules with random weights."""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from transformers import VJEPA2Model

from worldjepa.cli import main
from worldjepa.dynamics.patch import PatchActionPredictor
from worldjepa.eval.features import patch_features
from worldjepa.interop.runs import from_pretrained
from worldjepa.interop.vjepa2_ac_hub import vjepa2_ac_hub_state
from worldjepa.interop.published import load_published
from worldjepa.interop.vjepa2_hub import predictor_from_vjepa2_hub, vjepa2_hub_predictor_state, vjepa2_hub_state
from worldjepa.nn.predictor import MaskedPredictor
from worldjepa.nn.encoder import Encoder, ViTSize
from worldjepa.train.checkpoint import load_checkpoint


def randomised(module, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.normal_(0, 0.2).add_(1.0 if "norm" in name and name.endswith("weight") else 0.0)
    return module.eval()


def hub_file(path, **entries):
    torch.save({name: {f"module.backbone.{k}": v for k, v in state.items()} for name, state in entries.items()}, path)
    return path


def vjepa21_encoder():
    """A 12-block V-JEPA 2.1 encoder as the released code builds one (image tokenizer, modality vectors, 4 level
    norms at blocks 2, 5, 8, 11, RoPE positions mapped onto the 256 px grid: 32 at patch 8)."""
    return randomised(Encoder(ViTSize(12, 48, 4), patch_size=8, tubelet_size=2, levels=4, rope_grid=32))


def test_a_converted_vjepa21_encoder_runs_through_embed_and_eval(tmp_path, capsys):
    encoder = vjepa21_encoder()
    src = hub_file(tmp_path / "vjepa2_1_small_384.pt", target_encoder=vjepa2_hub_state(encoder))
    run = tmp_path / "run"
    assert main(["convert", str(src), "--out", str(run), "--image-size", "32", "--frames", "4", "--heads", "4"]) == 0
    done = json.loads(capsys.readouterr().out.splitlines()[0])
    assert done["layout"] == "hub-vjepa2" and done["runs"] == {"pretrain": str(run)}
    assert main(["convert", str(src), "--out", str(run), "--image-size", "32", "--heads", "4"]) == 2
    assert "already holds a run" in capsys.readouterr().err  # never written over
    source = json.loads((run / "source.json").read_text())
    assert source["file"] == src.name and source["modules"] == ["encoder"] and source["checkpoint_format"] == 2

    loaded = from_pretrained(run)
    assert loaded.predictor is None and loaded.encoder.taps == [2, 5, 8, 11]
    clip = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.encoder(clip, all_levels=True), encoder(clip, all_levels=True))

    # embed: one video, sliding windows with their times, every level, fp32 → the encoder's own features
    assert main(["generate", "--out", str(tmp_path / "media"), "--clips", "1", "--frames", "10",
                 "--image-size", "32"]) == 0
    video = next((tmp_path / "media").rglob("*.mp4"))
    feats = tmp_path / "f.safetensors"
    assert main(["embed", str(video), "--checkpoint", str(run), "--out", str(feats), "--pool", "none",
                 "--levels", "all", "--precision", "fp32", "--stride", "3", "--quiet"]) == 0
    with safe_open(str(feats), framework="pt") as f:
        meta = json.loads(f.metadata()["worldjepa"])
        got = f.get_tensor(next(iter(f.keys())))
    timing = next(iter(meta["files"].values()))
    assert timing["window_starts"] == [0, 3, 6] and timing["window_seconds"] == [0.0, 0.25, 0.5]  # 12 fps
    assert got.shape == (3, 2, 4, 4, 4 * 48)
    from worldjepa.data.video import read_video

    frames = read_video(video)
    windows = np.stack([frames[s:s + 4] for s in (0, 3, 6)])
    expected = patch_features(encoder, windows, precision="fp32", all_levels=True)
    assert (got - expected).abs().max() < 1e-4

    # eval: the encoder's tasks; surprise needs a predictor, which this source does not hold
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run), "--small", "--quiet", "--out", str(tmp_path / "eval")]) == 0
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert set(results["tasks"]) == {"depth", "state", "anticipation"} and "surprise" in results["skipped"]
    assert "position_r2" in json.dumps(results["tasks"]["state"])
    assert main(["eval", "--checkpoint", str(run), "--small", "--suite", "surprise", "--quiet"]) == 2
    assert "without a predictor" in capsys.readouterr().err

    # a converted folder is a start, not a run to resume; --init fine-tunes it with its own config
    assert main(["pretrain", "--config", str(run / "config.yaml"), "--out", str(run), "train.steps=1"]) == 2
    assert "converted weights" in capsys.readouterr().err
    tuned = tmp_path / "tuned"
    assert main(["pretrain", "--config", str(run / "config.yaml"), "--init", str(run), "--out", str(tuned),
                 "--quiet", "train.steps=1", "optim.lr=0", "optim.start_lr=0", "optim.min_lr=0",
                 "optim.weight_decay=[0,0]", "data.batch_size=2", "train.precision=fp32"]) == 0
    assert "holds no predictor: the predictor starts from random weights" in capsys.readouterr().err
    before, _ = load_checkpoint(run / "checkpoint.safetensors")
    after, _ = load_checkpoint(tuned / "checkpoint.safetensors")
    for name, value in before.items():  # lr 0: one step leaves the converted weights; the teacher started there
        assert torch.equal(after[name], value), name  # and its EMA of equal weights moves by rounding only
        torch.testing.assert_close(after[name.replace("objective.encoder", "objective.teacher.module")], value,
                                   rtol=0, atol=1e-6)


def test_masked_predictors_in_both_released_layouts_round_trip_and_a_21_run_gets_its_surprise_task(tmp_path, capsys):
    """V-JEPA 2's predictor (one level, tiled RoPE, no context head) and 2.1's (an MLP over 4 levels, modality
    vectors, a context head) written in the released names and read back unchanged; a 2.1 file with its
    predictor becomes a run whose `eval` includes the predictor's task; a distilled one's (it predicts another
    model's features) is left out, said."""
    v2 = randomised(MaskedPredictor(48, levels=1, width=32, depth=2, heads=2, num_mask_types=10, tiled_rope=True,
                                    norm_eps=1e-6), seed=2)
    with torch.no_grad():  # V-JEPA 2 has one head and no modality vectors
        v2.context_head.load_state_dict(v2.target_head.state_dict())
        v2.modality.zero_()
    v21 = randomised(MaskedPredictor(48, levels=4, width=32, depth=2, heads=2, norm_eps=1e-6), seed=3)
    for predictor in (v2, v21):
        back = predictor_from_vjepa2_hub({"predictor": vjepa2_hub_predictor_state(predictor)}, heads=2)
        assert back.tiled_rope == predictor.tiled_rope and back.levels == predictor.levels
        mine, theirs = predictor.state_dict(), back.state_dict()
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)

    encoder = vjepa21_encoder()
    src = hub_file(tmp_path / "v21.pt", target_encoder=vjepa2_hub_state(encoder),
                   predictor=vjepa2_hub_predictor_state(v21))
    run = tmp_path / "run"
    assert main(["convert", str(src), "--out", str(run), "--image-size", "32", "--frames", "8", "--heads", "4",
                 "--predictor-heads", "2"]) == 0
    loaded = from_pretrained(run)
    assert all(torch.equal(a, b) for a, b in zip(loaded.predictor.state_dict().values(), v21.state_dict().values()))
    assert main(["eval", "--checkpoint", str(run), "--small", "--suite", "surprise", "--quiet"]) == 0

    distilled = vjepa2_hub_predictor_state(v21)
    distilled["predictor_proj.weight"] = torch.zeros(4 * 64, 32)  # a ViT-G teacher's features, say
    distilled["predictor_proj.bias"] = torch.zeros(4 * 64)
    hub_file(tmp_path / "dist.pt", target_encoder=vjepa2_hub_state(encoder), predictor=distilled)
    with pytest.warns(UserWarning, match="predictor is left out: this predictor predicts 256 channels"):
        loaded = load_published(tmp_path / "dist.pt", heads=4, predictor_heads=2)
    assert set(loaded.modules) == {"encoder"} and "predictor.predictor_proj.weight" in loaded.left_out


def test_a_predictor_in_the_official_2ac_layout_plans_a_two_rooms_episode(tmp_path, capsys):
    encoder = randomised(Encoder(ViTSize(2, 48, 4), patch_size=16, tubelet_size=2, separate_tokenizers=False,
                                 levels=1, tiled_rope=True))
    # two-rooms: 2-D actions and a 2-D position as proprioception, 64 px frames → a 4 × 4 grid at patch 16
    predictor = randomised(PatchActionPredictor(48, (4, 4), 2, 32, 2, 2, proprio_dim=2, tiled_rope=True,
                                                norm_eps=1e-6), seed=1)
    src = hub_file(tmp_path / "ac.pt", encoder=vjepa2_hub_state(encoder), predictor=vjepa2_ac_hub_state(predictor))
    run = tmp_path / "ac"
    assert main(["convert", str(src), "--out", str(run), "--heads", "4", "--predictor-heads", "2",
                 "--image-size", "64"]) == 2
    assert "--world two-rooms" in capsys.readouterr().err  # a 2-AC predictor needs its world
    odd = PatchActionPredictor(48, (4, 4), 3, 32, 2, 2, proprio_dim=2, tiled_rope=True, norm_eps=1e-6)
    hub_file(tmp_path / "odd.pt", encoder=vjepa2_hub_state(encoder), predictor=vjepa2_ac_hub_state(odd))
    assert main(["convert", str(tmp_path / "odd.pt"), "--out", str(tmp_path / "odd"), "--heads", "4",
                 "--predictor-heads", "2", "--image-size", "64", "--world", "two-rooms"]) == 2
    assert "actions of 3 values; two-rooms's actions have 2" in capsys.readouterr().err
    assert not (tmp_path / "odd").exists()  # refused before anything is written
    assert main(["convert", str(src), "--out", str(run), "--heads", "4", "--predictor-heads", "2",
                 "--image-size", "64", "--world", "two-rooms"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["runs"] == {"world-model": str(run),
                                                                         "pretrain": str(run / "encoder")}
    model = from_pretrained(run).world_model
    z, a, p = torch.randn(2, 3, 16, 48), torch.randn(2, 3, 2), torch.randn(2, 3, 2)
    with torch.no_grad():
        assert torch.equal(model.objective.predictor(z, a, p), predictor(z, a, p))
    assert main(["plan", "--checkpoint", str(run), "--episodes", "1", "--record", "0", "--quiet",
                 "--out", str(tmp_path / "plan"), "samples=50", "iterations=3", "elites=5"]) == 0
    report = capsys.readouterr().out
    assert "success" in report
    summary = json.loads((tmp_path / "plan" / "results.json").read_text())
    assert summary["episodes"] == 1 and summary["plan"]["samples"] == 50

    # fine-tuning the converted world model on episodes of its world
    data = tmp_path / "data"
    assert main(["collect", "--world", "two-rooms", "--episodes", "2", "--steps", "8", "--out", str(data)]) == 0
    assert main(["train-wm", "--config", str(run / "config.yaml"), "--data", str(data), "--out", str(tmp_path / "t"),
                 "--init", str(run), "--quiet", "train.steps=1", "data.batch_size=2", "data.frameskip=1"]) == 0


def test_vjepa2_runs_go_back_to_transformers_and_the_hub_layout_and_convert_again_exactly(tmp_path, capsys):
    from test_interop_vjepa2 import CONFIG, hf_model

    model = hf_model(seed=7)
    model.save_pretrained(tmp_path / "hf")
    run = tmp_path / "run"
    assert main(["convert", str(tmp_path / "hf"), "--out", str(run), "--frames", "4"]) == 0
    capsys.readouterr()
    assert main(["convert", str(run), "--to", "hf", "--out", str(tmp_path / "back")]) == 0
    again = VJEPA2Model.from_pretrained(tmp_path / "back").eval()
    theirs = model.state_dict()
    for name, value in again.state_dict().items():
        assert torch.equal(value, theirs[name]), name
    assert json.loads((tmp_path / "back" / "config.json").read_text())["crop_size"] == CONFIG["crop_size"]
    # the hub layout: convert reads it back to the same encoder
    assert main(["convert", str(run), "--to", "hub", "--out", str(tmp_path / "hub")]) == 0
    assert main(["convert", str(tmp_path / "hub" / "model.pt"), "--out", str(tmp_path / "run2"), "--heads", "2",
                 "--image-size", "32", "--frames", "4"]) == 0
    a, _ = load_checkpoint(run / "checkpoint.safetensors")
    b, _ = load_checkpoint(tmp_path / "run2" / "checkpoint.safetensors")
    assert all(torch.equal(b[k], a[k]) for k in b) and set(b) == {k for k in a if k.startswith("objective.encoder.")}


def test_v21_and_worldjepa_runs_are_refused_by_transformers_naming_why(tmp_path, capsys):
    src = hub_file(tmp_path / "v21.pt", target_encoder=vjepa2_hub_state(vjepa21_encoder()))
    assert main(["convert", str(src), "--out", str(tmp_path / "run"), "--image-size", "32", "--frames", "4",
                 "--heads", "4"]) == 0
    assert main(["convert", str(tmp_path / "run"), "--to", "hf", "--out", str(tmp_path / "hf")]) == 2
    assert "transformers has no V-JEPA 2.1 model" in capsys.readouterr().err


def test_bad_checkpoints_fail_naming_the_key_and_allow_missing_still_reports(tmp_path, capsys):
    encoder = vjepa21_encoder()
    state = vjepa2_hub_state(encoder)
    state["blocks.3.attn.qkv_renamed.weight"] = state.pop("blocks.3.attn.qkv.weight")
    src = hub_file(tmp_path / "renamed.pt", target_encoder=state)
    args = ["convert", str(src), "--out", str(tmp_path / "run"), "--image-size", "32", "--heads", "4"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "missing: blocks.3.attn.qkv.weight" in err and "unexpected: blocks.3.attn.qkv_renamed.weight" in err
    assert not (tmp_path / "run").exists()
    assert main([*args, "--allow-missing"]) == 0
    assert "missing: blocks.3.attn.qkv.weight" in capsys.readouterr().err  # the report, as a warning


def test_hub_ids_say_clearly_when_they_cannot_be_fetched(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # an empty cache: nothing to fall back on
    assert main(["convert", "facebook/vjepa2-vitl-fpc64-256", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "could not fetch facebook/vjepa2-vitl-fpc64-256 from the Hugging Face hub" in err
    assert main(["convert", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "run")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_an_i_jepa_checkpoint_becomes_a_run_with_its_licence_and_goes_to_transformers(tmp_path, capsys):
    from transformers import IJepaModel

    from worldjepa.interop.ijepa_official import ijepa_encoder_state, ijepa_predictor_state

    encoder = randomised(Encoder(ViTSize(2, 48, 4), patch_size=8, tubelet_size=1, separate_tokenizers=False,
                                 levels=1, position="sincos"))
    predictor = randomised(MaskedPredictor(48, levels=1, width=32, depth=2, heads=2, num_mask_types=1,
                                           position="sincos", norm_eps=1e-6), seed=4)
    wrap = lambda state: {f"module.{k}": v for k, v in state.items()}  # noqa: E731
    torch.save({"encoder": wrap(ijepa_encoder_state(encoder, 32)), "target_encoder": wrap(ijepa_encoder_state(encoder, 32)),
                "predictor": wrap(ijepa_predictor_state(predictor, 4)), "epoch": 300}, tmp_path / "IN1K-tiny.pth.tar")
    run = tmp_path / "run"
    assert main(["convert", str(tmp_path / "IN1K-tiny.pth.tar"), "--out", str(run), "--heads", "4",
                 "--predictor-heads", "2"]) == 0
    out = capsys.readouterr().out
    assert "licence of the weights: CC-BY-NC 4.0" in out
    assert "CC-BY-NC" in json.loads((run / "source.json").read_text())["licence"]
    loaded = from_pretrained(run)
    assert loaded.predictor is not None and loaded.encoder.position == "sincos"
    assert main(["convert", str(run), "--to", "hf", "--out", str(tmp_path / "hf")]) == 0
    model = IJepaModel.from_pretrained(tmp_path / "hf").eval()
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (model(pixel_values=image).last_hidden_state - encoder(image)).abs().max() < 1e-4

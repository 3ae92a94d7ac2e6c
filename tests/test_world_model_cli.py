"""The world-model commands end to end at toy size: collect → train-wm → plan, in the built-in world and
in a Gymnasium environment through the adapter."""

import json

import pytest

from conftest import SMALL_WM, TINY_PLAN
from worldjepa.cli import main


@pytest.mark.parametrize("world", ["two-rooms", "gym:Pendulum-v1"])
def test_collect_train_plan(tmp_path, capsys, world):
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["collect", "--world", world, "--episodes", "4", "--steps", "12", "--out", str(data),
                 "--image-size", "32"]) == 0
    assert main(["train-wm", "--data", str(data), "--out", str(run), "--quiet", *SMALL_WM, "train.steps=3",
                 "data.batch_size=4"]) == 0
    capsys.readouterr()
    precision = "fp32" if world.startswith("gym:") else "bf16"  # bf16 is the default
    assert main(["plan", "--checkpoint", str(run), "--episodes", "2", "--record", "1", "--quiet", *TINY_PLAN,
                 f"precision={precision}"]) == 0
    printed = capsys.readouterr().out
    assert "success" in printed and "ms per step" in printed
    results = json.loads((run / "plan" / "results.json").read_text())
    each = results["per_episode"]
    assert results["episodes"] == len(each) == 2
    assert results["success_rate"] == sum(e["success"] for e in each) / 2  # the rate is the episodes' outcomes
    for e in each:  # an episode succeeds when it ends within the world's success radius, and only then stops early
        assert e["success"] == (e["final_distance"] < results["success_radius"]), e
        assert e["steps"] == 6 or e["success"], e
    assert results["final_distance_mean"] == sum(e["final_distance"] for e in each) / 2
    assert results["plan"]["samples"] == 16 and results["world"] == world and results["precision"] == precision
    assert main(["plan", "--checkpoint", str(run), "--quiet", "precision=fp16"]) == 2
    assert "plan.precision" in capsys.readouterr().err  # names the key and the choices
    assert (run / "plan" / "planning.png").stat().st_size > 0 and (run / "plan" / "episodes.mp4").stat().st_size > 0
    assert main(["plan", "--checkpoint", str(run), "--ensemble", str(run), "--episodes", "1", "--record", "0",
                 "--out", str(tmp_path / "ens"), "--quiet", *TINY_PLAN, "disagreement=0.5"]) == 0
    assert "ensemble of 2 models, disagreement 0.5" in capsys.readouterr().out
    assert main(["plan", "--checkpoint", str(run), "--ensemble", str(tmp_path / "nothing"), "--quiet"]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    # another round: episodes the planner drives, added to the store, then fine-tuning from the run
    assert main(["collect", "--planner", str(run), "--episodes", "2", "--out", str(data), *TINY_PLAN,
                 f"precision={precision}"]) == 0
    assert "added 2 planner episodes (indices 4–5)" in capsys.readouterr().out
    assert main(["train-wm", "--data", str(data), "--out", str(tmp_path / "run2"), "--init", str(run), "--quiet",
                 *SMALL_WM, "train.steps=2", "data.batch_size=4"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["episodes"] == 6


def test_world_model_command_errors_are_one_line(tmp_path, capsys):
    assert main(["collect", "--world", "gym:CartPole-v1", "--episodes", "1", "--out", str(tmp_path / "d")]) == 2
    assert "needs a 1-D Box" in capsys.readouterr().err
    assert main(["collect", "--world", "gym:NoSuchEnv-v0", "--episodes", "1", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "cannot make Gymnasium environment 'NoSuchEnv-v0'" in err and "Traceback" not in err
    assert main(["train-wm", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["plan", "--checkpoint", str(tmp_path / "nothing")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    assert main(["train-wm", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "plan.solverr=cem"]) == 2
    assert "did you mean 'plan.solver'" in capsys.readouterr().err
    assert main(["collect", "--world", "two-rooms", "--episodes", "1", "--out", str(tmp_path / "d"), "samples=8"]) == 2
    assert "need --planner" in capsys.readouterr().err


def test_patch_form_chain_on_an_encoder_pretrained_on_the_worlds_frames(tmp_path, capsys, small_overrides):
    """The documented chain of the V-JEPA 2-AC form (docs/planning.md): collect → pretrain on the store's frames
    (data.source=episodes) → train-wm --config wm-two-rooms-patch on that encoder, frozen → plan. The world
    model's latents are the pretrained teacher's LayerNorm'ed patch features of each frame fed as a 2-frame
    tubelet, before and after training the predictor."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from worldjepa.data.batches import to_tensor
    from worldjepa.data.episodes import EpisodeStore
    from worldjepa.dynamics.model import load_world_model
    from worldjepa.pretrain import load_pretrained

    data, enc, run = tmp_path / "data", tmp_path / "enc", tmp_path / "wm"
    assert main(["collect", "--world", "two-rooms", "--episodes", "4", "--steps", "12", "--out", str(data),
                 "--image-size", "32"]) == 0
    assert main(["pretrain", "--out", str(enc), "--quiet", *small_overrides, "train.steps=2", "data.source=episodes",
                 f"data.path={data}"]) == 0
    patch_wm = ["image_size=32", "data.window=3", "data.frameskip=2", "data.batch_size=4", "model.predictor_depth=1",
                "model.predictor_width=32", "model.predictor_heads=2", "train.precision=fp32", "train.steps=3",
                f"model.encoder_run={enc}"]
    assert main(["train-wm", "--config", "wm-two-rooms-patch", "--data", str(data), "--out", str(run), "--quiet",
                 *patch_wm]) == 0
    capsys.readouterr()
    assert main(["plan", "--checkpoint", str(run), "--episodes", "2", "--record", "0", "--quiet", *TINY_PLAN]) == 0
    results = json.loads((run / "plan" / "results.json").read_text())
    assert results["episodes"] == 2 and results["plan"]["energy"] == "l1"

    model, cfg, _ = load_world_model(run, {"precision": "fp32"})
    assert cfg.model.form == "patch"
    teacher, _ = load_pretrained(enc)
    frames = EpisodeStore(data).episodes[0]["obs"][:3]
    with torch.no_grad():
        clips = to_tensor(frames)[:, None].expand(-1, 2, -1, -1, -1)
        expected = F.layer_norm(teacher(clips), (teacher.dim,))
        latents = model.encode(frames)
    assert latents.shape == (3, 16, teacher.dim)
    torch.testing.assert_close(latents, expected, rtol=1e-5, atol=1e-5)
    assert np.isfinite(results["final_distance_mean"])


@pytest.mark.parametrize("form,size", [("autoregressive", ["model.predictor_width=32", "model.predictor_heads=2",
                                                            "model.codes=16", "model.tokenizer_channels=[8,8]",
                                                            "model.tokenizer_share=0.5"]),
                                        ("diffusion", ["model.unet_channels=[8,16]", "model.sampling_steps=2"])])
def test_the_other_paradigms_train_and_plan_through_the_same_commands(tmp_path, capsys, form, size):
    """The autoregressive and diffusion baselines: `train-wm model.form=...` trains them by the same trainer on the
    same episode store (its log holds their own losses and the shared health numbers), and `plan` plans with them
    through the same MPC, on distances between generated frames and the goal frame."""
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["collect", "--world", "two-rooms", "--episodes", "4", "--steps", "12", "--out", str(data),
                 "--image-size", "32"]) == 0
    assert main(["train-wm", "--data", str(data), "--out", str(run), "--quiet", *SMALL_WM, f"model.form={form}",
                 *size, "model.predictor_depth=1", "train.steps=3", "train.log_every=1", "data.batch_size=4"]) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    losses = {k for r in log for k in r}
    assert ("next_token" in losses and "reconstruction" in losses) if form == "autoregressive" else "denoise" in losses
    assert any("health/predict" in r for r in log)
    capsys.readouterr()
    assert main(["plan", "--checkpoint", str(run), "--episodes", "1", "--record", "0", "--quiet", "samples=4",
                 "iterations=1", "elites=2", "horizon=1", "budget=2", "precision=fp32"]) == 0
    results = json.loads((run / "plan" / "results.json").read_text())
    assert results["episodes"] == 1 and "success" in capsys.readouterr().out

"""The device seam (src/worldjepa/device.py): where every command runs and in what precision."""

import json

import numpy as np
import pytest
import torch
from conftest import SMALL_WM

from worldjepa import config, device
from worldjepa.cli import COMMANDS, main
from worldjepa.device import DeviceError, autocast, resolve_device

NO_CUDA = not torch.cuda.is_available()


def test_auto_takes_the_best_available_device(monkeypatch):
    monkeypatch.setattr(device, "_mps_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu") and resolve_device(None) == torch.device("cpu")
    monkeypatch.setattr(device, "_mps_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")  # a GPU first, then Apple's MPS, then the CPU
    assert resolve_device("cuda:1") == torch.device("cuda:1")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
def test_a_missing_device_is_one_clear_error():
    with pytest.raises(DeviceError, match="no usable CUDA GPU.*use --device cpu"):
        resolve_device("cuda")
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def test_autocast_sets_the_matmul_precision():
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with autocast("cpu", "bf16"):
        assert (a @ b).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), "fp32"):
        assert (a @ b).dtype == torch.float32
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16"):
        autocast("cpu", "fp16")


# the smallest arguments each command parses with; --device is checked before any of them is used
ARGS = {"demo": [], "pretrain": ["--out", "x"], "embed": ["x", "--checkpoint", "y"], "generate": ["--out", "x"],
        "collect": ["--out", "x"], "train-wm": ["--data", "x", "--out", "y"], "plan": ["--checkpoint", "x"],
        "eval": ["--checkpoint", "x"], "report": ["x"], "doctor": ["x"], "convert": ["x", "--out", "y"],
        "export": ["x", "--out", "y"], "configs": [], "shard": ["x", "--out", "y"], "resources": [],
        "arena": ["--out", "x"], "vl": ["eval", "--run", "x"]}


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_takes_device_and_says_in_one_line_when_it_is_missing(command, capsys, tmp_path,
                                                                             monkeypatch):
    assert set(ARGS) == set(COMMANDS)  # a new command gets a row here
    monkeypatch.chdir(tmp_path)
    assert main([command, *ARGS[command], "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"worldjepa {command}: error: device 'cuda'") and "no usable CUDA" in err[0]
    assert not any(tmp_path.iterdir())  # refused before any work


def test_a_training_step_and_a_plan_run_through_the_seam_on_cpu(tmp_path, small_overrides, capsys):
    """`--device cpu`: training writes train.device=cpu into the run's config and checkpoint; planning puts
    the model, its bounds and its latents on the CPU."""
    from worldjepa.dynamics.model import load_world_model
    from worldjepa.train.checkpoint import read_checkpoint_meta
    from worldjepa.worlds import make_world
    from worldjepa.worlds.collect import collect

    run = tmp_path / "pre"
    assert main(["pretrain", "--out", str(run), "--quiet", "--device", "cpu", "train.steps=1", *small_overrides]) == 0
    meta = read_checkpoint_meta(run / "checkpoint.safetensors")
    assert meta["config"]["train"]["device"] == "cpu" and meta["kind"] == "pretrain" and meta["step"] == 1
    assert config.load(run / "config.yaml").train.device == "cpu"

    collect(make_world("two-rooms", image_size=32), "two-rooms", tmp_path / "data", episodes=4, steps=8, progress=False)
    wm = tmp_path / "wm"
    assert main(["train-wm", "--data", str(tmp_path / "data"), "--out", str(wm), "--quiet", "--device", "cpu",
                 *SMALL_WM, "train.steps=1", "data.batch_size=4"]) == 0
    model, _, _ = load_world_model(wm, device="cpu")
    assert model.device == torch.device("cpu") and model.action_low.device.type == "cpu"
    assert all(p.device.type == "cpu" for p in model.objective.parameters())
    assert model.encode(np.zeros((2, 32, 32, 3), np.uint8)).device.type == "cpu"
    capsys.readouterr()
    assert main(["plan", "--checkpoint", str(wm), "--episodes", "1", "--record", "0", "--quiet", "--device", "cpu",
                 "samples=8", "iterations=1", "elites=2", "budget=2"]) == 0
    summary = json.loads((wm / "plan" / "results.json").read_text())
    assert summary["device"] == "cpu" and summary["episodes"] == 1

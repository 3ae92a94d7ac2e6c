import json
import math
import os

import pytest
import torch

from worldjepa.demo import run_demo, world_model_demo


def test_demo_pipeline_writes_everything(tmp_path, small_overrides):
    overrides = [o for o in small_overrides if not o.startswith("data.frames")] + ["train.steps=3", "data.frames=6"]
    report = run_demo(tmp_path, overrides, probe_train=24, probe_test=8, progress=False, world_model=False)
    for name in ("config.yaml", "checkpoint.safetensors", "log.jsonl", "results.json", "pca.png", "loss.png"):
        assert (tmp_path / name).exists(), name
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["probes"] == report["probes"]
    assert set(saved["probes"]) == {"pretrained", "random_init", "pixels"}
    for row in saved["probes"].values():
        assert math.isfinite(row["position_r2"]) and math.isfinite(row["velocity_r2"])
    assert saved["doctor"]["verdicts"] and "rankme" in saved["doctor"]["numbers"]  # the doctor's verdict is kept


@pytest.fixture
def both_cores():
    """This test computes on both cores even under `make test`'s two workers (tests/conftest.py): it is half the
    suite, and the other worker's tests, on one thread, leave it most of the machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield
    torch.set_num_threads(before)


def test_pretraining_beats_random_features(tmp_path, both_cores):
    """A short real run of the demo recipe (480 of its 720 steps, ~4 min) must already give features
    from which a linear probe reads ball positions and velocities better than from a random encoder."""
    report = run_demo(tmp_path, ["train.steps=480"], probe_train=600, probe_test=200, progress=False,
                      world_model=False)
    pretrained, random_init = report["probes"]["pretrained"], report["probes"]["random_init"]
    # measured: position 0.871 vs 0.716, velocity 0.723 vs 0.669 (the full 720-step demo: 0.928 / 0.791)
    assert pretrained["position_r2"] > random_init["position_r2"] + 0.10, report["probes"]
    assert pretrained["velocity_r2"] > random_init["velocity_r2"] + 0.03, report["probes"]


def test_demo_world_model_stage_writes_its_run(tmp_path):
    report = world_model_demo(tmp_path, progress=False, episodes=6, steps=2, goals=2,
                              plan_overrides={"samples": 16, "iterations": 2, "elites": 4, "budget": 10})
    assert report["plan"]["episodes"] == 2 and report["train_steps"] == 2
    for name in ("run/checkpoint.safetensors", "run/plan/results.json", "run/plan/planning.png", "data/meta.json"):
        assert (tmp_path / name).exists(), name

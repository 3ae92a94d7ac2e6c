"""The bring-your-own-robot walkthrough (examples/own_robot.py) runs end to end at toy size."""

import importlib.util
import math
from pathlib import Path

import pytest

from worldjepa.data.episodes import EpisodeStore

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_robot.py"


def test_own_robot_walkthrough(tmp_path):
    spec = importlib.util.spec_from_file_location("own_robot", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    small = ["model.depth=2", "model.width=64", "model.heads=2", "model.predictor_width=64",
             "model.predictor_heads=2", "data.batch_size=8", "plan.samples=16", "plan.iterations=2",
             "plan.elites=4", "train.precision=fp32"]
    result = module.main(["--out", str(tmp_path), "--episodes", "4", "--steps", "3", "--goals", "3", "--budget", "10",
                          *small])
    store = EpisodeStore(tmp_path / "episodes")
    assert store.meta.world == "my-arm" and store.meta.proprio_dim == 2 and len(store) == 4
    assert math.isfinite(result["hand_error_end"]) and (tmp_path / "run" / "checkpoint.safetensors").exists()
    each = result["hand_error_end_each"]
    assert result["goals"] == len(each) == 3 and result["hand_error_end"] == pytest.approx(sum(each) / 3)
    assert result["success_rate"] == sum(e < result["success_radius"] for e in each) / 3
    # the goals are 20 random steps away: reachable within the budget, and not already reached
    assert 0.0 < result["hand_error_start"] < 0.8

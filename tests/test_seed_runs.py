"""The seed tables of benchmarks/seed_runs.py (used by the recipe ablation) against hand-computed values."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from seed_runs import format_changes, format_table  # noqa: E402


def _run(seed, rmse, r2, verdicts=("healthy",)):
    return {"seed": seed, "tasks": {"depth": {"rmse": rmse}, "state": {"position_r2": r2, "velocity_r2": r2}},
            "doctor": list(verdicts)}


def test_mean_spread_and_paired_changes():
    rows = {"base": [_run(0, 0.30, 0.5), _run(1, 0.20, 0.7), _run(2, 0.25, 0.6)],
            "+ x": [_run(2, 0.20, 0.6, ("partial collapse",)), _run(0, 0.28, 0.8), _run(1, 0.21, 0.9)]}
    table, summary = format_table(rows, ["depth", "state"])
    assert summary["base"]["depth RMSE"][:2] == pytest.approx([0.25, 0.05])
    assert "| healthy ×3 |" in table and "partial collapse ×1; healthy ×2" in table
    _, paired = format_changes(rows, ["depth", "state"])
    rmse = paired["+ x"]["depth RMSE"]  # paired by seed (2, 0, 1 in the row's order), not by position
    assert rmse["diffs"] == pytest.approx([-0.05, -0.02, 0.01]) and rmse["better"] == 2  # lower RMSE is better
    assert rmse["mean"] == pytest.approx(-0.02)
    r2 = paired["+ x"]["position R²"]
    assert r2["diffs"] == pytest.approx([0.0, 0.3, 0.2]) and r2["better"] == 2  # no change is not better


def test_records_stand_for_finished_runs_with_the_same_settings(tmp_path, monkeypatch):
    import json

    import seed_runs

    def never(*args, **kwargs):
        raise AssertionError("trained a run whose record was there")

    monkeypatch.setattr(seed_runs, "pretrain", never)
    record = {**_run(1, 0.2, 0.7), "preset": "tiny-cpu", "overrides": ["model.levels=4"], "steps": None}
    (tmp_path / "plus-x-seed1.json").write_text(json.dumps(record))
    rows = seed_runs.run_rows({"+ x": ["model.levels=4"]}, "tiny-cpu", [1], tmp_path / "runs", "depth,state",
                              records=tmp_path)
    assert rows == {"+ x": [record]}
    with pytest.raises(AssertionError, match="trained a run"):  # other overrides: the record does not stand for it
        seed_runs.run_rows({"+ x": ["model.levels=1"]}, "tiny-cpu", [1], tmp_path / "runs", "depth", records=tmp_path)
    with pytest.raises(AssertionError, match="trained a run"):  # a task the record lacks
        seed_runs.run_rows({"+ x": ["model.levels=4"]}, "tiny-cpu", [1], tmp_path / "runs", "depth,anticipation",
                           records=tmp_path)

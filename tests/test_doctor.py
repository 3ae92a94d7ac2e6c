"""The collapse doctor: its numbers against formulas, and its verdicts on planted failures."""

import json

import numpy as np
import pytest
import torch

from worldjepa import config
from worldjepa.cli import main
from worldjepa.train.health import HealthWatch, diagnose
from worldjepa.pretrain import build_objective, build_source, pretrain
from worldjepa.train.log import read_log
from worldjepa.train.monitors import mean_cosine, rankme, spread


def test_spread_numbers_match_their_formulas():
    g = torch.Generator().manual_seed(0)
    constant = torch.ones(50, 8) * torch.arange(8.0)
    s = spread(constant)
    assert s["std"] == 0 and s["std_ratio"] == 0 and s["rankme"] == 1.0 and s["cosine"] == pytest.approx(1.0)

    iso = torch.randn(4000, 8, generator=g)
    s = spread(iso)  # subsampled to 1024 rows: still isotropic
    assert s["rankme"] > 7.5 and abs(s["cosine"]) < 0.05 and s["std_ratio"] == pytest.approx(1.0, abs=0.05)

    # two orthogonal directions with singular values 3:1 → entropy of p = (3/4, 1/4)
    basis = torch.linalg.qr(torch.randn(8, 2, generator=g))[0].T
    coeff = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    x = coeff @ basis
    p = np.array([3.0, 1.0]) / 4
    assert rankme(x - x.mean(0)) == pytest.approx(float(np.exp(-(p * np.log(p)).sum())), rel=1e-5)

    y = torch.randn(30, 5, generator=g)
    u = y / y.norm(dim=1, keepdim=True)
    cos = u @ u.T
    assert mean_cosine(y) == pytest.approx(float((cos.sum() - cos.trace()) / (30 * 29)), abs=1e-6)


def _small(small_overrides, *extra):
    return config.load("tiny-cpu", small_overrides + ["train.log_every=5", *extra])


def test_constant_encoder_is_full_collapse(small_overrides):
    cfg = _small(small_overrides)
    torch.manual_seed(0)
    objective = build_objective(cfg)
    with torch.no_grad():  # every patch embeds to the same vector: the encoder ignores its input
        for p in objective.encoder.parameters():
            p.zero_()
        objective.teacher.update(objective.encoder, 0.0)
    record = {"step": 0, **objective.monitors(build_source(cfg).batch(0, 0), 0)}
    d = diagnose([record])
    print(d.text())
    assert d.verdicts[0] == "full collapse", d.text()
    assert record["health/std_ratio"] < 1e-3


def test_planted_collapse_is_diagnosed_and_warned_during_training(tmp_path, small_overrides, capsys):
    """No regulariser: the teacher momentum at 0 makes the target the student itself."""
    cfg = _small(small_overrides, "train.steps=60", "optim.lr=2e-3", "objective.ema=[0.0, 0.0]")
    pretrain(cfg, tmp_path, progress=False)
    assert main(["doctor", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    with capsys.disabled():
        print(out)
    assert "collapse" in out and "what to change" in out
    warnings = [r for r in read_log(tmp_path) if "warning" in r]
    assert warnings and "collapse" in warnings[0]["warning"]
    assert warnings[0]["step"] >= 0.4 * 60  # not before the watch starts


def _record(step, **numbers):
    base = {"std_ratio": 0.8, "cosine": 0.2, "rankme": 20.0, "width": 64, "predict": 0.3, "copy": 0.4, "mean": 0.45}
    return {"step": step, **{f"health/{k}": v for k, v in (base | numbers).items()}}


def test_verdicts_on_planted_numbers(tmp_path, capsys):
    assert diagnose([_record(i) for i in range(8)]).healthy
    assert diagnose([_record(0, cosine=0.95)]).verdicts == ["partial collapse"]
    assert diagnose([_record(0, rankme=1.2)]).verdicts == ["full collapse"]
    assert diagnose([_record(0, predict=0.395)]).verdicts == ["no better than copying"]
    assert diagnose([_record(0, action_effect=0.01)]).verdicts == ["predictor ignores actions"]
    assert diagnose([_record(0, action_effect=0.5)]).healthy
    # a frozen encoder (patch-form world model) cannot collapse in training: its spread is not judged, the rest is
    assert diagnose([_record(0, rankme=1.2, cosine=0.999, frozen=1.0)]).healthy
    assert diagnose([_record(0, cosine=0.999, frozen=1.0, predict=0.395)]).verdicts == ["no better than copying"]
    # judged on the last quarter: an early collapse that recovered is not reported
    assert diagnose([_record(i, cosine=0.99) for i in range(6)] + [_record(i) for i in range(6, 8)]).healthy

    (tmp_path / "log.jsonl").write_text("".join(json.dumps(_record(i)) + "\n" for i in range(4)))
    assert main(["doctor", str(tmp_path)]) == 0
    assert "healthy" in capsys.readouterr().out
    (tmp_path / "log.jsonl").write_text(json.dumps({"step": 0, "loss": 1.0}) + "\n")
    assert main(["doctor", str(tmp_path)]) == 2
    assert "no health numbers" in capsys.readouterr().err
    assert main(["doctor", str(tmp_path / "nowhere")]) == 2


def test_watch_warns_once_after_its_start():
    watch = HealthWatch(total_steps=100)
    assert watch.update(_record(35, cosine=0.99)) is None  # before 40% of the run: not judged
    assert watch.update(_record(45, cosine=0.99)) is not None
    assert watch.update(_record(50, cosine=0.99)) is None  # already said
    assert watch.update(_record(55, cosine=0.99, predict=0.5)) is None  # one odd step out of three
    assert "no better than copying" in watch.update(_record(60, cosine=0.99, predict=0.5))


def test_a_log_without_health_numbers_is_diagnosed_from_the_checkpoint(tmp_path, small_overrides, capsys):
    """Runs trained before the numbers were logged: the final weights on the batches of the last steps,
    with the same numbers as the log's last entry (same weights, same batch, same masks)."""
    cfg = _small(small_overrides, "train.steps=5", "train.log_every=1")
    pretrain(cfg, tmp_path, progress=False)
    logged = [r for r in read_log(tmp_path) if "health/std" in r][-1]
    from worldjepa.doctor import checkpoint_records

    recomputed = checkpoint_records(tmp_path, batches=1)[0]
    assert recomputed["step"] == logged["step"] == 4
    for key in ("health/std", "health/rankme", "health/predict", "health/copy"):
        assert recomputed[key] == pytest.approx(logged[key], rel=1e-4), key
    stripped = [{k: v for k, v in r.items() if not k.startswith("health/")} for r in read_log(tmp_path)]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stripped))
    main(["doctor", str(tmp_path)])
    assert "from the final checkpoint" in capsys.readouterr().out


def test_monitors_leave_the_model_as_they_found_it(tmp_path):
    """A monitor pass runs in training mode; BatchNorm would update its running statistics there. The
    trainer puts every buffer back, so that a logged run ends with the weights of an unlogged one."""
    from worldjepa.config import OptimConfig, TrainConfig
    from worldjepa.data.batches import Batch
    from worldjepa.train.trainer import Trainer

    class Probe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8))

        def trainable(self):
            return self.net

        def loss(self, batch, step):
            raise AssertionError("not called")

        def after_step(self, step):
            return {}

        def monitors(self, batch, step):
            return {"health/std": float(self.net(batch.image).std())}

    objective = Probe().train()
    before = {k: v.clone() for k, v in objective.state_dict().items()}
    trainer = Trainer(objective, None, OptimConfig(), TrainConfig(precision="fp32"), tmp_path, kind="pretrain",
                      progress=False)
    out = trainer.monitors(Batch(image=torch.randn(16, 4) * 5 + 3), 0)
    assert out["health/std"] > 0
    after = objective.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running mean, var and count untouched


def test_a_patch_form_run_logged_before_the_frozen_flag_is_judged_by_its_config(tmp_path):
    """Patch-form world models freeze their encoder; a log written before `health/frozen` existed gets it from
    the run's config, so the encoder's spread is not called a collapse, while the rest is still judged."""
    from worldjepa.doctor import diagnose_run

    (tmp_path / "log.jsonl").write_text("".join(json.dumps(_record(i, cosine=0.999, action_effect=0.06)) + "\n"
                                                for i in range(4)))
    assert diagnose_run(tmp_path).verdicts == ["full collapse", "predictor ignores actions"]
    (tmp_path / "config.yaml").write_text("world: two-rooms\nmodel:\n  form: patch\n")
    assert diagnose_run(tmp_path).verdicts == ["predictor ignores actions"]

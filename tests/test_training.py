import math

import pytest
import torch

from worldjepa import config
from worldjepa.pretrain import build_objective, load_pretrained, pretrain
from worldjepa.train import checkpoint as ckpt
from worldjepa.train.log import read_log
from worldjepa.train.trainer import TrainingError


def _params(run_dir):
    tensors, meta = ckpt.load_checkpoint(run_dir / "checkpoint.safetensors")
    return tensors, meta


def test_resume_reproduces_uninterrupted_run_exactly(tmp_path, small_overrides):
    cfg = config.load("tiny-cpu", small_overrides + ["train.steps=6", "train.seed=3"])
    pretrain(cfg, tmp_path / "straight", progress=False)
    pretrain(cfg, tmp_path / "interrupted", progress=False, until=3)  # stops after step 3, checkpointed
    _, meta = _params(tmp_path / "interrupted")
    assert meta["step"] == 3
    summary = pretrain(cfg, tmp_path / "interrupted", progress=False)  # resumes
    assert summary["resumed_from"] == 3
    again = pretrain(cfg, tmp_path / "interrupted", progress=False)  # finished: nothing left to train
    assert (again["steps"], again["train_seconds"]) == (6, summary["train_seconds"])  # the time it took, kept
    a, _ = _params(tmp_path / "straight")
    b, _ = _params(tmp_path / "interrupted")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name  # weights, teacher and Adam moments, bit for bit
    steps = [r["step"] for r in read_log(tmp_path / "interrupted") if "loss" in r]
    assert steps == list(range(6))  # the log has each step once


def test_training_lowers_the_loss_and_moves_the_teacher(tmp_path, small_overrides):
    cfg = config.load("tiny-cpu", small_overrides + ["train.steps=40", "optim.lr=2e-3", "objective.ema=[0.9, 0.9]"])
    pretrain(cfg, tmp_path, progress=False)
    log = [r for r in read_log(tmp_path) if "loss" in r]
    first = sum(r["video/predict"] for r in log[:5]) / 5
    last = sum(r["video/predict"] for r in log[-5:]) / 5
    assert last < 0.8 * first, (first, last)
    teacher, _ = load_pretrained(tmp_path)
    student, _ = load_pretrained(tmp_path, "student")
    torch.manual_seed(cfg.train.seed)
    init = build_objective(cfg).encoder
    w = "blocks.0.attn.qkv.weight"
    assert not torch.equal(teacher.state_dict()[w], init.state_dict()[w])
    assert not torch.equal(teacher.state_dict()[w], student.state_dict()[w])


def test_checkpoint_of_other_model_is_refused(tmp_path, small_overrides):
    cfg = config.load("tiny-cpu", small_overrides + ["train.steps=2"])
    pretrain(cfg, tmp_path, progress=False)
    other = config.load("tiny-cpu", small_overrides + ["train.steps=4", "model.width=32"])
    with pytest.raises(TrainingError, match="different model"):
        pretrain(other, tmp_path, progress=False)


@pytest.mark.parametrize("recipe,extra", [
    ("vjepa2", []),
    ("ijepa", ["data.image_fraction=1.0"]),
    ("vjepa2.1", ["data.image_fraction=0.5"]),
    ("vjepa2.1", ["objective.regularizer=sigreg"]),
])
def test_recipes_train(tmp_path, small_overrides, recipe, extra):
    cfg = config.load("tiny-cpu", small_overrides + [f"objective.recipe={recipe}", "train.steps=3"] + extra)
    pretrain(cfg, tmp_path, progress=False)
    log = [r for r in read_log(tmp_path) if "loss" in r]
    assert len(log) == 3 and all(math.isfinite(r["loss"]) for r in log)
    last = log[-1]
    if recipe in ("vjepa2", "ijepa"):
        prefix = "image" if recipe == "ijepa" else "video"
        assert last[f"{prefix}/context"] == 0.0  # no visible-token loss in the earlier recipes
    if "data.image_fraction=0.5" in extra:
        assert "image/predict" in last and "video/predict" in last
    if "objective.regularizer=sigreg" in extra:
        assert last["video/sigreg"] > 0
        tensors, _ = ckpt.load_checkpoint(tmp_path / "checkpoint.safetensors")
        assert not any(k.startswith("objective.teacher") for k in tensors)


def test_worker_processes_give_the_same_run(tmp_path, small_overrides):
    cfg = config.load("tiny-cpu", small_overrides + ["train.steps=3"])
    pretrain(cfg, tmp_path / "main", progress=False)
    workers = config.load("tiny-cpu", small_overrides + ["train.steps=3", "data.workers=2"])
    pretrain(workers, tmp_path / "workers", progress=False)
    a, _ = _params(tmp_path / "main")
    b, _ = _params(tmp_path / "workers")
    assert all(torch.equal(a[k], b[k]) for k in a)

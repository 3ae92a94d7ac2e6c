"""Faults injected into training, and what must survive them (docs/reliability.md).

Each test plants one fault: SIGKILL at a random step, SIGKILL in the middle of writing a checkpoint,
a full disk, non-finite losses or gradients, a data-loading worker that dies.
"""

import errno
import math
import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from worldjepa import config
from worldjepa.cli import main
from worldjepa.pretrain import build_objective, build_source, pretrain
from worldjepa.train import checkpoint as ckpt
from worldjepa.train.log import read_log
from worldjepa.train.trainer import Trainer, TrainingError

STEPS = 10
# WORLDJEPA_FAULT_TRIALS=20 repeats each kill at 20 random points (the figures in docs/reliability.md)
TRIALS = int(os.environ.get("WORLDJEPA_FAULT_TRIALS", "1"))


def _overrides(small_overrides):
    return small_overrides + [f"train.steps={STEPS}", "train.checkpoint_every=1", "train.seed=5", "train.threads=2"]


def _pretrain_process(out, overrides, prelude=""):
    """`worldjepa pretrain` in a child process (so that it can be killed), optionally after `prelude` code."""
    code = (f"{prelude}\nimport sys\nfrom worldjepa.cli import main\n"
            f"sys.exit(main(['pretrain', '--config', 'tiny-cpu', '--out', {str(out)!r}, '--quiet', *{overrides!r}]))")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _same_tensors(a_dir, b_dir):
    a, _ = ckpt.load_checkpoint(a_dir / "checkpoint.safetensors")
    b, _ = ckpt.load_checkpoint(b_dir / "checkpoint.safetensors")
    assert a.keys() == b.keys()
    return [k for k in a if not torch.equal(a[k], b[k])]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted run, also in a child process, so that every run below is built the same way."""
    from conftest import SMALL

    out = tmp_path_factory.mktemp("straight")
    proc = _pretrain_process(out, _overrides(list(SMALL)))
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    return out


@pytest.mark.parametrize("trial", range(TRIALS))
def test_sigkill_at_a_random_step_then_resume_gives_the_uninterrupted_run(tmp_path, small_overrides, straight, trial):
    kill_after = random.randrange(1, STEPS - 2)  # differs run to run; printed on failure
    proc = _pretrain_process(tmp_path, _overrides(small_overrides))
    deadline = time.monotonic() + 300
    while not any(r.get("step", -1) >= kill_after for r in read_log(tmp_path)):
        assert proc.poll() is None and time.monotonic() < deadline, f"run ended before step {kill_after}"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    killed_at = ckpt.read_checkpoint_meta(tmp_path / "checkpoint.safetensors")["step"]
    assert killed_at < STEPS, f"killed after step {kill_after} but the run had already finished"

    resumed = _pretrain_process(tmp_path, _overrides(small_overrides))
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    assert _same_tensors(straight, tmp_path) == [], f"killed after step {kill_after}"  # weights, teacher, Adam
    assert [r["step"] for r in read_log(tmp_path) if "loss" in r and "skipped" not in r] == list(range(STEPS))


@pytest.mark.parametrize("trial", range(TRIALS))
def test_sigkill_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, small_overrides, straight, trial):
    """The process dies with part of a checkpoint on disk: the one before is intact, resumed from, and the
    half-written file is cleared away."""
    dies_on = random.randrange(2, STEPS)  # which save (one per step) is cut short
    prelude = (
        "import os, signal\n"
        "from worldjepa.train import checkpoint as ckpt\n"
        "real, calls = ckpt.save_file, [0]\n"
        "def dying(tensors, filename, metadata=None):\n"
        "    calls[0] += 1\n"
        "    real(tensors, filename, metadata=metadata)\n"
        f"    if calls[0] == {dies_on}:\n"
        "        with open(filename, 'r+b') as f:\n"
        "            f.truncate(os.path.getsize(filename) // 2)\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "ckpt.save_file = dying\n")
    proc = _pretrain_process(tmp_path, _overrides(small_overrides), prelude)
    assert proc.wait(timeout=300) == -signal.SIGKILL
    assert list(tmp_path.glob(".checkpoint.safetensors.*.tmp")), "the fault was not injected mid-write"
    assert ckpt.read_checkpoint_meta(tmp_path / "checkpoint.safetensors")["step"] == dies_on - 1
    ckpt.load_checkpoint(tmp_path / "checkpoint.safetensors")  # every tensor readable

    resumed = _pretrain_process(tmp_path, _overrides(small_overrides))
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    assert not list(tmp_path.glob(".checkpoint.safetensors.*.tmp"))
    assert _same_tensors(straight, tmp_path) == [], f"killed while writing checkpoint {dies_on}"


def test_disk_full_is_a_clear_error_and_keeps_the_last_checkpoint(tmp_path, small_overrides, monkeypatch, capsys):
    overrides = small_overrides + ["train.steps=4", "train.checkpoint_every=2"]
    pretrain(config.load("tiny-cpu", overrides), tmp_path, progress=False, until=2)
    good = (tmp_path / "checkpoint.safetensors").read_bytes()
    real = ckpt.save_file

    def full(tensors, filename, metadata=None):  # some bytes reach the disk, then it is full
        real(tensors, filename, metadata=metadata)
        with open(filename, "r+b") as f:
            f.truncate(1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)

    monkeypatch.setattr(ckpt, "save_file", full)
    assert main(["pretrain", "--config", "tiny-cpu", "--out", str(tmp_path), "--quiet", *overrides]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "step 2" in err and "is kept" in err and "resume" in err
    assert (tmp_path / "checkpoint.safetensors").read_bytes() == good
    assert not list(tmp_path.glob(".checkpoint.safetensors.*"))


@pytest.mark.parametrize("where", ["loss", "gradient"])
def test_non_finite_steps_are_skipped_then_the_run_stops_without_writing_them(tmp_path, small_overrides, where):
    cfg = config.load("tiny-cpu", small_overrides + ["train.steps=10", "train.max_skips=3", "train.checkpoint_every=1"])
    objective, source = build_objective(cfg), build_source(cfg)
    real_loss = objective.loss

    def poisoned(batch, step):
        losses = real_loss(batch, step)
        if step == 1 or step >= 5:
            if where == "loss":
                losses.total = losses.total * float("nan")
            else:  # a finite loss whose gradient overflows
                losses.total.register_hook(lambda g: g * float("inf"))
        return losses

    objective.loss = poisoned
    trainer = Trainer(objective, source, cfg.optim, cfg.train, tmp_path, kind="pretrain", progress=False)
    with pytest.raises(TrainingError, match="3 consecutive steps rejected"):
        trainer.fit()
    skipped = [r for r in read_log(tmp_path) if "skipped" in r]
    assert [r["step"] for r in skipped] == [1, 5, 6, 7]
    assert all(("non-finite " + where) in r["skipped"] for r in skipped)
    tensors, meta = ckpt.load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert meta["step"] == 7  # saved after step 6 with the weights of step 4: rejected steps change nothing
    assert all(torch.isfinite(t).all() for t in tensors.values())
    assert all(math.isfinite(float(p.detach().sum())) for p in objective.parameters())


class DyingSource:
    """A batch source whose worker process is killed by the OS when it reaches step 3."""

    def __init__(self, source):
        self.source = source

    def batch(self, step, micro=0):
        if step == 3 and torch.utils.data.get_worker_info() is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        return self.source.batch(step, micro)


def test_a_dying_data_worker_is_a_clear_error_not_a_hang(tmp_path, small_overrides):
    cfg = config.load("tiny-cpu", small_overrides + ["train.steps=8", "train.checkpoint_every=1"])
    trainer = Trainer(build_objective(cfg), DyingSource(build_source(cfg)), cfg.optim, cfg.train, tmp_path,
                      kind="pretrain", progress=False, workers=1)
    start = time.monotonic()
    with pytest.raises(TrainingError, match="data-loading worker process died") as err:
        trainer.fit()
    assert time.monotonic() - start < 120
    assert "resume" in str(err.value)
    died_at = int(re.search(r"died at step (\d+)", str(err.value)).group(1))
    assert 1 <= died_at <= 3  # the worker prefetches: its death surfaces up to two steps early
    assert ckpt.read_checkpoint_meta(tmp_path / "checkpoint.safetensors")["step"] == died_at  # finished steps kept

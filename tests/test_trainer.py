"""The training loop's arithmetic, against hand-computed values: schedules, which parameters decay and by
how much, the step guard, gradient accumulation. Uses the least-squares objective of conftest.py."""

import math

import pytest
import torch
from conftest import LinearObjective, LinearSource

from worldjepa.config import OptimConfig, TrainConfig
from worldjepa.data.batches import Batch
from worldjepa.train.guard import SpikeGuard
from worldjepa.train.log import read_log
from worldjepa.train.objective import Losses
from worldjepa.train.schedule import learning_rate, weight_decay
from worldjepa.train.trainer import Trainer, param_groups

OPTIM = OptimConfig(lr=1e-3, min_lr=1e-5, warmup_steps=10, start_lr=1e-4, weight_decay=(0.04, 0.4))


@pytest.mark.parametrize("step,lr", [(0, 1e-4), (5, 5.5e-4), (10, 1e-3), (60, 5.05e-4), (110, 1e-5), (150, 1e-5)])
def test_learning_rate_warms_up_linearly_then_follows_a_cosine(step, lr):
    # warm-up 1e-4 → 1e-3 over 10 steps; cosine from 1e-3 to 1e-5 over the remaining 100 of 110: half-way
    # (step 60) it is 1e-5 + (1e-3 − 1e-5)·(1 + cos π/2)/2 = 5.05e-4
    assert learning_rate(step, 110, OPTIM) == pytest.approx(lr, rel=1e-12)


def test_constant_schedule_holds_the_rate_after_warm_up():
    cfg = OptimConfig(lr=2e-3, warmup_steps=4, start_lr=0.0, schedule="constant")
    assert [learning_rate(s, 100, cfg) for s in (0, 2, 4, 99)] == pytest.approx([0.0, 1e-3, 2e-3, 2e-3])


def test_constant_schedule_decays_linearly_over_its_last_steps():
    """Warm-up, stable, decay (V-JEPA 2-AC; V-JEPA 2.1's cool-down is the decay alone): 100 steps, the last 10
    from 2e-3 down to min_lr 1e-6, reaching it on the last step."""
    cfg = OptimConfig(lr=2e-3, min_lr=1e-6, warmup_steps=4, start_lr=0.0, schedule="constant", decay_steps=10)
    expected = [2e-3, 2e-3 + (1e-6 - 2e-3) * 1 / 10, 2e-3 + (1e-6 - 2e-3) * 5 / 10, 1e-6]
    assert [learning_rate(s, 100, cfg) for s in (89, 90, 94, 99)] == pytest.approx(expected, rel=1e-12)
    cooldown = OptimConfig(lr=6e-4, min_lr=1e-6, warmup_steps=0, schedule="constant", decay_steps=12)
    assert learning_rate(0, 12, cooldown) == pytest.approx(6e-4 - (6e-4 - 1e-6) / 12)
    from worldjepa.config import ConfigError, load

    with pytest.raises(ConfigError, match="optim.decay_steps=10 shapes the constant schedule"):
        load("tiny-cpu", ["optim.decay_steps=10"])
    with pytest.raises(ConfigError, match=r"warmup_steps=50 \+ optim.decay_steps=60 exceed train.steps=100"):
        load("tiny-cpu", ["optim.schedule=constant", "optim.decay_steps=60", "train.steps=100"])


@pytest.mark.parametrize("step,wd", [(0, 0.04), (55, 0.22), (110, 0.4), (200, 0.4)])
def test_weight_decay_follows_a_cosine_from_start_to_end(step, wd):
    # 0.4 + (0.04 − 0.4)·(1 + cos(π·step/110))/2: 0.04 at 0, 0.22 half-way, 0.4 at the end
    assert weight_decay(step, 110, OPTIM) == pytest.approx(wd, rel=1e-12)


def test_the_trainer_logs_the_scheduled_values(tmp_path):
    train = TrainConfig(steps=12, log_every=1, precision="fp32", checkpoint_every=100)
    Trainer(LinearObjective(), LinearSource(), OPTIM, train, tmp_path, kind="pretrain", progress=False).fit()
    log = [r for r in read_log(tmp_path) if "loss" in r]
    assert [r["lr"] for r in log] == pytest.approx([learning_rate(s, 12, OPTIM) for s in range(12)], rel=1e-12)
    assert [r["wd"] for r in log] == pytest.approx([weight_decay(s, 12, OPTIM) for s in range(12)], rel=1e-12)


class Parts(torch.nn.Module):
    """Parameters of every kind the decay rule distinguishes; the loss has zero gradient everywhere, so
    one AdamW step changes a parameter by its decoupled weight decay alone."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 4)
        self.norm = torch.nn.LayerNorm(4)
        self.mask_tokens = torch.nn.Parameter(torch.ones(2, 4))
        self.modality = torch.nn.Parameter(torch.ones(2, 4))
        self.frozen = torch.nn.Parameter(torch.ones(3, 3), requires_grad=False)

    def trainable(self):
        return self

    def loss(self, batch, step):
        return Losses(sum(p.sum() for p in self.parameters() if p.requires_grad) * 0.0)

    def after_step(self, step):
        return {}

    def monitors(self, batch, step):
        return {}


def test_weight_decay_shrinks_matrices_only_by_lr_times_wd(tmp_path):
    objective = Parts()
    groups = param_groups(objective)
    named = {id(p): n for n, p in objective.named_parameters()}
    assert [named[id(p)] for p in groups[0]["params"]] == ["linear.weight"] and groups[0]["apply_decay"]
    assert sorted(named[id(p)] for p in groups[1]["params"]) == ["linear.bias", "mask_tokens", "modality", "norm.bias",
                                                                  "norm.weight"]
    optim = OptimConfig(lr=0.1, start_lr=0.1, warmup_steps=0, schedule="constant", weight_decay=(0.5, 0.5))
    trainer = Trainer(objective, None, optim, TrainConfig(steps=10, precision="fp32"), tmp_path, kind="pretrain",
                      progress=False)
    before = {n: p.detach().clone() for n, p in objective.named_parameters()}
    result = trainer.step([Batch()], step=3)
    assert result.rejected is None and (result.lr, result.wd) == (0.1, 0.5)
    for name, p in objective.named_parameters():
        factor = 1 - 0.1 * 0.5 if name == "linear.weight" else 1.0  # AdamW: p ← p·(1 − lr·wd) + 0 (no gradient)
        torch.testing.assert_close(p.detach(), before[name] * factor, rtol=1e-6, atol=0)


def test_a_parameter_with_an_lr_scale_learns_at_that_multiple_of_the_rate(tmp_path):
    """VL-JEPA's text encoder learns at 0.05 × the rate: its decoupled decay (here the whole update) is scaled too."""
    objective = Parts()
    objective.linear.weight.lr_scale = 0.2
    groups = param_groups(objective)
    assert [(g["lr_scale"], g["apply_decay"], len(g["params"])) for g in groups] == [(1.0, True, 0), (1.0, False, 5),
                                                                                      (0.2, True, 1)]
    optim = OptimConfig(lr=0.1, start_lr=0.1, warmup_steps=0, schedule="constant", weight_decay=(0.5, 0.5))
    trainer = Trainer(objective, None, optim, TrainConfig(steps=10, precision="fp32"), tmp_path, kind="pretrain",
                      progress=False)
    before = objective.linear.weight.detach().clone()
    trainer.step([Batch()], step=3)
    torch.testing.assert_close(objective.linear.weight.detach(), before * (1 - 0.2 * 0.1 * 0.5), rtol=1e-6, atol=0)


def test_the_guard_rejects_non_finite_values_and_spikes_over_the_median():
    guard = SpikeGuard(factor=10.0, window=50, min_history=20)
    assert guard.reason(1e9, 1.0) is None  # no history yet: nothing to compare with
    for loss in [1.0, 3.0] * 10:  # median 2.0 once 20 losses are known
        guard.accept(loss)
    assert guard.reason(19.9, 1.0) is None
    assert guard.reason(20.1, 1.0).startswith("loss spike (20.1 > 10 × median 2)")
    assert guard.reason(math.nan, 1.0) == "non-finite loss"
    assert guard.reason(1.0, math.inf) == "non-finite gradient"
    assert SpikeGuard(factor=0.0).reason(1e9, 1.0) is None  # 0 disables the spike test
    again = SpikeGuard(10.0)
    again.load(guard.state())
    assert again.reason(20.1, 1.0) == guard.reason(20.1, 1.0)  # the history survives a checkpoint


def test_a_rejected_step_changes_no_weight_and_no_optimizer_moment(tmp_path):
    objective = LinearObjective()
    trainer = Trainer(objective, None, OPTIM, TrainConfig(steps=10, precision="fp32"), tmp_path, kind="pretrain",
                      progress=False)
    source = LinearSource()
    assert trainer.step([source.batch(0)], 0).rejected is None  # one real step: moments exist
    trainer.guard.load([trainer.step([source.batch(s)], s).loss for s in range(1, 21)])
    weights = {k: v.clone() for k, v in objective.state_dict().items()}
    moments = {k: v.clone() for k, v in trainer.optimizer.state_dict()["state"][0].items()}
    spike = source.batch(21)
    spike.actions = spike.actions * 1000  # a corrupt batch: its loss is far above the recent median
    result = trainer.step([spike], 21)
    assert result.rejected.startswith("loss spike")
    assert all(torch.equal(weights[k], v) for k, v in objective.state_dict().items())
    assert all(torch.equal(moments[k], v) for k, v in trainer.optimizer.state_dict()["state"][0].items())
    assert trainer.step([source.batch(22)], 22).rejected is None  # the next ordinary batch trains again


def test_a_new_training_stage_is_not_a_spike(tmp_path):
    """An objective whose loss changes scale at a listed stage start (the autoregressive baseline's switch from
    its tokenizer to its transformer) trains on; the same jump elsewhere is rejected."""

    class Staged(LinearObjective):
        stage_starts = (21,)

        def loss(self, batch, step):
            out = super().loss(batch, step)
            return type(out)(out.total * (1000.0 if step >= 21 else 1.0), out.parts)

    for stages, rejected in (((21,), None), ((), "loss spike")):
        objective = Staged()
        objective.stage_starts = stages
        trainer = Trainer(objective, None, OPTIM, TrainConfig(steps=30, precision="fp32"), tmp_path / str(stages),
                          kind="pretrain", progress=False)
        source = LinearSource()
        assert all(trainer.step([source.batch(s)], s).rejected is None for s in range(21))
        result = trainer.step([source.batch(21)], 21).rejected
        assert result is None if rejected is None else result.startswith(rejected), (stages, result)


class Joined:
    """One batch holding both micro-batches of `source`'s step."""

    def __init__(self, source):
        self.source = source

    def batch(self, step, micro=0):
        a, b = self.source.batch(step, 0), self.source.batch(step, 1)
        return Batch(image=torch.cat([a.image, b.image]), actions=torch.cat([a.actions, b.actions]))


def test_two_accumulated_micro_batches_make_the_step_of_their_union(tmp_path):
    """The loss is a mean over samples, so the mean of two equal-sized micro-batches' gradients is the
    gradient of their union: the two runs must end with the same weights and report the same loss."""
    source = LinearSource(batch_size=4)
    runs = {}
    for name, accumulate, src in (("micro", 2, source), ("union", 1, Joined(source))):
        objective = LinearObjective()
        train = TrainConfig(steps=5, accumulate=accumulate, precision="fp32", log_every=1, checkpoint_every=100)
        Trainer(objective, src, OPTIM, train, tmp_path / name, kind="pretrain", progress=False).fit()
        runs[name] = (objective.net.weight.detach().clone(), [r["loss"] for r in read_log(tmp_path / name) if "loss" in r],
                      objective.net.weight.grad.clone())  # the last step's gradient (AdamW alone hides its scale)
    torch.testing.assert_close(runs["micro"][0], runs["union"][0], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(runs["micro"][2], runs["union"][2], rtol=1e-5, atol=1e-7)
    assert runs["micro"][1] == pytest.approx(runs["union"][1], rel=1e-5)
    assert not torch.equal(runs["micro"][0], LinearObjective().net.weight.detach())  # and training did move them

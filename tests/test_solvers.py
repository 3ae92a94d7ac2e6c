"""Solvers against costs whose minimum is known."""

import pytest
import torch

from worldjepa.config import PlanConfig
from worldjepa.planning.solvers import CEM, MPPI, GaussianSampler, GradientDescent, make_solver

H, A = 3, 2
LOW, HIGH = -torch.ones(A), torch.ones(A)
TARGET = torch.tensor([[[0.3, -0.5], [0.7, 0.1], [-0.2, 0.9]], [[-0.6, 0.2], [0.0, 0.0], [0.5, -0.4]]])  # [B=2, H, A]


def quadratic(actions):  # [B, S, H, A] → [B, S], minimum 0 at TARGET
    return ((actions - TARGET[:, None]) ** 2).sum((-1, -2))


def double_well(x):
    """Per coordinate (x² − 0.49)² + 0.0375·(x − 0.7)²: wells near ±0.7, the global one at +0.7."""
    return ((x * x - 0.49) ** 2 + 0.0375 * (x - 0.7) ** 2).sum((-1, -2))


CFG = dict(horizon=H, samples=200, iterations=25, elites=20, gd_steps=150, gd_lr=0.05, seed=0)


@pytest.mark.parametrize("solver", [CEM, MPPI, GradientDescent])
def test_solvers_find_the_minimum_of_a_convex_cost(solver):
    plan = solver(PlanConfig(solver="cem", **CFG)).minimize(quadratic, LOW, HIGH, batch=2)
    assert torch.allclose(plan.actions, TARGET, atol=0.06), plan.actions
    assert plan.energy.max() < 0.01
    assert plan.trace == sorted(plan.trace, reverse=True)  # the best energy never gets worse


@pytest.mark.parametrize("solver", [CEM, MPPI, GradientDescent])
def test_solvers_find_the_global_well_of_a_nonconvex_cost(solver):
    # value 0 at +0.7 and 0.0735 at −0.7 per coordinate, a barrier of 0.26 between them at 0
    plan = solver(PlanConfig(solver="cem", **CFG)).minimize(double_well, LOW, HIGH, batch=2)
    assert torch.allclose(plan.actions, torch.full_like(plan.actions, 0.7), atol=0.05), plan.actions


@pytest.mark.parametrize("name", ["cem", "mppi", "gd"])
def test_bounds_hold_when_the_minimum_lies_outside(name):
    outside = torch.full((2, H, A), 3.0)
    plan = make_solver(PlanConfig(solver=name, **CFG)).minimize(
        lambda a: ((a - outside[:, None]) ** 2).sum((-1, -2)), LOW, HIGH, batch=2)
    assert plan.actions.max() <= 1.0 and torch.allclose(plan.actions, torch.ones_like(plan.actions), atol=0.02)


def test_warm_start_is_always_a_candidate():
    cfg = PlanConfig(solver="cem", horizon=H, samples=8, iterations=1, elites=2, seed=0)
    plan = CEM(cfg).minimize(quadratic, LOW, HIGH, batch=2, init=TARGET.clone())
    assert plan.energy.max() == 0.0 and torch.equal(plan.actions, TARGET)


def test_correlated_noise_has_unit_variance_and_the_asked_correlation():
    s = GaussianSampler(-torch.ones(6), torch.ones(6), horizon=4, init_std=1.0, min_std=0.0, correlation=0.8, chunk=3)
    n = s.noise(1, 20000).reshape(20000, 12, 2)  # 4 steps × 3 primitive actions of 2 dims
    assert n.var(0).sub(1).abs().max() < 0.05
    lag1 = (n[:, 1:] * n[:, :-1]).mean(0)
    assert lag1.sub(0.8).abs().max() < 0.04


def test_the_random_baseline_draws_uniform_sequences_in_bounds_and_only_scores_them():
    solver = make_solver(PlanConfig(solver="random", **CFG))
    low, high = torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 0.5])
    plans = [solver.minimize(quadratic, low, high, batch=2, seed=s) for s in (0, 0, 1)]
    assert torch.equal(plans[0].actions, plans[1].actions) and not torch.equal(plans[0].actions, plans[2].actions)
    assert plans[0].actions.shape == (2, H, A)
    many = torch.cat([solver.minimize(quadratic, low, high, batch=2, seed=s).actions for s in range(300)])
    assert (many >= low).all() and (many <= high).all()
    assert torch.allclose(many.mean((0, 1)), (low + high) / 2, atol=0.03)  # uniform: the middle on average
    assert torch.allclose(plans[0].energy, quadratic(plans[0].actions[:, None])[:, 0])  # scored, not chosen


class _ActionsAreTheLatents:
    """A model whose rollout is the action sequence itself: the energy is the squared distance to the goal."""

    action_low, action_high, frameskip = LOW, HIGH, 1

    def rollout(self, z0, actions, proprio0=None):
        return actions

    def energy(self, z_pred, z_goal):
        return ((z_pred - z_goal[:, None]) ** 2).sum((-1, -2))


def test_the_action_weight_adds_the_mean_squared_action_to_the_energy():
    """Energy ‖a − T‖² + λ · mean(a²) over H·A values has its minimum at T / (1 + λ / (H·A)): with λ = H·A = 6,
    halfway between the goal and doing nothing."""
    from worldjepa.planning.solvers import world_model_cost

    model = _ActionsAreTheLatents()
    cost = world_model_cost(model, TARGET, TARGET, action_weight=6.0)
    a = torch.rand(2, 5, H, A) * 2 - 1
    assert torch.allclose(cost(a), quadratic(a) + 6.0 * (a ** 2).mean((-1, -2)))
    plan = make_solver(PlanConfig(solver="cem", action_weight=6.0, **CFG)).solve(model, TARGET, TARGET)
    assert torch.allclose(plan.actions, TARGET / 2, atol=0.06), plan.actions
    free = make_solver(PlanConfig(solver="cem", **CFG)).solve(model, TARGET, TARGET)
    assert torch.allclose(free.actions, TARGET, atol=0.06)

"""Solvers: find action sequences of low energy, batched over problems and candidates.

All three share one sampling core, a diagonal Gaussian over sequences [B, H, A] clipped to the action
bounds, and differ only in how they use the costs of the samples:

    CEM   refit mean and std to the `elites` lowest-cost samples (DINO-WM, LeWM, V-JEPA 2-AC)
    MPPI  mean and std as averages weighted by exp(−(E − min E) / (τ · std E)) (PLDM); τ is relative to
          the spread of the costs, so one temperature serves any energy scale
    GD    draw `elites` starting sequences from the same distribution, then Adam on the actions through
          the differentiable world model, projected back into the bounds after every step (DINO-WM GD)

Every solver returns the best sequence it evaluated (never an untested mean). A warm start (the
previous plan, shifted) becomes the distribution's mean and is always among the candidates.
`minimize(cost, ...)` works on any cost [B, S, H, A] → [B, S]; `solve(model, z0, z_goal)` builds that
cost from a world model: energy(rollout(z0, actions), z_goal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import torch
from torch import Tensor

from ..config import PlanConfig
from ..dynamics.protocol import WorldModel

Cost = Callable[[Tensor], Tensor]  # actions [B, S, H, A] → energies [B, S]


@dataclass
class Plan:
    actions: Tensor  # [B, H, A] the lowest-energy sequence found
    energy: Tensor  # [B] its energy
    trace: list[float] = field(default_factory=list)  # mean (over B) best energy after each iteration


class GaussianSampler:
    """The shared core: a per-problem diagonal Gaussian over action sequences, clipped to bounds."""

    def __init__(self, low: Tensor, high: Tensor, horizon: int, init_std: float, min_std: float, seed: int = 0,
                 correlation: float = 0.0, chunk: int = 1):
        self.low, self.high = low.float(), high.float()
        self.horizon, self.init_std, self.min_std = horizon, init_std, min_std
        self.correlation, self.chunk = correlation, chunk
        if self.low.numel() % chunk:
            raise ValueError(f"action size {self.low.numel()} is not a multiple of the chunk length {chunk}")
        self.generator = torch.Generator().manual_seed(seed)

    def start(self, batch: int, init: Tensor | None = None) -> tuple[Tensor, Tensor]:
        A = self.low.numel()
        mean = ((self.low + self.high) / 2).expand(batch, self.horizon, A).clone() if init is None else \
            self.clip(init.to(self.low.device).float().clone())
        if mean.shape != (batch, self.horizon, A):
            raise ValueError(f"warm start must be [{batch}, {self.horizon}, {A}], got {tuple(mean.shape)}")
        std = (self.high - self.low) / 2 * self.init_std
        return mean, std.expand(batch, self.horizon, A).clone()

    def clip(self, actions: Tensor) -> Tensor:
        return torch.maximum(torch.minimum(actions, self.high), self.low)

    def noise(self, batch: int, n: int) -> Tensor:
        """Unit-variance noise [batch, n, H, A]. With correlation ρ > 0 it is an AR(1) process along the
        primitive steps (ε_t = ρ ε_t−1 + √(1−ρ²) w_t, over the H·chunk steps of a sequence): sampled
        sequences then keep a direction for a while and reach far states, where white noise averages
        out within a chunk (the coloured-noise idea of iCEM)."""
        H, A = self.horizon, self.low.numel()
        steps, dim = H * self.chunk, A // self.chunk
        w = torch.randn((batch, n, steps, dim), generator=self.generator)  # on the CPU: the same draws on any device
        rho = self.correlation
        if rho > 0:  # the recursion unrolled: ε = M w, M[t, s] = ρ^(t−s) · (1 if s = 0 else √(1−ρ²)), s ≤ t
            t = torch.arange(steps, dtype=torch.float32)
            lag = t[:, None] - t[None, :]
            M = torch.where(lag >= 0, rho ** lag.clamp_min(0), torch.zeros(()))
            M[:, 1:] *= (1 - rho * rho) ** 0.5
            w = torch.einsum("ts,bnsd->bntd", M, w)
        return w.reshape(batch, n, H, A).to(self.low.device)

    def sample(self, mean: Tensor, std: Tensor, n: int) -> Tensor:
        """[B, n, H, A]; candidate 0 is the mean itself."""
        noise = self.noise(mean.shape[0], n)
        noise[:, 0] = 0.0
        return self.clip(mean[:, None] + std[:, None] * noise)


def _pick(candidates: Tensor, energies: Tensor, best: Plan | None) -> Plan:
    """The better, per problem, of `best` and the lowest-energy candidate."""
    e, i = energies.min(dim=1)
    acts = candidates[torch.arange(len(i), device=candidates.device), i]
    if best is None:
        return Plan(acts.detach().clone(), e.detach().clone())
    better = e < best.energy
    best.actions[better] = acts[better].detach()
    best.energy[better] = e[better].detach()
    return best


class Solver(Protocol):
    """What MPC needs of a solver: the lowest-energy plan it can find for a world model's problems."""

    def minimize(self, cost: Cost, low: Tensor, high: Tensor, batch: int, init: Tensor | None = None,
                 seed: int | None = None, chunk: int = 1) -> Plan:
        """Minimise `cost` over sequences [batch, horizon, A] in [low, high]; `chunk` primitive actions
        make one step of A values (frame-skip), which only the correlated noise needs to know."""
        ...

    def solve(self, model: WorldModel, z0: Tensor, z_goal: Tensor, init: Tensor | None = None,
              seed: int | None = None, proprio0: Tensor | None = None) -> Plan:
        """Minimise energy(rollout(z0, actions, proprio0), z_goal) over the model's action space."""
        ...


def world_model_cost(model: WorldModel, z0: Tensor, z_goal: Tensor, proprio0: Tensor | None = None,
                     action_weight: float = 0.0) -> Cost:
    """The cost a solver minimises to plan with `model`: the energy of each candidate's rollout, plus
    `action_weight` × the mean squared action in units of the half-range of the bounds (0 at their centre, 1 at
    a bound): the smallest motion that gets there wins, where a model's errors grow with the motion."""
    if z_goal.shape != z0.shape:
        raise ValueError(f"goal latents {tuple(z_goal.shape)} do not match start latents {tuple(z0.shape)}")
    centre, half = (model.action_high + model.action_low) / 2, (model.action_high - model.action_low) / 2

    def cost(actions: Tensor) -> Tensor:
        energy = model.energy(model.rollout(z0, actions, proprio0), z_goal)
        if action_weight:
            energy = energy + action_weight * (((actions - centre) / half) ** 2).mean((-1, -2))
        return energy

    return cost


class _PlansWithModels:
    """`solve` for a solver that has `minimize`: the same for every solver."""

    def solve(self, model: WorldModel, z0: Tensor, z_goal: Tensor, init: Tensor | None = None,
              seed: int | None = None, proprio0: Tensor | None = None) -> Plan:
        return self.minimize(world_model_cost(model, z0, z_goal, proprio0, self.cfg.action_weight), model.action_low,
                             model.action_high, z0.shape[0], init, seed, model.frameskip)


def sampler(cfg: PlanConfig, low: Tensor, high: Tensor, seed: int | None = None, chunk: int = 1) -> GaussianSampler:
    return GaussianSampler(low, high, cfg.horizon, cfg.init_std, cfg.min_std, cfg.seed if seed is None else seed,
                           cfg.noise_correlation, chunk)


Refit = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]  # (candidates [B, S, H, A], energies [B, S]) → mean, std


class GaussianSearch(_PlansWithModels):
    """Sample, score, keep the best, refit the distribution by `refit`."""

    def __init__(self, cfg: PlanConfig, refit: Refit):
        self.cfg, self.refit = cfg, refit

    @torch.no_grad()
    def minimize(self, cost, low, high, batch, init=None, seed=None, chunk=1):
        c, s = self.cfg, sampler(self.cfg, low, high, seed, chunk)
        mean, std = s.start(batch, init)
        best, trace = None, []
        for _ in range(c.iterations):
            cand = s.sample(mean, std, c.samples)
            e = cost(cand)
            best = _pick(cand, e, best)
            mean, std = self.refit(cand, e)
            std = std.clamp_min(c.min_std)
            trace.append(float(best.energy.mean()))
        best.trace = trace
        return best


def elite_refit(elites: int) -> Refit:
    """CEM: mean and std of the `elites` lowest-energy candidates."""
    def refit(candidates: Tensor, energies: Tensor) -> tuple[Tensor, Tensor]:
        idx = energies.topk(elites, dim=1, largest=False).indices
        chosen = candidates[torch.arange(len(idx), device=idx.device)[:, None], idx]  # [B, k, H, A]
        return chosen.mean(1), chosen.std(1)

    return refit


def weighted_refit(temperature: float) -> Refit:
    """MPPI: mean and std weighted by exp(−(E − min E) / (temperature · std E))."""
    def refit(candidates: Tensor, energies: Tensor) -> tuple[Tensor, Tensor]:
        spread = energies.std(dim=1, keepdim=True).clamp_min(1e-8)
        shifted = energies - energies.min(dim=1, keepdim=True).values
        w = torch.softmax(-shifted / (temperature * spread), dim=1)[..., None, None]
        mean = (w * candidates).sum(1)
        return mean, (w * (candidates - mean[:, None]) ** 2).sum(1).sqrt()

    return refit


class CEM(GaussianSearch):
    def __init__(self, cfg: PlanConfig):
        super().__init__(cfg, elite_refit(cfg.elites))


class MPPI(GaussianSearch):
    def __init__(self, cfg: PlanConfig):
        super().__init__(cfg, weighted_refit(cfg.temperature))


class GradientDescent(_PlansWithModels):
    def __init__(self, cfg: PlanConfig):
        self.cfg = cfg

    def minimize(self, cost, low, high, batch, init=None, seed=None, chunk=1):
        c, s = self.cfg, sampler(self.cfg, low, high, seed, chunk)
        mean, std = s.start(batch, init)
        starts = max(1, min(c.elites, c.samples))
        actions = s.sample(mean, std, starts).requires_grad_(True)
        opt = torch.optim.Adam([actions], lr=c.gd_lr)
        best, trace = None, []
        for _ in range(c.gd_steps):
            e = cost(actions)
            best = _pick(actions, e, best)
            opt.zero_grad(set_to_none=True)
            e.sum().backward()
            opt.step()
            with torch.no_grad():
                actions.copy_(s.clip(actions))
            trace.append(float(best.energy.mean()))
        with torch.no_grad():
            best = _pick(actions, cost(actions), best)
        best.trace = trace
        return best


class RandomActions(_PlansWithModels):
    """The random-action baseline (as beside DINO-WM's reach results): one uniformly random sequence per problem,
    chosen by nothing; the world model only scores it, so `plan solver=random` runs the same tasks, budget and
    success criterion without planning."""

    def __init__(self, cfg: PlanConfig):
        self.cfg = cfg

    def minimize(self, cost, low, high, batch, init=None, seed=None, chunk=1):
        g = torch.Generator().manual_seed(0 if seed is None else int(seed))
        u = torch.rand(batch, 1, self.cfg.horizon, low.numel(), generator=g).to(low.device)  # one candidate each
        actions = low + u * (high - low)
        with torch.no_grad():
            return Plan(actions[:, 0], cost(actions)[:, 0].detach())


SOLVERS: dict[str, Callable[[PlanConfig], Solver]] = {"cem": CEM, "mppi": MPPI, "gd": GradientDescent,
                                                       "random": RandomActions}


def make_solver(cfg: PlanConfig) -> Solver:
    return SOLVERS[cfg.solver](cfg)

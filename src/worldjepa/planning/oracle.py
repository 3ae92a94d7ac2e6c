"""Oracle world models: exact models of a built-in world behind the `WorldModel` protocol.

They isolate the planner from model error: with the world's own dynamics as the model, what MPC fails to
reach is the solver's fault. Tests of solvers and MPC and the planner ablation in docs/planning.md use them.
"""

from __future__ import annotations

import numpy as np
import torch

from ..dynamics.energy import horizon_weights, latent_energy
from ..worlds.two_rooms import TwoRooms, move


class ExactTwoRoomsModel:
    """An exact world model of two-rooms: the latent is the agent position, read from the picture (centroid
    of the agent's colour), and the rollout is the world's `move` itself."""

    proprio_dim = 0

    def __init__(self, world: TwoRooms, frameskip: int, weights: str = "last", path_weight: float = 0.01):
        self.world, self.frameskip, self.weights, self.path_weight = world, frameskip, weights, path_weight
        self.image_size = world.image_size
        self.action_dim = 2 * frameskip
        self.action_low = -torch.ones(self.action_dim)
        self.action_high = torch.ones(self.action_dim)

    def encode(self, obs) -> torch.Tensor:
        img = np.asarray(obs, np.float32)
        red = lambda c: float(c[0]) - float(c[2])  # noqa: E731  (R − B: high only on the agent)
        back, agent = red(TwoRooms.BACKGROUND), red(TwoRooms.AGENT)
        cov = np.clip((img[..., 0] - img[..., 2] - back) / (agent - back), 0, 1)
        cov = np.where(cov > 0.05, cov, 0.0)
        S = img.shape[1]
        c = (np.arange(S) + 0.5) / S
        mass = cov.sum((1, 2))
        x = (cov * c[None, None, :]).sum((1, 2)) / mass
        y = (cov * c[None, :, None]).sum((1, 2)) / mass
        return torch.tensor(np.stack([x, y], -1), dtype=torch.float32)

    def rollout(self, z0, actions, proprio0=None):
        B, C, H, _ = actions.shape
        p = np.repeat(z0.numpy()[:, None], C, axis=1).astype(np.float64)
        a = actions.numpy().reshape(B, C, H, self.frameskip, 2)
        out = []
        for h in range(H):
            for k in range(self.frameskip):
                p = move(p, a[:, :, h, k], self.world.layout)
            out.append(p.copy())
        return torch.tensor(np.stack(out, 2), dtype=torch.float32)

    def energy(self, z_pred, z_goal):
        return latent_energy(z_pred, z_goal, "l2", horizon_weights(z_pred.shape[2], self.weights, self.path_weight))


class ExactDynamicsFeatureEnergy(ExactTwoRoomsModel):
    """The exact dynamics of two-rooms planned on another model's energy: the distance between the
    features `features` gives the frames of the predicted and the goal positions. It asks whether an
    energy (a frozen encoder's patch grid, say) lets a planner reach goals when the dynamics are perfect,
    which separates a failing energy from a failing predictor.

    The features of every cell centre of an n × n grid over the room are computed once; a position's
    features are those of its cell. A goal's distances to all cells are computed once per goal and kept."""

    def __init__(self, world: TwoRooms, frameskip: int, features, n: int = 48, energy: str = "l1",
                 path_weight: float = 0.01, batch: int = 256):
        super().__init__(world, frameskip, "last", path_weight)
        self.n, self.kind = n, energy
        c = (np.arange(n) + 0.5) / n
        self.cells = np.stack(np.meshgrid(c, c), -1).reshape(-1, 2)  # row-major: index = iy · n + ix
        with torch.no_grad():
            self.table = torch.cat([features(np.stack([world.render_state(p) for p in self.cells[i:i + batch]]))
                                    .float().flatten(1) for i in range(0, len(self.cells), batch)])
        self._to_goal: dict[int, torch.Tensor] = {}

    def cell(self, positions: np.ndarray) -> torch.Tensor:
        ij = np.clip((np.asarray(positions) * self.n).astype(np.int64), 0, self.n - 1)
        return torch.as_tensor(ij[..., 1] * self.n + ij[..., 0])

    def distances_to(self, goal_cell: int) -> torch.Tensor:
        """[n²]: d(features of every cell, features of the goal's cell), mean |·| or squared L2."""
        if goal_cell not in self._to_goal:  # every cell as a one-step candidate: the planner's own distance
            self._to_goal[goal_cell] = latent_energy(self.table[None, :, None], self.table[goal_cell][None], self.kind,
                                                     torch.ones(1))[0]
        return self._to_goal[goal_cell]

    def energy(self, z_pred, z_goal):
        cells, goals = self.cell(z_pred.numpy()), self.cell(z_goal.numpy())  # [B, C, H], [B]
        per_step = torch.stack([self.distances_to(int(g))[c] for g, c in zip(goals, cells)])
        return (per_step * horizon_weights(z_pred.shape[2], "last", self.path_weight)).sum(-1)

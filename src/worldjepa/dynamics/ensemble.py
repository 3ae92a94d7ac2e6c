"""Several world models of one world planned as one (PETS's ensembles against model exploitation).

A planner that searches thousands of action sequences finds the ones its model scores too well: the
model's errors, not the world's shortcuts. Models trained apart (other seeds, data or lengths) err in
different places, so a plan that only one of them likes is suspect. The ensemble's energy of a plan is
the members' mean energy plus `disagreement` times their standard deviation: 0 averages the members,
more makes the planner pessimistic where they disagree.

Each member keeps its own latent space: the ensemble's latent of an observation is the members' latents
stacked on dimension 1 ([B, M, *L]), and each member scores its own rollout against its own goal latent.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .protocol import WorldModel


class EnsembleWorldModel:
    """A `WorldModel` over members with the same action space, observation size, proprio and latent shape."""

    def __init__(self, members: list[WorldModel], disagreement: float = 0.0):
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two world models, got {len(members)}")
        if disagreement < 0:
            raise ValueError(f"disagreement must be ≥ 0 (a weight on the members' spread), got {disagreement}")
        first = members[0]
        for i, m in enumerate(members[1:], 1):
            same = (torch.equal(m.action_low.cpu(), first.action_low.cpu())
                    and torch.equal(m.action_high.cpu(), first.action_high.cpu()) and m.frameskip == first.frameskip)
            if not same:
                raise ValueError(f"ensemble member {i} plans another action space (bounds or frame-skip) than member 0: "
                                 "members must come from runs on the same world with the same data.frameskip")
            if m.image_size != first.image_size:
                raise ValueError(f"ensemble member {i} reads {m.image_size}² images, member 0 {first.image_size}²")
            if m.proprio_dim != first.proprio_dim:
                raise ValueError(f"ensemble member {i} reads {m.proprio_dim} proprio values, member 0 "
                                 f"{first.proprio_dim}: train the members with the same model.use_proprio")
        self.members, self.disagreement = members, disagreement
        self.action_low, self.action_high = first.action_low, first.action_high
        self.action_dim, self.frameskip = first.action_dim, first.frameskip
        self.image_size, self.proprio_dim = first.image_size, first.proprio_dim

    def encode(self, obs) -> Tensor:
        latents = [m.encode(obs) for m in self.members]
        shapes = {tuple(z.shape) for z in latents}
        if len(shapes) > 1:
            raise ValueError(f"ensemble members have latents of different shapes {sorted(shapes)}; "
                             "use members of the same architecture")
        return torch.stack(latents, dim=1)

    def rollout(self, z0: Tensor, actions: Tensor, proprio0: Tensor | None = None) -> Tensor:
        """z0 [B, M, *L], actions [B, C, H, A] → [B, C, H, M, *L]."""
        return torch.stack([m.rollout(z0[:, i], actions, proprio0) for i, m in enumerate(self.members)], dim=3)

    def member_energies(self, z_pred: Tensor, z_goal: Tensor) -> Tensor:
        """[M, B, C]: each member's energy of its own rollout."""
        return torch.stack([m.energy(z_pred[:, :, :, i], z_goal[:, i]) for i, m in enumerate(self.members)])

    def energy(self, z_pred: Tensor, z_goal: Tensor) -> Tensor:
        e = self.member_energies(z_pred, z_goal)
        return e.mean(0) + self.disagreement * e.std(0)

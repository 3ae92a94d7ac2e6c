"""World-model training: teacher forcing plus an autoregressive rollout, for either predictor form.

For a window of frames o_1..o_T with action chunks a_1..a_{T-1} and proprio p_1..p_T:

    z_t    = encode(o_t)                                   (compact: trained; patch: frozen, LayerNorm'ed)
    ẑ^tf   = P(z_1..T-1, a_1..T-1, p_1..T-1)              teacher forcing: ẑ^tf_t predicts z_{t+1}
    L_tf   = D(ẑ^tf, z_2..T)
    ẑ^ro   = unroll(P, z_1, a_1..R, p_1)                   predictions fed back, R steps (dynamics/unroll.py)
    L_ro   = D(ẑ^ro, z_2..R+1)
    L      = L_tf + w_ro · L_ro + λ · mean_t SIGReg(z_t over the batch)       (SIGReg: compact form only)
             [+ μ · mean_t ‖W z_t + b − p_t‖²]        the proprio anchor (compact form, opt-in: `proprio_anchor`)

D is the mean squared (LeWM) or mean absolute (V-JEPA 2-AC) difference. With `token_weights=change`
(patch form; not in V-JEPA 2-AC) each target token's difference is weighted by how much that token
changes in the step, w_n = |z_{t+1,n} − z_{t,n}| / mean_n |z_{t+1,n} − z_{t,n}| (channel means): in a world
where the actions move one small thing, the unchanging background otherwise outweighs it. The compact form has no
stop-gradient on its targets (LeWM): SIGReg is what keeps the latents from collapsing. The rollout is
the planner's own (`unroll`, with the observed proprio held), so a model is trained on what it plans with.
The proprio anchor, a linear read-out of the agent's proprio from each latent trained with the rest, gives the
encoder a reason to keep the agent: without it an end-to-end encoder may keep only what stays put within a
window, for which copying the current latent is already a good prediction, and the actions then act on nothing.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import WMObjectiveConfig
from ..data.batches import Batch
from ..ssl.sigreg import sigreg
from ..train.monitors import spread
from ..train.objective import Losses
from .unroll import unroll


def latent_distance(pred: Tensor, target: Tensor, kind: str, weights: Tensor | None = None) -> Tensor:
    diff = pred.float() - target.float()
    d = diff.pow(2) if kind == "mse" else diff.abs()
    return d.mean() if weights is None else (d * weights).mean()


def change_weights(z: Tensor) -> Tensor:
    """[B, T, N, D] patch latents → [B, T-1, N, 1]: each token's mean |change| over the step, normalised to
    mean 1 over the frame's tokens (a step where nothing changes weighs nothing)."""
    change = (z[:, 1:] - z[:, :-1]).float().abs().mean(-1, keepdim=True)
    return change / (change.mean(-2, keepdim=True) + 1e-6)


class WorldModelObjective(nn.Module):
    def __init__(self, encoder: nn.Module, predictor: nn.Module, cfg: WMObjectiveConfig, frozen_encoder: bool,
                 use_proprio: bool = False, seed: int = 0, anchor: nn.Module | None = None):
        super().__init__()
        self.encoder, self.predictor, self.cfg = encoder, predictor, cfg
        self.frozen_encoder, self.use_proprio, self.seed = frozen_encoder, use_proprio, seed
        self.anchor = anchor  # latent → proprio read-out (the proprio anchor), or None
        if frozen_encoder:
            self.encoder.requires_grad_(False)

    def trainable(self) -> nn.Module:
        return self.predictor if self.frozen_encoder else self

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen_encoder:
            self.encoder.eval()
        return self

    def encode_frames(self, frames: Tensor) -> Tensor:
        """[B, T, 3, S, S] → [B, T, *latent]."""
        B, T = frames.shape[:2]
        flat = frames.flatten(0, 1)
        if self.frozen_encoder:
            with torch.no_grad():
                z = self.encoder(flat)
        else:
            z = self.encoder(flat)
        return z.unflatten(0, (B, T))

    def _inputs(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor | None]:
        if batch.video is None or batch.actions is None:
            raise ValueError("world-model batches need frames (video) and actions")
        return self.encode_frames(batch.video), batch.actions, batch.proprio if self.use_proprio else None

    def predict(self, z: Tensor, actions: Tensor, proprio: Tensor | None, rollout_steps: int) -> tuple[Tensor, Tensor]:
        """(teacher-forced predictions [B, T-1, *L], open-loop predictions [B, R, *L] from the first frame)
        for latents z [B, T, *L], actions [B, T-1, A] and proprio [B, T, P] | None."""
        teacher = self.predictor(z[:, :-1], actions, None if proprio is None else proprio[:, :-1])
        rolled = unroll(self.predictor, z[:, 0], actions[:, :rollout_steps], None if proprio is None else proprio[:, 0])
        return teacher, rolled

    def loss(self, batch: Batch, step: int) -> Losses:
        z, actions, proprio = self._inputs(batch)
        T, kind = z.shape[1], self.cfg.loss
        R = min(self.cfg.rollout_steps, T - 1) if self.cfg.rollout_weight > 0 else 0
        if R > 0:
            pred, rolled = self.predict(z, actions, proprio, R)
        else:
            pred = self.predictor(z[:, :-1], actions, None if proprio is None else proprio[:, :-1])
        w = change_weights(z) if self.cfg.token_weights == "change" else None
        l_tf = latent_distance(pred, z[:, 1:], kind, w)
        total, parts = l_tf, {"teacher_forcing": float(l_tf.detach())}
        if R > 0:
            l_ro = latent_distance(rolled, z[:, 1:R + 1], kind, None if w is None else w[:, :R])
            total = total + self.cfg.rollout_weight * l_ro
            parts["rollout"] = float(l_ro.detach())

        if not self.frozen_encoder and self.cfg.sigreg_weight > 0:
            flat = z.flatten(2)  # [B, T, K]
            reg = torch.stack([sigreg(flat[:, t], self.cfg.sigreg_slices, seed=self.seed * 1_000_003 + step * 31 + t)
                               for t in range(T)]).mean()
            total = total + self.cfg.sigreg_weight * reg
            parts["sigreg"] = float(reg.detach())
        if self.anchor is not None:
            if batch.proprio is None:
                raise ValueError("objective.proprio_anchor needs proprio in the episode store")
            read = self.anchor(z.flatten(2).float())
            l_p = (read - batch.proprio.float()).pow(2).mean()
            total = total + self.cfg.proprio_anchor * l_p
            parts["proprio_anchor"] = float(l_p.detach())
        with torch.no_grad():
            parts["latent_std"] = float(z.flatten(2).float().std(0).mean())
        return Losses(total, parts)

    @torch.no_grad()
    def monitors(self, batch: Batch, step: int) -> dict[str, float]:
        """Health numbers at a log step (train/monitors.py; read by `worldjepa doctor`): the spread of the
        frame latents; the next latent predicted by the model, by copying the current one and by the batch
        mean; how far predictions move when each sample gets another sample's actions, relative to how
        far the latent really moves in a step; the open-loop error at each rollout horizon."""
        z, actions, proprio = self._inputs(batch)
        z = z.float()
        kind, T = self.cfg.loss, z.shape[1]
        now, nxt = z[:, :-1], z[:, 1:]
        pred, rolled = self.predict(z, actions, proprio, T - 1)
        pred, rolled = pred.float(), rolled.float()
        health = {f"health/{k}": v for k, v in spread(z.flatten(0, 1).flatten(1)).items()}
        if self.frozen_encoder:  # training cannot collapse these latents: the doctor says so instead
            health["health/frozen"] = 1.0
        moved = float(latent_distance(now, nxt, kind))
        health.update({"health/predict": float(latent_distance(pred, nxt, kind)), "health/copy": moved,
                       "health/mean": float(latent_distance(nxt.mean(0, keepdim=True).expand_as(nxt), nxt, kind))})
        if z.shape[0] > 1:
            swapped = self.predictor(z[:, :-1], actions.roll(1, 0), None if proprio is None else proprio[:, :-1]).float()
            health["health/action_effect"] = float(latent_distance(pred, swapped, kind)) / max(moved, 1e-12)
        for n in range(1, T):  # open loop from the first frame: predictions fed back
            health[f"health/rollout_{n}"] = float(latent_distance(rolled[:, n - 1], z[:, n], kind))
        return health

    def after_step(self, step: int) -> dict[str, float]:
        return {}

"""World models behind one protocol, and how they are built, trained and loaded.

    encode(obs [B, S, S, 3] uint8 or [B, 3, S, S] normalised) -> z [B, *latent]
    rollout(z0 [B, *latent], actions [B, C, H, A]) -> ẑ [B, C, H, *latent]    (C candidate sequences)
    energy(ẑ [B, C, H, *latent], z_goal [B, *latent]) -> [B, C]

Solvers, the MPC loop and evaluations see only this protocol, so every world model (compact or patch
JEPA, or a baseline of another paradigm) plans with the same code.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import WorldModelConfig, check_world_model, from_dict, save_yaml, to_dict
from ..data.batches import to_tensor
from ..data.episodes import EpisodeBatches, EpisodeStore, StoreMeta
from ..nn.encoder import sized
from ..train.checkpoint import load_checkpoint, load_module
from ..train.trainer import CHECKPOINT, Trainer
from .compact import ActionPredictor, FrameEncoder
from .objective import WorldModelObjective
from .patch import PatchActionPredictor


class WorldModel(Protocol):
    action_dim: int
    action_low: Tensor
    action_high: Tensor

    def encode(self, obs: Tensor | np.ndarray) -> Tensor: ...

    def rollout(self, z0: Tensor, actions: Tensor) -> Tensor: ...

    def energy(self, z_pred: Tensor, z_goal: Tensor) -> Tensor: ...


def horizon_weights(horizon: int, kind: str, path_weight: float = 0.0) -> Tensor:
    """Per-step energy weights. "last": 1 on the final prediction and `path_weight` on the others (a small
    path weight breaks the tie between plans that all end at the goal in favour of getting there
    early, without making a detour around a wall look worse than waiting in front of it); "ramp":
    0.1 → 1 linearly (PLDM)."""
    if kind == "last":
        w = torch.full((horizon,), float(path_weight))
        w[-1] = 1.0
        return w
    return torch.linspace(0.1, 1.0, horizon)


def latent_energy(z_pred: Tensor, z_goal: Tensor, kind: str = "l2", weights: Tensor | None = None) -> Tensor:
    """[B, C, H, *L] against [B, *L] → [B, C]: Σ_h w_h · d(ẑ_h, z_goal), d = squared L2 or mean |·|."""
    B, C, H = z_pred.shape[:3]
    diff = (z_pred.float() - z_goal.float()[:, None, None]).flatten(3)
    per_step = diff.pow(2).sum(-1) if kind == "l2" else diff.abs().mean(-1)  # [B, C, H]
    w = horizon_weights(H, "last") if weights is None else weights
    return (per_step * w.to(per_step.device)).sum(-1)


class JEPAWorldModel:
    """An encoder and an action-conditioned predictor (either form) as a `WorldModel`."""

    def __init__(self, objective: WorldModelObjective, image_size: int, action_low, action_high,
                 energy: str = "l2", weights: str = "last", precision: str = "fp32", path_weight: float = 0.0,
                 frameskip: int = 1):
        self.objective = objective.eval()
        self.image_size = image_size
        self.action_low = torch.as_tensor(action_low, dtype=torch.float32)
        self.action_high = torch.as_tensor(action_high, dtype=torch.float32)
        self.action_dim = self.action_low.numel()
        self.energy_kind, self.weights_kind, self.precision = energy, weights, precision
        self.path_weight, self.frameskip = path_weight, frameskip  # primitive actions per planned step

    def _autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def _images(self, obs) -> Tensor:
        x = torch.as_tensor(np.asarray(obs)) if isinstance(obs, np.ndarray) else obs
        S = self.image_size
        if x.dtype == torch.uint8:  # [B, S, S, 3] pixels
            if x.dim() == 3:
                x = x[None]
            if x.dim() != 4 or tuple(x.shape[1:]) != (S, S, 3):
                raise ValueError(f"expected RGB images of shape [B, {S}, {S}, 3] (uint8), got {tuple(x.shape)}: "
                                 f"this world model was trained on {S}x{S} frames; resize the image first")
            return to_tensor(x.numpy())
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, S, S):
            raise ValueError(f"expected normalised images [B, 3, {S}, {S}], got {tuple(x.shape)}")
        return x

    @torch.no_grad()
    def encode(self, obs) -> Tensor:
        with self._autocast():
            return self.objective.encode_frames(self._images(obs)[:, None])[:, 0].float()

    def rollout(self, z0: Tensor, actions: Tensor, proprio0: Tensor | None = None) -> Tensor:
        """Autoregressive: each prediction is appended to the context of the next (differentiable in
        `actions`, for the gradient solver). A model that reads proprio gets `proprio0` [B, P] held
        fixed over the horizon (it predicts latents, not future proprio)."""
        if actions.dim() != 4 or actions.shape[-1] != self.action_dim:
            raise ValueError(f"actions must be [B, candidates, horizon, {self.action_dim}], got {tuple(actions.shape)}")
        B, C, H, A = actions.shape
        flat = actions.reshape(B * C, H, A)
        z = z0.repeat_interleave(C, dim=0)  # [B·C, *L]
        predictor = self.objective.predictor
        prop = None
        if self.objective.use_proprio:
            if proprio0 is None:
                raise ValueError("this world model reads proprio: pass proprio0 [B, P] to rollout")
            prop = proprio0.float().repeat_interleave(C, dim=0)[:, None].expand(-1, H, -1)
        with self._autocast():
            if hasattr(predictor, "rollout"):  # cached keys and values: H positions, not H(H+1)/2
                out = predictor.rollout(z, flat, prop)
            else:
                seq = z.unsqueeze(1)
                for h in range(H):
                    nxt = predictor(seq, flat[:, :h + 1], None if prop is None else prop[:, :h + 1])[:, -1:]
                    seq = torch.cat([seq, nxt.to(seq.dtype)], dim=1)
                out = seq[:, 1:]
        return out.float().unflatten(0, (B, C))

    def energy(self, z_pred: Tensor, z_goal: Tensor) -> Tensor:
        return latent_energy(z_pred, z_goal, self.energy_kind, horizon_weights(z_pred.shape[2], self.weights_kind,
                                                                                   self.path_weight))


# ----------------------------------------------------------------------------------------------
# Building from a config


class FrozenPatchEncoder(nn.Module):
    """A pretrained ViT's patch features, LayerNorm'ed (V-JEPA 2-AC `normalize_reps`)."""

    def __init__(self, vit: nn.Module):
        super().__init__()
        self.vit = vit

    def forward(self, images: Tensor) -> Tensor:
        z = self.vit(images)
        return F.layer_norm(z, z.shape[-1:])


def build_objective(cfg: WorldModelConfig, meta: StoreMeta) -> WorldModelObjective:
    torch.manual_seed(cfg.train.seed)
    m = cfg.model
    if meta.image_size != cfg.image_size:
        raise ValueError(f"the episode store has {meta.image_size}x{meta.image_size} frames but the config says "
                         f"image_size={cfg.image_size}: set image_size={meta.image_size}")
    action_dim = meta.action_dim * cfg.data.frameskip
    proprio_dim = meta.proprio_dim if m.use_proprio else 0
    if m.form == "compact":
        encoder = FrameEncoder(sized(m.encoder, m.depth, m.width, m.heads), m.patch_size, cfg.image_size, m.token_dim, m.projector_hidden, m.latent_dim)
        predictor = ActionPredictor(m.latent_dim, action_dim, m.predictor_width, m.predictor_depth, m.predictor_heads,
                                    proprio_dim)
        return WorldModelObjective(encoder, predictor, cfg.objective, False, m.use_proprio, cfg.train.seed)
    from ..pretrain import load_pretrained

    vit, pre = load_pretrained(m.encoder_run)
    side = cfg.image_size // pre.model.patch_size
    predictor = PatchActionPredictor(vit.dim, (side, side), action_dim, m.predictor_width, m.predictor_depth,
                                     m.predictor_heads, proprio_dim)
    return WorldModelObjective(FrozenPatchEncoder(vit), predictor, cfg.objective, True, m.use_proprio, cfg.train.seed)


def train_world_model(cfg: WorldModelConfig, data: str | Path, out: str | Path, resume: bool = True,
                      progress: bool = True, until: int | None = None, init: str | Path | None = None
                      ) -> dict[str, Any]:
    """Train the world model of `cfg` on the episode store `data` into run folder `out`; `init`, a
    `train-wm` run of the same architecture, gives the starting weights (fine-tuning: the optimiser and
    schedule start afresh; a checkpoint already in `out` is resumed instead)."""
    cfg.data.path = str(data)
    check_world_model(cfg)
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    store = EpisodeStore(data, limit=cfg.data.limit or None)
    source = EpisodeBatches(store, cfg.data.window, cfg.data.frameskip, cfg.data.batch_size, seed=cfg.train.seed)
    objective = build_objective(cfg, store.meta)
    if init is not None:
        init_weights(objective, init)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_yaml(cfg, out / "config.yaml")
    config = {**to_dict(cfg), "store": store.meta.to_json(), **({"init": str(init)} if init is not None else {})}
    trainer = Trainer(objective, source, cfg.optim, cfg.train, out, config=config, progress=progress,
                      workers=cfg.data.workers)
    result = trainer.fit(resume=resume, until=until)
    return {**result, "episodes": len(store), "skipped_episodes": len(store.skipped)}


def _checkpoint_path(run_dir: str | Path) -> Path:
    path = Path(run_dir)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"no world-model checkpoint at {path} (train one with `worldjepa train-wm`)")
    return path


def init_weights(objective: WorldModelObjective, run_dir: str | Path) -> None:
    """Load a world-model run's weights into `objective`; a different architecture is an error that lists
    the mismatched tensors."""
    tensors, meta = load_checkpoint(_checkpoint_path(run_dir))
    if "store" not in meta.get("config", {}):
        raise ValueError(f"--init {run_dir} is not a world-model run (no episode-store metadata)")
    try:
        load_module(objective, tensors, "objective")
    except (RuntimeError, KeyError, ValueError) as err:
        raise ValueError(f"--init {run_dir} has another architecture than this config: {err}") from None


def load_world_model(run_dir: str | Path, plan_overrides: dict[str, Any] | None = None
                     ) -> tuple[JEPAWorldModel, WorldModelConfig, StoreMeta]:
    """The trained world model of a `train-wm` run folder, ready to plan with the run's `plan` section
    changed by `plan_overrides` ({field: value}): the energy, its weights and the precision are the
    model's, so overrides must reach it here, and are checked against the config's rules."""
    path = _checkpoint_path(run_dir)
    tensors, meta = load_checkpoint(path)
    config = dict(meta.get("config", {}))
    config.pop("init", None)
    store_meta = config.pop("store", None)
    if store_meta is None:
        raise ValueError(f"{path} is not a world-model run (no episode-store metadata); is it a pretraining run?")
    cfg = from_dict(WorldModelConfig, config)
    cfg = check_world_model(dataclasses.replace(cfg, plan=dataclasses.replace(cfg.plan, **(plan_overrides or {}))))
    smeta = StoreMeta.from_json(store_meta)
    objective = build_objective(cfg, smeta)
    load_module(objective, tensors, "objective")
    low = np.tile(smeta.action_low, cfg.data.frameskip)
    high = np.tile(smeta.action_high, cfg.data.frameskip)
    model = JEPAWorldModel(objective, cfg.image_size, low, high, cfg.plan.energy, cfg.plan.weights,
                           cfg.plan.precision, cfg.plan.path_weight, cfg.data.frameskip)
    return model, cfg, smeta

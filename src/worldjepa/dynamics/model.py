"""JEPA world models: an encoder and an action-conditioned predictor (compact or patch form) behind the
`WorldModel` protocol (dynamics/protocol.py), and how they are built from a config, trained and loaded.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import WorldModelConfig, check_world_model, from_dict, save_yaml, to_dict
from ..data.batches import to_tensor
from ..data.episodes import EpisodeBatches, EpisodeStore, StoreMeta
from ..device import autocast, resolve_device
from ..train.checkpoint import checkpoint_path, load_checkpoint, load_module, require_kind
from ..train.trainer import Trainer
from .autoregressive import AutoregressivePredictor
from .compact import ActionPredictor, FrameEncoder
from .diffusion import DiffusionPredictor
from .energy import horizon_weights, latent_energy
from .generative import GenerativeObjective
from .objective import WorldModelObjective
from .patch import PatchActionPredictor
from .unroll import unroll


class JEPAWorldModel:
    """An encoder and an action-conditioned predictor (either form) as a `WorldModel`, on one device."""

    def __init__(self, objective: WorldModelObjective, image_size: int, action_low, action_high,
                 energy: str = "l2", weights: str = "last", precision: str = "fp32", path_weight: float = 0.0,
                 frameskip: int = 1, device: str | torch.device | None = "cpu"):
        self.device = resolve_device(device)
        self.objective = objective.eval().to(self.device)
        self.image_size = image_size
        self.action_low = torch.as_tensor(action_low, dtype=torch.float32, device=self.device)
        self.action_high = torch.as_tensor(action_high, dtype=torch.float32, device=self.device)
        self.action_dim = self.action_low.numel()
        self.proprio_dim = objective.predictor.proprio_dim
        self.energy_kind, self.weights_kind, self.precision = energy, weights, precision
        self.path_weight, self.frameskip = path_weight, frameskip  # primitive actions per planned step

    def _images(self, obs) -> Tensor:
        x = torch.as_tensor(np.asarray(obs)) if isinstance(obs, np.ndarray) else obs
        S = self.image_size
        if x.dtype == torch.uint8:  # [B, S, S, 3] pixels
            if x.dim() == 3:
                x = x[None]
            if x.dim() != 4 or tuple(x.shape[1:]) != (S, S, 3):
                raise ValueError(f"expected RGB images of shape [B, {S}, {S}, 3] (uint8), got {tuple(x.shape)}: "
                                 f"this world model was trained on {S}x{S} frames; resize the image first")
            return to_tensor(x.cpu().numpy()).to(self.device)
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, S, S):
            raise ValueError(f"expected normalised images [B, 3, {S}, {S}], got {tuple(x.shape)}")
        return x.to(self.device)

    @torch.no_grad()
    def encode(self, obs) -> Tensor:
        with autocast(self.device, self.precision):
            return self.objective.encode_frames(self._images(obs)[:, None])[:, 0].float()

    def rollout(self, z0: Tensor, actions: Tensor, proprio0: Tensor | None = None) -> Tensor:
        """`unroll` for every candidate (differentiable in `actions`, for the gradient solver)."""
        if actions.dim() != 4 or actions.shape[-1] != self.action_dim:
            raise ValueError(f"actions must be [B, candidates, horizon, {self.action_dim}], got {tuple(actions.shape)}")
        B, C, H, A = actions.shape
        z = z0.to(self.device).repeat_interleave(C, dim=0)  # [B·C, *L]
        p = None if proprio0 is None else proprio0.to(self.device).float().repeat_interleave(C, dim=0)
        with autocast(self.device, self.precision):
            out = unroll(self.objective.predictor, z, actions.to(self.device).reshape(B * C, H, A), p)
        return out.float().unflatten(0, (B, C))

    def energy(self, z_pred: Tensor, z_goal: Tensor) -> Tensor:
        return latent_energy(z_pred, z_goal, self.energy_kind, horizon_weights(z_pred.shape[2], self.weights_kind,
                                                                                   self.path_weight))


# ----------------------------------------------------------------------------------------------
# Building from a config


class FrozenPatchEncoder(nn.Module):
    """A pretrained ViT's patch features of single frames, LayerNorm'ed (V-JEPA 2-AC `normalize_reps`).
    As in the official V-JEPA 2-AC, a frame goes through the **video** tokenizer as a clip of `tubelet`
    copies of itself (one tubelet): the video tokenizer is the one every pretraining run trains."""

    def __init__(self, vit: nn.Module):
        super().__init__()
        self.vit = vit

    def forward(self, images: Tensor) -> Tensor:
        """[B, 3, S, S] → [B, N, D]."""
        clip = images[:, None].expand(-1, self.vit.tubelet_size, -1, -1, -1)
        z = self.vit(clip)
        return F.layer_norm(z, z.shape[-1:])


def build_objective(cfg: WorldModelConfig, meta: StoreMeta) -> WorldModelObjective:
    torch.manual_seed(cfg.train.seed)
    m = cfg.model
    if meta.image_size != cfg.image_size:
        raise ValueError(f"the episode store has {meta.image_size}x{meta.image_size} frames but the config says "
                         f"image_size={cfg.image_size}: set image_size={meta.image_size}")
    action_dim = meta.action_dim * cfg.data.frameskip
    proprio_dim = meta.proprio_dim if m.use_proprio else 0
    if cfg.objective.proprio_anchor > 0 and m.form != "compact":
        raise ValueError(f"objective.proprio_anchor shapes the compact form's trained encoder; the {m.form} form has "
                         "none to shape (the patch form's encoder is frozen, the baselines generate frames): set "
                         "objective.proprio_anchor=0 or model.form=compact")
    if m.form in ("autoregressive", "diffusion"):
        if m.use_proprio:
            raise ValueError(f"the {m.form} baseline reads no proprio: set model.use_proprio=false")
        if m.form == "autoregressive":
            predictor = AutoregressivePredictor(cfg.image_size, action_dim, m.codes, m.predictor_width, m.predictor_depth,
                                                m.predictor_heads, context=cfg.data.window,
                                                tokenizer={"channels": tuple(m.tokenizer_channels)}, seed=cfg.train.seed,
                                                tokenizer_steps=int(m.tokenizer_share * cfg.train.steps))
        else:
            predictor = DiffusionPredictor(cfg.image_size, action_dim, tuple(m.unet_channels), m.context_frames,
                                           emb=4 * m.unet_channels[0], sampling_steps=m.sampling_steps,
                                           seed=cfg.train.seed)
        return GenerativeObjective(predictor, cfg.objective, cfg.train.seed)
    if m.form == "compact":
        encoder = FrameEncoder(m.size(), m.patch_size, cfg.image_size, m.token_dim, m.projector_hidden, m.latent_dim,
                               m.pool)
        predictor = ActionPredictor(m.latent_dim, action_dim, m.predictor_width, m.predictor_depth, m.predictor_heads,
                                    proprio_dim, m.predictor_head_dim, m.predictor_mlp, m.predictor_projector)
        anchor = None
        if cfg.objective.proprio_anchor > 0:
            if not meta.proprio_dim:
                raise ValueError("objective.proprio_anchor needs proprio in the episode store, and this one has none "
                                 "(proprio_dim 0): set objective.proprio_anchor=0")
            anchor = nn.Linear(m.latent_dim, meta.proprio_dim)
        return WorldModelObjective(encoder, predictor, cfg.objective, False, m.use_proprio, cfg.train.seed, anchor)
    from ..pretrain import load_pretrained

    vit, pre = load_pretrained(m.encoder_run)
    side = cfg.image_size // pre.model.patch_size
    predictor = PatchActionPredictor(vit.dim, (side, side), action_dim, m.predictor_width, m.predictor_depth,
                                     m.predictor_heads, proprio_dim, m.predictor_head_dim, m.predictor_mlp,
                                     m.predict_change, tiled_rope=m.tiled_rope,
                                     norm_eps=m.predictor_norm_eps)
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
    store = EpisodeStore(data, limit=cfg.data.limit or None, image_size=cfg.image_size)
    source = EpisodeBatches(store, cfg.data.window, cfg.data.frameskip, cfg.data.batch_size, seed=cfg.train.seed)
    objective = build_objective(cfg, store.meta)
    if init is not None:
        init_weights(objective, init)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_yaml(cfg, out / "config.yaml")
    config = {**to_dict(cfg), "store": store.meta.to_json(), **({"init": str(init)} if init is not None else {})}
    trainer = Trainer(objective, source, cfg.optim, cfg.train, out, kind="world-model", config=config,
                      progress=progress, workers=cfg.data.workers)
    result = trainer.fit(resume=resume, until=until)
    return {**result, "episodes": len(store), "skipped_episodes": len(store.skipped)}


def init_weights(objective: WorldModelObjective, run_dir: str | Path) -> None:
    """Load a world-model run's weights into `objective`; a different architecture is an error that lists
    the mismatched tensors."""
    path = checkpoint_path(run_dir)
    tensors, meta = load_checkpoint(path)
    require_kind(meta, "world-model", path)
    try:
        load_module(objective, tensors, "objective")
    except (RuntimeError, KeyError, ValueError) as err:
        raise ValueError(f"--init {run_dir} has another architecture than this config: {err}") from None


def load_world_model(run_dir: str | Path, plan_overrides: dict[str, Any] | None = None,
                     device: str | torch.device | None = None) -> tuple[JEPAWorldModel, WorldModelConfig, StoreMeta]:
    """The trained world model of a `train-wm` run folder, ready to plan with the run's `plan` section
    changed by `plan_overrides` ({field: value}): the energy, its weights and the precision are the
    model's, so overrides must reach it here, and are checked against the config's rules. `device`:
    where it plans (default: the run's train.device, "auto" unless set)."""
    path = checkpoint_path(run_dir)
    tensors, meta = load_checkpoint(path)
    require_kind(meta, "world-model", path)
    config = dict(meta["config"])
    config.pop("init", None)
    config.pop("source", None)  # where converted weights came from (interop/runs.py)
    store_meta = config.pop("store")
    cfg = from_dict(WorldModelConfig, config)
    cfg = check_world_model(dataclasses.replace(cfg, plan=dataclasses.replace(cfg.plan, **(plan_overrides or {}))))
    smeta = StoreMeta.from_json(store_meta)
    objective = build_objective(cfg, smeta)
    load_module(objective, tensors, "objective")
    low = np.tile(smeta.action_low, cfg.data.frameskip)
    high = np.tile(smeta.action_high, cfg.data.frameskip)
    model = JEPAWorldModel(objective, cfg.image_size, low, high, cfg.plan.energy, cfg.plan.weights,
                           cfg.plan.precision, cfg.plan.path_weight, cfg.data.frameskip,
                           device=device or cfg.train.device)
    return model, cfg, smeta

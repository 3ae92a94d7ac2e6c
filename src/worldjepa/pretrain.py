"""Self-supervised pretraining from a config: build the pieces, hand them to the trainer.

    cfg ─► data source (world, folder or episode store) ─┐
    cfg ─► encoder + predictor ─► objective (masked latent prediction) ─► Trainer ─► run folder

A run folder holds `config.yaml` (the resolved config), `checkpoint.safetensors` (weights, teacher,
optimizer, trainer state; resumable), and `log.jsonl`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .config import PretrainConfig, from_dict, resolve, save_yaml, to_dict
from .data.batches import MediaSource
from .data.episodes import EpisodeClips
from .data.folder import FolderBatches
from .nn.encoder import Encoder
from .nn.predictor import MaskedPredictor
from .ssl.objective import MaskedLatentPrediction
from .train.checkpoint import checkpoint_path, load_checkpoint, load_module, require_kind
from .train.trainer import Trainer
from .worlds.batches import WorldBatches


def build_encoder(cfg: PretrainConfig) -> Encoder:
    m = cfg.model
    return Encoder(m.size(), m.patch_size, m.tubelet_size, separate_tokenizers=m.separate_tokenizers,
                   levels=m.levels, rope_grid=m.rope_grid, position=m.position)


def token_grids(cfg: PretrainConfig) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(clip grid, image grid) in tokens."""
    side = cfg.data.image_size // cfg.model.patch_size
    return (cfg.data.frames // cfg.model.tubelet_size, side, side), (1, side, side)


def build_objective(cfg: PretrainConfig) -> MaskedLatentPrediction:
    torch.manual_seed(cfg.train.seed)
    encoder = build_encoder(cfg)
    m = cfg.model
    predictor = MaskedPredictor(encoder.dim, m.levels, m.predictor_width, m.predictor_depth, m.predictor_heads,
                                num_mask_types=max(1, len(cfg.objective.masks), len(cfg.objective.image_masks)),
                                head_dim=m.predictor_head_dim, mlp_hidden=m.predictor_mlp, position=m.position)
    video_grid, image_grid = token_grids(cfg)
    return MaskedLatentPrediction(encoder, predictor, cfg.objective, video_grid, image_grid, cfg.train.steps,
                                  seed=cfg.train.seed)


def build_source(cfg: PretrainConfig) -> MediaSource:
    if cfg.data.source == "world":
        return WorldBatches(cfg.data, seed=cfg.train.seed)
    if cfg.data.source == "episodes":
        return EpisodeClips(cfg.data, seed=cfg.train.seed)
    return FolderBatches(cfg.data, seed=cfg.train.seed)


def pretrain(cfg: PretrainConfig, out: str | Path, resume: bool = True, progress: bool = True,
             until: int | None = None) -> dict[str, Any]:
    """Train `cfg` into run folder `out` (resuming from its checkpoint if there is one); `until` stops
    early after that step with a checkpoint, as an interruption would."""
    cfg = resolve(cfg)
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    source = build_source(cfg)  # fails early on an empty or missing data folder
    objective = build_objective(cfg)
    save_yaml(cfg, out / "config.yaml")
    # what the batches hold, so that loaders know whether the image tokenizer was ever trained
    trained_on = {"clips": source.num_videos > 0, "images": source.num_images > 0}
    trainer = Trainer(objective, source, cfg.optim, cfg.train, out, kind="pretrain",
                      config={**to_dict(cfg), "trained_on": trained_on}, progress=progress, workers=cfg.data.workers)
    return trainer.fit(resume=resume, until=until)


def load_pretrained(run_dir: str | Path, which: str = "features") -> tuple[Encoder, PretrainConfig]:
    """The encoder of a run folder (or checkpoint file), on the CPU. `which`: "features" (the EMA teacher
    when the run has one, the encoder otherwise) or "student"."""
    tensors, cfg, images_trained = _read_run(run_dir)
    encoder = build_encoder(cfg)
    has_teacher = any(k.startswith("objective.teacher.") for k in tensors)
    prefix = "objective.teacher.module" if which == "features" and has_teacher else "objective.encoder"
    load_module(encoder, tensors, prefix)
    encoder.images_trained = images_trained
    return encoder.eval(), cfg


def load_objective(run_dir: str | Path) -> tuple[MaskedLatentPrediction, PretrainConfig]:
    """The whole pretraining objective of a run (encoder, predictor and teacher) with its weights, for
    evaluations that use the predictor (intuitive-physics surprise)."""
    tensors, cfg, images_trained = _read_run(run_dir)
    objective = build_objective(cfg)
    load_module(objective, tensors, "objective")
    objective.encoder.images_trained = images_trained
    return objective.eval(), cfg


def _read_run(run_dir: str | Path) -> tuple[dict[str, torch.Tensor], PretrainConfig, bool]:
    """(tensors, resolved config, whether the image tokenizer was trained) of a pretraining run."""
    path = checkpoint_path(run_dir)
    tensors, meta = load_checkpoint(path)
    require_kind(meta, "pretrain", path)
    config = dict(meta["config"])
    trained_on = config.pop("trained_on", None)
    if "position" not in config.get("model", {}):  # written before I-JEPA's sin-cos form existed: every run was RoPE
        config["model"] = {**config.get("model", {}), "position": "rope"}
    cfg = resolve(from_dict(PretrainConfig, config))
    # runs written before `trained_on` was recorded: a still image was in the batches iff image_fraction > 0
    images = trained_on["images"] if trained_on is not None else cfg.data.image_fraction > 0
    return tensors, cfg, images or not cfg.model.separate_tokenizers  # a shared tokenizer learns from clips

"""Self-supervised pretraining from a config: build the pieces, hand them to the trainer.

    cfg ─► data source (world, folder or episode store) ─┐
    cfg ─► encoder + predictor ─► objective (masked latent prediction) ─► Trainer ─► run folder

A run folder holds `config.yaml` (the resolved config), `checkpoint.safetensors` (weights, teacher,
optimizer, trainer state; resumable), and `log.jsonl`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from .config import PretrainConfig, from_dict, resolve, save_yaml, to_dict
from .data.batches import MediaSource
from .data.episodes import EpisodeClips
from .data.folder import FolderBatches
from .data.shards import ShardBatches, cached_shards
from .data.stream import StreamBatches
from .nn.encoder import Encoder
from .nn.predictor import MaskedPredictor
from .ssl.objective import MaskedLatentPrediction
from .train.checkpoint import checkpoint_path, load_checkpoint, load_module, require_kind
from .train.trainer import Trainer
from .worlds.batches import WorldBatches


def build_encoder(cfg: PretrainConfig) -> Encoder:
    m = cfg.model
    return Encoder(m.size(), m.patch_size, m.tubelet_size, separate_tokenizers=m.separate_tokenizers,
                   levels=m.levels, rope_grid=m.rope_grid, position=m.position, norm_eps=m.norm_eps, tiled_rope=m.tiled_rope,
                   taps=m.taps)


def token_grids(cfg: PretrainConfig) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(clip grid, image grid) in tokens."""
    side = cfg.data.image_size // cfg.model.patch_size
    return (cfg.data.frames // cfg.model.tubelet_size, side, side), (1, side, side)


def build_objective(cfg: PretrainConfig) -> MaskedLatentPrediction:
    torch.manual_seed(cfg.train.seed)
    encoder = build_encoder(cfg)
    m = cfg.model
    predictor = MaskedPredictor(encoder.dim, m.levels, m.predictor_width, m.predictor_depth, m.predictor_heads,
                                num_mask_types=mask_tokens(cfg),
                                head_dim=m.predictor_head_dim, mlp_hidden=m.predictor_mlp, position=m.position,
                                tiled_rope=m.tiled_rope, norm_eps=m.predictor_norm_eps)
    video_grid, image_grid = token_grids(cfg)
    return MaskedLatentPrediction(encoder, predictor, cfg.objective, video_grid, image_grid, cfg.train.steps,
                                  seed=cfg.train.seed)


def mask_tokens(cfg: PretrainConfig) -> int:
    """The predictor's learned mask tokens: one per mask type, or the config's count (a released predictor's)."""
    o = cfg.objective
    needed = 1 if o.masking == "ijepa" else max(1, len(o.masks), len(o.image_masks))  # I-JEPA: one mask token
    given = cfg.model.predictor_mask_tokens
    if given is not None and given < needed:
        raise ValueError(f"model.predictor_mask_tokens={given} is fewer than the {needed} mask types of "
                         f"objective.masks / objective.image_masks: raise it or leave it unset")
    return given or needed


def build_source(cfg: PretrainConfig) -> MediaSource:
    if cfg.data.source == "world":
        return WorldBatches(cfg.data, seed=cfg.train.seed)
    if cfg.data.source == "episodes":
        return EpisodeClips(cfg.data, seed=cfg.train.seed)
    if cfg.data.source == "shards":
        return ShardBatches(cfg.data, seed=cfg.train.seed)
    if cfg.data.source == "stream":
        return StreamBatches(cfg.data, seed=cfg.train.seed, accumulate=cfg.train.accumulate)
    if cfg.data.cache:  # decoded once, then read as shards
        return ShardBatches(cached_shards(cfg.data), seed=cfg.train.seed)
    return FolderBatches(cfg.data, seed=cfg.train.seed)


def pretrain(cfg: PretrainConfig, out: str | Path, resume: bool = True, progress: bool = True,
             until: int | None = None, init: str | Path | None = None) -> dict[str, Any]:
    """Train `cfg` into run folder `out` (resuming from its checkpoint if there is one); `until` stops
    early after that step with a checkpoint, as an interruption would; `init`, a pretraining run of the same
    architecture (one `worldjepa convert` wrote, say), gives the starting weights (fine-tuning: the optimiser
    and schedule start afresh; a checkpoint already in `out` is resumed instead)."""
    cfg = resolve(cfg)
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    source = build_source(cfg)  # fails early on an empty or missing data folder
    objective = build_objective(cfg)
    if init is not None:
        init_objective(objective, init)
    save_yaml(cfg, out / "config.yaml")
    # what the batches hold, so that loaders know whether the image tokenizer was ever trained
    trained_on = {"clips": source.num_videos > 0, "images": source.num_images > 0}
    config = {**to_dict(cfg), "trained_on": trained_on, **({"init": str(init)} if init is not None else {})}
    trainer = Trainer(objective, source, cfg.optim, cfg.train, out, kind="pretrain", config=config,
                      progress=progress, workers=cfg.data.workers, split_ranks=cfg.data.split_ranks)
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
    if not any(k.startswith("objective.predictor.") for k in tensors):
        raise ValueError(f"{run_dir} holds an encoder without a predictor (converted from weights released without "
                         "one worldjepa reads); the predictor's tasks need a run that has one")
    objective = build_objective(cfg)
    _load_weights(objective, tensors)
    objective.encoder.images_trained = images_trained
    return objective.eval(), cfg


def init_objective(objective: MaskedLatentPrediction, run_dir: str | Path) -> None:
    """Start `objective` from a pretraining run's weights (`pretrain --init`); a run without a predictor (an
    encoder `worldjepa convert` wrote) leaves the predictor as initialised, and says so."""
    tensors, _, _ = _read_run(run_dir)
    if not any(k.startswith("objective.predictor.") for k in tensors):
        warnings.warn(f"--init {run_dir} holds no predictor: the predictor starts from random weights", stacklevel=2)
    try:
        _load_weights(objective, tensors)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"--init {run_dir} has another architecture than this config (pass its config.yaml as "
                         f"--config): {err}") from None


def _load_weights(objective: MaskedLatentPrediction, tensors: dict[str, torch.Tensor]) -> None:
    """Encoder, predictor (when the run has one) and teacher (the encoder's weights when the run has none: a
    converted run holds the released features once)."""
    load_module(objective.encoder, tensors, "objective.encoder")
    if any(k.startswith("objective.predictor.") for k in tensors):
        load_module(objective.predictor, tensors, "objective.predictor")
    if objective.teacher is not None:
        has_teacher = any(k.startswith("objective.teacher.") for k in tensors)
        load_module(objective.teacher.module, tensors,
                    "objective.teacher.module" if has_teacher else "objective.encoder")


def _read_run(run_dir: str | Path) -> tuple[dict[str, torch.Tensor], PretrainConfig, bool]:
    """(tensors, resolved config, whether the image tokenizer was trained) of a pretraining run."""
    path = checkpoint_path(run_dir)
    tensors, meta = load_checkpoint(path)
    require_kind(meta, "pretrain", path)
    config = dict(meta["config"])
    trained_on = config.pop("trained_on", None)
    config.pop("init", None)
    config.pop("source", None)  # where converted weights came from (interop/runs.py)
    if "position" not in config.get("model", {}):  # written before I-JEPA's sin-cos form existed: every run was RoPE
        config["model"] = {**config.get("model", {}), "position": "rope"}
    cfg = resolve(from_dict(PretrainConfig, config))
    # runs written before `trained_on` was recorded: a still image was in the batches iff image_fraction > 0
    images = trained_on["images"] if trained_on is not None else cfg.data.image_fraction > 0
    return tensors, cfg, images or not cfg.model.separate_tokenizers  # a shared tokenizer learns from clips

"""Typed run configuration.

A run is described by one `PretrainConfig` made of small dataclass sections. Configs come from a
named preset (``src/worldjepa/configs/NAME.yaml``) or a YAML path, then ``section.key=value``
overrides. Every key is checked against the dataclasses: an unknown or misspelt key is an error that
names the closest valid key, and a value of the wrong type is an error that names the expected type.
Nothing in a config is executed (YAML is read with ``safe_load``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PRESET_DIR = Path(__file__).parent / "configs"


class ConfigError(ValueError):
    """A configuration that cannot be used; the message says what to change."""


# ----------------------------------------------------------------------------------------------
# Sections


@dataclass
class WorldConfig:
    """The built-in bouncing-balls physics world (see worlds/balls.py)."""

    num_balls: int = 3
    radius: tuple[float, float] = (0.09, 0.13)  # world radius range, in units of the box width
    depths: tuple[float, ...] = (1.0, 1.4, 1.9)  # depth layers; apparent size scales with 1/depth
    gravity: float = 1.5  # box widths per second squared, downwards
    speed: tuple[float, float] = (0.6, 1.4)  # initial speed range, box widths per second
    fps: float = 12.0
    substeps: int = 4  # physics steps per frame
    occluder: float = 0.0  # probability that a clip has a vertical occluder bar in front
    occluder_width: float = 0.16  # box widths; 0.3 hides any ball completely (object permanence)
    background: tuple[int, int, int] = (40, 40, 48)


@dataclass
class DataConfig:
    source: str = "world"  # "world": clips generated on the fly; "folder": images/videos under `path`
    path: str = ""
    image_size: int = 64
    frames: int = 8  # frames per clip
    frame_step: int = 1  # stride between sampled frames when reading videos
    batch_size: int = 16
    image_fraction: float = 0.0  # share of the loss from still images (V-JEPA 2.1 mixed batches)
    workers: int = 0  # background data-loading processes (0: load in the training process)
    world: WorldConfig = field(default_factory=WorldConfig)


@dataclass
class ModelConfig:
    encoder: str = "tiny-cpu"  # size preset, see nn/encoder.py SIZES
    depth: int | None = None  # overrides of the preset's depth / width / heads (None: the preset's)
    width: int | None = None
    heads: int | None = None
    patch_size: int = 8
    tubelet_size: int = 2
    predictor_depth: int = 4
    predictor_width: int = 192
    predictor_heads: int = 3
    levels: int | None = None  # encoder levels fed to and predicted by the predictor; None: from recipe
    separate_tokenizers: bool | None = None  # image and video tokenizers (2.1); None: from recipe


@dataclass
class MaskConfig:
    """One multi-block mask: the union of `num_blocks` blocks of the given relative size."""

    num_blocks: int = 8
    spatial_scale: tuple[float, float] = (0.15, 0.15)
    temporal_scale: tuple[float, float] = (1.0, 1.0)
    aspect_ratio: tuple[float, float] = (0.75, 1.5)
    causal: bool = False  # blocks end at the last time step: predict the future from the past (V-JEPA's causal masks)


def _vjepa_masks() -> list[MaskConfig]:
    return [MaskConfig(8, (0.15, 0.15)), MaskConfig(2, (0.7, 0.7))]


@dataclass
class ObjectiveConfig:
    recipe: str = "vjepa2.1"  # "vjepa2.1" | "vjepa2" | "ijepa": fills every switch left at None
    regularizer: str = "ema"  # "ema" (teacher + stop-grad) or "sigreg" (no teacher, LeJEPA)
    context_loss: bool | None = None  # 2.1 dense loss on visible tokens
    masking: str | None = None  # "multiblock3d" (V-JEPA) or "ijepa" (2D context + 4 target blocks)
    loss: str | None = None  # "l1" or "smooth_l1" (I-JEPA code)
    lambda_video: float = 0.5
    lambda_image: float = 0.7
    lambda_warmup: tuple[int, int] = (-1, -1)  # steps where λ ramps 0 → λ; -1: 5% → 10% of the run
    masks: list[MaskConfig] = field(default_factory=_vjepa_masks)
    min_context: int = 4  # masks leaving fewer visible tokens are resampled
    ema: tuple[float, float] = (0.99925, 0.99925)  # teacher momentum at start and end of the run
    sigreg_weight: float = 0.05
    sigreg_slices: int = 256


@dataclass
class OptimConfig:
    lr: float = 5e-4
    min_lr: float = 1e-6
    warmup_steps: int = 50
    schedule: str = "cosine"  # "cosine" or "constant" after warm-up
    start_lr: float = 1e-5
    weight_decay: tuple[float, float] = (0.04, 0.04)  # start, end (cosine between)
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 10.0  # max global grad norm; 0 disables


@dataclass
class TrainConfig:
    steps: int = 1000
    seed: int = 0
    precision: str = "bf16"  # "fp32" or "bf16" (autocast)
    accumulate: int = 1  # micro-batches per optimizer step
    log_every: int = 10
    checkpoint_every: int = 200
    spike_factor: float = 10.0  # skip a step whose loss exceeds this × the recent median; 0 disables
    max_skips: int = 20  # consecutive skipped steps before the run stops with a diagnosis
    tensorboard: bool = False
    threads: int = 0  # torch threads; 0 keeps torch's default
    device: str = "auto"  # "auto" (the best available: cuda, mps, cpu), "cpu", "cuda" or "mps"; --device


@dataclass
class PretrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# ----------------------------------------------------------------------------------------------
# World models: action-conditioned predictors trained on an episode store, then planning.


@dataclass
class EpisodeDataConfig:
    path: str = ""  # episode store folder (`worldjepa collect` writes one); --data on the command line
    window: int = 4  # frames per training window: 1 context frame, then window-1 predicted
    frameskip: int = 5  # primitive steps per model step; one model action = frameskip actions concatenated
    batch_size: int = 64
    limit: int = 0  # use only the first N episodes; 0: all
    workers: int = 0


@dataclass
class DynamicsConfig:
    form: str = "compact"  # "compact": one latent per frame, AdaLN-zero (LeWM); "patch": V-JEPA 2-AC tokens
    encoder: str = "tiny-cpu"  # ViT size preset of the compact form's encoder (trained end to end)
    depth: int | None = None
    width: int | None = None
    heads: int | None = None
    patch_size: int = 8
    token_dim: int = 16  # compact: channels kept per patch token before the flattening projector
    projector_hidden: int = 512
    latent_dim: int = 64  # compact: size of the per-frame latent
    encoder_run: str = ""  # patch form: a `worldjepa pretrain` run whose teacher encoder is used, frozen
    predictor_depth: int = 4
    predictor_width: int = 128
    predictor_heads: int = 4
    use_proprio: bool = False  # feed proprioception to the predictor


@dataclass
class WMObjectiveConfig:
    loss: str = "mse"  # "mse" (LeWM) or "l1" (V-JEPA 2-AC)
    rollout_steps: int = 2  # predictions fed back: the rollout loss covers this many steps (0: off)
    rollout_weight: float = 1.0
    sigreg_weight: float = 0.1  # compact form, end to end (LeWM λ); 0 disables
    sigreg_slices: int = 1024


@dataclass
class PlanConfig:
    solver: str = "cem"  # "cem", "mppi" or "gd"
    horizon: int = 5  # model steps planned
    samples: int = 300
    iterations: int = 30
    elites: int = 30  # CEM
    init_std: float = 1.0  # of the sampling distribution, in action units
    min_std: float = 0.05
    noise_correlation: float = 0.0  # AR(1) correlation of the sampling noise along primitive steps (0: white)
    temperature: float = 0.5  # MPPI: weights exp(-(E - min E) / (temperature · spread of E))
    gd_steps: int = 100  # gradient descent
    gd_lr: float = 0.1
    energy: str = "l2"  # "l2": squared L2 (LeWM, DINO-WM); "l1": mean absolute (V-JEPA 2-AC)
    weights: str = "last"  # "last": energy of the final prediction; "ramp": 0.1 → 1 over the horizon (PLDM)
    path_weight: float = 0.01  # with weights=last: weight of the intermediate predictions (0: final only)
    execute: int = 1  # model steps executed before planning again (receding horizon)
    budget: int = 50  # primitive environment steps per episode
    episodes: int = 50
    seed: int = 0
    precision: str = "bf16"  # "bf16" autocast (1.3–1.5× faster plans on a CPU with AMX) or "fp32"
    disagreement: float = 0.0  # `plan --ensemble`: weight of the members' energy spread (0: their mean)


@dataclass
class WorldModelConfig:
    world: str = "two-rooms"  # the world the data comes from and plans run in
    image_size: int = 64
    data: EpisodeDataConfig = field(default_factory=EpisodeDataConfig)
    model: DynamicsConfig = field(default_factory=DynamicsConfig)
    objective: WMObjectiveConfig = field(default_factory=WMObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    plan: PlanConfig = field(default_factory=PlanConfig)


def check_world_model(cfg: WorldModelConfig) -> WorldModelConfig:
    choices = {
        "model.form": (cfg.model.form, ("compact", "patch")),
        "objective.loss": (cfg.objective.loss, ("mse", "l1")),
        "plan.solver": (cfg.plan.solver, ("cem", "mppi", "gd")),
        "plan.energy": (cfg.plan.energy, ("l2", "l1")),
        "plan.weights": (cfg.plan.weights, ("last", "ramp")),
        "plan.precision": (cfg.plan.precision, ("fp32", "bf16")),
        "optim.schedule": (cfg.optim.schedule, ("cosine", "constant")),
        "train.precision": (cfg.train.precision, ("fp32", "bf16")),
    }
    _check_choices(choices)
    if cfg.image_size % cfg.model.patch_size:
        raise ConfigError(f"image_size={cfg.image_size} is not divisible by model.patch_size={cfg.model.patch_size}")
    if cfg.data.window < 2:
        raise ConfigError(f"data.window must be at least 2 (a context frame and a predicted one), got {cfg.data.window}")
    if cfg.objective.rollout_steps > cfg.data.window - 1:
        raise ConfigError(f"objective.rollout_steps={cfg.objective.rollout_steps} exceeds the {cfg.data.window - 1} "
                          "predicted frames of a window: raise data.window or lower objective.rollout_steps")
    if cfg.model.form == "patch" and not cfg.model.encoder_run:
        raise ConfigError("model.form=patch plans on a frozen pretrained encoder: set model.encoder_run=RUN_DIR "
                          "(a `worldjepa pretrain` run folder)")
    p = cfg.plan
    if p.elites > p.samples:
        raise ConfigError(f"plan.elites={p.elites} exceeds plan.samples={p.samples}")
    if p.disagreement < 0:
        raise ConfigError(f"plan.disagreement must be ≥ 0 (a weight on the ensemble's spread), got {p.disagreement}")
    if not 1 <= p.execute <= p.horizon:
        raise ConfigError(f"plan.execute must be between 1 and plan.horizon={p.horizon}, got {p.execute}")
    for name, value in (("train.steps", cfg.train.steps), ("data.batch_size", cfg.data.batch_size),
                        ("data.frameskip", cfg.data.frameskip), ("plan.horizon", p.horizon),
                        ("plan.samples", p.samples), ("plan.iterations", p.iterations)):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    return cfg


# ----------------------------------------------------------------------------------------------
# Recipes: the published variants as settings of the same switches.

RECIPES: dict[str, dict[str, Any]] = {
    # V-JEPA 2.1: dense loss on visible tokens, 4-level deep supervision, separate tokenizers.
    "vjepa2.1": dict(context_loss=True, levels=4, separate_tokenizers=True, masking="multiblock3d", loss="l1"),
    # V-JEPA 2: masked tokens only, last level only, images duplicated into clips.
    "vjepa2": dict(context_loss=False, levels=1, separate_tokenizers=False, masking="multiblock3d", loss="l1"),
    # I-JEPA: images, 2D context block + 4 target blocks, smooth-L1 as in the official code.
    "ijepa": dict(context_loss=False, levels=1, separate_tokenizers=True, masking="ijepa", loss="smooth_l1"),
}


def resolve(cfg: PretrainConfig) -> PretrainConfig:
    """Fill the switches left at None from the recipe and check cross-field constraints."""
    cfg = dataclasses.replace(cfg)  # shallow copy of the root; sections are replaced below
    obj, model = dataclasses.replace(cfg.objective), dataclasses.replace(cfg.model)
    if obj.recipe not in RECIPES:
        raise ConfigError(_choice_message("objective.recipe", obj.recipe, RECIPES))
    recipe = RECIPES[obj.recipe]
    for key in ("context_loss", "masking", "loss"):
        if getattr(obj, key) is None:
            setattr(obj, key, recipe[key])
    for key in ("levels", "separate_tokenizers"):
        if getattr(model, key) is None:
            setattr(model, key, recipe[key])
    cfg.objective, cfg.model = obj, model
    _check(cfg)
    return cfg


def _check(cfg: PretrainConfig) -> None:
    choices = {
        "data.source": (cfg.data.source, ("world", "folder")),
        "objective.regularizer": (cfg.objective.regularizer, ("ema", "sigreg")),
        "objective.masking": (cfg.objective.masking, ("multiblock3d", "ijepa")),
        "objective.loss": (cfg.objective.loss, ("l1", "smooth_l1")),
        "optim.schedule": (cfg.optim.schedule, ("cosine", "constant")),
        "train.precision": (cfg.train.precision, ("fp32", "bf16")),
    }
    _check_choices(choices)
    if cfg.model.levels not in (1, 4):
        raise ConfigError(f"model.levels must be 1 (last block) or 4 (deep supervision), got {cfg.model.levels}")
    d, m, t = cfg.data, cfg.model, cfg.train
    _check_at_least(1, {"data.image_size": d.image_size, "data.frames": d.frames, "data.frame_step": d.frame_step,
                        "data.batch_size": d.batch_size, "model.patch_size": m.patch_size,
                        "model.tubelet_size": m.tubelet_size, "model.depth": m.depth, "model.width": m.width,
                        "model.heads": m.heads, "model.predictor_depth": m.predictor_depth,
                        "model.predictor_width": m.predictor_width, "model.predictor_heads": m.predictor_heads,
                        "train.steps": t.steps, "train.accumulate": t.accumulate, "train.log_every": t.log_every,
                        "train.checkpoint_every": t.checkpoint_every, "train.max_skips": t.max_skips,
                        "objective.sigreg_slices": cfg.objective.sigreg_slices,
                        "objective.min_context": cfg.objective.min_context})
    _check_at_least(0, {"data.workers": d.workers, "train.threads": t.threads, "optim.warmup_steps": cfg.optim.warmup_steps})
    from .nn.encoder import sized  # the encoder preset is resolved here so that a bad width fails now

    try:
        size = sized(m.encoder, m.depth, m.width, m.heads)
    except ValueError as err:
        raise ConfigError(f"model.encoder: {err}") from err
    _check_heads("model", size.width, size.heads)
    _check_heads("model.predictor", m.predictor_width, m.predictor_heads)
    if size.depth < m.levels:
        raise ConfigError(f"model.levels={m.levels} needs at least {m.levels} encoder blocks, got depth {size.depth}")
    o = cfg.optim
    for key, value, low, high in (("optim.lr", o.lr, 0.0, math.inf), ("optim.min_lr", o.min_lr, 0.0, math.inf),
                                  ("optim.start_lr", o.start_lr, 0.0, math.inf),
                                  ("optim.grad_clip", o.grad_clip, 0.0, math.inf),
                                  ("train.spike_factor", t.spike_factor, 0.0, math.inf),
                                  ("objective.lambda_video", cfg.objective.lambda_video, 0.0, math.inf),
                                  ("objective.lambda_image", cfg.objective.lambda_image, 0.0, math.inf),
                                  ("objective.sigreg_weight", cfg.objective.sigreg_weight, 0.0, math.inf),
                                  *[(f"objective.ema[{i}]", v, 0.0, 1.0) for i, v in enumerate(cfg.objective.ema)],
                                  *[(f"optim.betas[{i}]", v, 0.0, 1.0) for i, v in enumerate(o.betas)],
                                  *[(f"optim.weight_decay[{i}]", v, 0.0, math.inf)
                                    for i, v in enumerate(o.weight_decay)]):
        if not low <= value <= high or not math.isfinite(value):  # also false for NaN
            raise ConfigError(f"{key} must be a finite number in [{low:g}, {high:g}], got {value}")
    size, patch = cfg.data.image_size, cfg.model.patch_size
    if patch <= 0 or size % patch:
        raise ConfigError(
            f"data.image_size={size} is not divisible by model.patch_size={patch}: "
            f"choose an image size that is a multiple of {patch} (e.g. {max(patch, size // patch * patch)})"
        )
    if cfg.data.frames % cfg.model.tubelet_size:
        raise ConfigError(
            f"data.frames={cfg.data.frames} is not divisible by model.tubelet_size={cfg.model.tubelet_size}"
        )
    if not 0.0 <= cfg.data.image_fraction <= 1.0:
        raise ConfigError(f"data.image_fraction must be in [0, 1], got {cfg.data.image_fraction}")
    tokens = (size // patch) ** 2  # an image's tokens (a clip has more): masks for both are built
    if tokens <= cfg.objective.min_context:
        raise ConfigError(f"{tokens} tokens per image (data.image_size={size}, model.patch_size={patch}) leave nothing "
                          f"to mask beside objective.min_context={cfg.objective.min_context} visible ones: use larger "
                          "images or a smaller patch")
    if cfg.objective.masking == "ijepa" and cfg.data.image_fraction < 1.0:
        raise ConfigError("objective.masking=ijepa works on images: set data.image_fraction=1.0")
    if cfg.data.source == "folder" and not cfg.data.path:
        raise ConfigError("data.source=folder needs data.path=DIR (a folder of images or videos)")
    for i, m in enumerate(cfg.objective.masks):
        _check_mask(f"objective.masks[{i}]", m)


def _check_at_least(low: int, values: dict[str, int | None]) -> None:
    for name, value in values.items():
        if value is not None and value < low:
            raise ConfigError(f"{name} must be at least {low}, got {value}")


def _check_heads(where: str, width: int, heads: int) -> None:
    """Attention splits the width into heads; 3D-RoPE needs an even head size of at least 6."""
    if width % heads or (width // heads) % 2 or width // heads < 6:
        raise ConfigError(f"{where} width {width} with {heads} heads: the width must split into heads of an even "
                          f"size ≥ 6 (e.g. width {heads * max(6, (width // heads + 1) // 2 * 2)})")


def _check_mask(where: str, m: MaskConfig) -> None:
    if m.num_blocks < 1:
        raise ConfigError(f"{where}.num_blocks must be at least 1, got {m.num_blocks}")
    for key, upper in (("spatial_scale", 1.0), ("temporal_scale", 1.0), ("aspect_ratio", math.inf)):
        low, high = getattr(m, key)
        if not 0.0 < low <= high <= upper:  # also false for NaN
            bound = "≤ 1" if upper == 1.0 else "finite"
            raise ConfigError(f"{where}.{key} must be [low, high] with 0 < low ≤ high, {bound}; got [{low}, {high}]")


def _check_choices(choices: dict[str, tuple[Any, tuple]]) -> None:
    """{key: (value, allowed values)} → ConfigError naming the closest allowed value."""
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(_choice_message(key, value, allowed))


def _choice_message(key: str, value: Any, allowed) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(str(value), allowed, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{key}={value!r} is not one of {allowed}{hint}"


# ----------------------------------------------------------------------------------------------
# Building dataclasses from plain data, with type checks


def from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Build dataclass `cls` from a mapping; unknown keys and wrong types raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping of keys to values, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(_unknown_key_message(_join(where, str(key)), names, where))
        kwargs[key] = _coerce(hints[key], value, _join(where, key))
    return cls(**kwargs)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _unknown_key_message(full_key: str, names: list[str], where: str) -> str:
    leaf = full_key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, names, n=1, cutoff=0.5)
    hint = f"; did you mean '{_join(where, close[0])}'?" if close else ""
    return f"unknown config key '{full_key}'{hint} (valid keys here: {', '.join(names)})"


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis) and len(args) != len(value):
            raise ConfigError(f"{where} must have {len(args)} values, got {len(value)}: {value!r}")
        item_types = [args[0]] * len(value) if (origin is list or args[-1] is Ellipsis) else list(args)
        items = [_coerce(t, v, f"{where}[{i}]") for i, (t, v) in enumerate(zip(item_types, value))]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp} at {where}")  # a bug in this file, not user input


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain data (lists instead of tuples) ready for YAML or JSON."""

    def plain(x):
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        return x

    return plain(dataclasses.asdict(cfg))


# ----------------------------------------------------------------------------------------------
# Presets, files and overrides


def presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load(name_or_path: str | Path = "tiny-cpu", overrides: list[str] | tuple[str, ...] = ()) -> PretrainConfig:
    """Load a preset name or YAML path, apply `section.key=value` overrides, resolve the recipe."""
    data = read_yaml_config(name_or_path)
    for item in overrides:
        apply_override(data, item)
    return resolve(from_dict(PretrainConfig, data))


def load_world_model(name_or_path: str | Path = "wm-two-rooms",
                     overrides: list[str] | tuple[str, ...] = ()) -> WorldModelConfig:
    """The world-model counterpart of `load` (presets named wm-*)."""
    data = read_yaml_config(name_or_path)
    for item in overrides:
        apply_override(data, item, WorldModelConfig)
    return check_world_model(from_dict(WorldModelConfig, data))


def read_yaml_config(name_or_path: str | Path) -> dict[str, Any]:
    path = Path(name_or_path)
    if not path.suffix:
        path = PRESET_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise ConfigError(_choice_message("config", str(name_or_path), presets()) +
                              " (or pass a path to a YAML file)")
    elif not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = _parse_yaml(path.read_text(), str(path)) or {}
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not a UTF-8 text file ({err.reason})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections, got {type(data).__name__}")
    return data


def apply_override(data: dict[str, Any], item: str, root: type = PretrainConfig) -> None:
    """Apply one `a.b.c=value` override to nested plain data; the value is parsed as YAML."""
    if "=" not in item:
        raise ConfigError(f"override '{item}' must look like section.key=value (e.g. train.steps=200)")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    _check_path(parts, root)
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{item}': '{part}' is a value, not a section")
    node[parts[-1]] = _parse_yaml(raw, f"override '{item}'")


def _parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"{where} is not valid YAML: {first} (values are read as YAML, e.g. 0.5, [1, 2], true)") from err


def _check_path(parts: list[str], root: type) -> None:
    """Fail early, with the closest valid key, on a dotted path that names no config field."""
    cls: Any = root
    for depth, part in enumerate(parts):
        if not dataclasses.is_dataclass(cls):
            raise ConfigError(f"'{'.'.join(parts)}': '{'.'.join(parts[:depth])}' is a value, not a section")
        hints = typing.get_type_hints(cls)
        if part not in hints:
            names = [f.name for f in dataclasses.fields(cls)]
            raise ConfigError(_unknown_key_message(".".join(parts), names, ".".join(parts[:depth])))
        tp = hints[part]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        cls = args[0] if typing.get_origin(tp) in (typing.Union, types.UnionType) else tp


def save_yaml(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))

"""Typed run configuration.

A run is described by one `PretrainConfig` (self-supervised pretraining) or one `WorldModelConfig`
(an action-conditioned world model and its planner), each made of small dataclass sections; the
sections about optimisation and the training loop are shared by both. Configs come from a named preset
(``src/worldjepa/configs/NAME.yaml``) or a YAML path, then ``section.key=value`` overrides.

Every field says what it accepts in its type: a `Literal` for a choice, and for numbers a `Range`
(`Positive`, `Count`, `Fraction`, ...). One validator, `check_section`, reads those types for every
section of both run kinds; a section's own cross-field rules (`rules`) and each run kind's rules across
sections come after. An unknown or misspelt key is an error that names the closest valid key; a value
of the wrong type, outside its range, not finite (NaN or infinity) or not one of the choices is an error
that names the key. Nothing in a config is executed (YAML is read with ``safe_load``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml

from .device import DeviceName, Precision

PRESET_DIR = Path(__file__).parent / "configs"


class ConfigError(ValueError):
    """A configuration that cannot be used; the message says what to change."""


# ----------------------------------------------------------------------------------------------
# What a number may be


@dataclass(frozen=True)
class Range:
    """The values a number may take: low ≤ x ≤ high (strict where `open_low` / `open_high`). Every float
    must also be finite."""

    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False

    def holds(self, x: float) -> bool:
        above = x > self.low if self.open_low else x >= self.low
        below = x < self.high if self.open_high else x <= self.high
        return above and below

    def text(self) -> str:
        if self.high == math.inf:
            return f"{'greater than' if self.open_low else 'at least'} {self.low:g}"
        return f"in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}{')' if self.open_high else ']'}"


Positive = Annotated[int, Range(1)]  # sizes, counts of steps, samples, ...
Count = Annotated[int, Range(0)]  # may be zero
NonNegative = Annotated[float, Range(0.0)]
PositiveFloat = Annotated[float, Range(0.0, open_low=True)]
Fraction = Annotated[float, Range(0.0, 1.0)]
Momentum = Annotated[float, Range(0.0, 1.0, open_high=True)]  # Adam's betas, an AR(1) correlation
Scale = Annotated[float, Range(0.0, 1.0, open_low=True)]  # a share of the frame, > 0
Byte = Annotated[int, Range(0, 255)]


class Section:
    """A config section: its fields' types say what they accept (checked by `check_section`); `rules`
    adds what depends on several fields at once."""

    def rules(self, where: str) -> None:
        return None


# ----------------------------------------------------------------------------------------------
# Sections


@dataclass
class WorldConfig(Section):
    """The built-in bouncing-balls physics world (see worlds/balls.py)."""

    num_balls: Positive = 3
    radius: tuple[PositiveFloat, PositiveFloat] = (0.09, 0.13)  # world radius range, in units of the box width
    depths: tuple[PositiveFloat, ...] = (1.0, 1.4, 1.9)  # depth layers; apparent size scales with 1/depth
    gravity: float = 1.5  # box widths per second squared, downwards
    speed: tuple[NonNegative, NonNegative] = (0.6, 1.4)  # initial speed range, box widths per second
    fps: PositiveFloat = 12.0
    substeps: Positive = 4  # physics steps per frame
    occluder: Fraction = 0.0  # probability that a clip has a vertical occluder bar in front
    occluder_width: Scale = 0.16  # box widths; 0.3 hides any ball completely (object permanence)
    background: tuple[Byte, Byte, Byte] = (40, 40, 48)

    def rules(self, where: str) -> None:
        _ordered(f"{where}.radius", self.radius)
        _ordered(f"{where}.speed", self.speed)
        if not self.depths:
            raise ConfigError(f"{where}.depths needs at least one depth layer, e.g. [1.0]")


@dataclass
class DataConfig(Section):
    # world: clips generated on the fly; folder: media under `path` (or listed in a CSV manifest); shards: frames
    # decoded once by `worldjepa shard`; stream: such shards read as they arrive from URLs, a `pipe:` command or
    # files (data/stream.py); episodes: the frames of an episode store at `path` (`worldjepa collect`), to
    # pretrain the encoder a patch-form world model then uses frozen
    source: Literal["world", "folder", "shards", "stream", "episodes"] = "world"
    path: str = ""
    image_size: Positive = 64
    frames: Positive = 8  # frames per clip
    frame_step: Positive = 1  # stride between sampled frames when reading videos
    batch_size: Positive = 16
    image_fraction: Fraction = 0.0  # share of the loss from still images (V-JEPA 2.1 mixed batches)
    workers: Count = 0  # background data-loading processes (0: load in the training process)
    # several processes: V-JEPA 2.1's arrangement, the first image_fraction of the processes on stills only and the
    # rest on clips only (false: each process trains on its share of both; the same gradient either way)
    split_ranks: bool = False
    # folder and shards: V-JEPA's random-resized crop, the same box through a clip's frames, resized back to
    # image_size: its area a uniform share in crop_scale of the frame, its aspect log-uniform in crop_ratio
    # (V-JEPA 2: (0.3, 1.0) and (0.75, 1.35)); (1.0, 1.0), the default, leaves frames whole
    crop_scale: tuple[PositiveFloat, PositiveFloat] = (1.0, 1.0)
    crop_ratio: tuple[PositiveFloat, PositiveFloat] = (0.75, 1.35)
    # folder: decode the videos once into shards in this folder (rebuilt when the files change) and train from
    # those; "" decodes a clip from its video every time it is drawn
    cache: str = ""
    # stream: clips and stills held to shuffle the stream (each lane holds this many of each: memory to budget)
    shuffle_buffer: Positive = 256
    world: WorldConfig = field(default_factory=WorldConfig)


@dataclass
class ModelSize(Section):
    """The ViT and predictor sizes, the same fields in both run kinds."""

    encoder: str = "tiny-cpu"  # size preset, see nn/encoder.py SIZES
    depth: Positive | None = None  # overrides of the preset's depth / width / heads (None: the preset's)
    width: Positive | None = None
    heads: Positive | None = None
    mlp_ratio: PositiveFloat | None = None  # MLP width / width (None: the preset's)
    patch_size: Positive = 8
    predictor_depth: Positive = 4
    predictor_width: Positive = 192
    predictor_heads: Positive = 3
    predictor_head_dim: Positive | None = None  # channels per predictor head (None: predictor_width // heads)
    predictor_mlp: Positive | None = None  # predictor MLP width (None: 4 × predictor_width)
    predictor_norm_eps: PositiveFloat = 1e-5  # masked and patch predictors' LayerNorm eps (Meta's released: 1e-6)

    def size(self):
        """The encoder's `ViTSize` (nn/encoder.py): the preset with this section's overrides."""
        from .nn.encoder import sized

        return sized(self.encoder, self.depth, self.width, self.heads, self.mlp_ratio)

    def rules(self, where: str) -> None:
        try:
            size = self.size()
        except ValueError as err:
            raise ConfigError(f"{where}.encoder: {err}") from err
        source = f"{where}.encoder={self.encoder}" + (" with overrides" if (self.width, self.heads) != (None, None) else "")
        _check_heads(f"{where}.width", size.width, f"{where}.heads", size.heads, source)
        if self.predictor_head_dim is None:
            _check_heads(f"{where}.predictor_width", self.predictor_width, f"{where}.predictor_heads",
                         self.predictor_heads)
        elif self.predictor_head_dim % 2 or self.predictor_head_dim < 6:  # 3D-RoPE rotates pairs in 3 axes
            raise ConfigError(f"{where}.predictor_head_dim must be even and at least 6, got {self.predictor_head_dim}")


@dataclass
class ModelConfig(ModelSize):
    tubelet_size: Positive = 2
    levels: Literal[1, 4] | None = None  # encoder levels fed to and predicted by the predictor; None: from recipe
    separate_tokenizers: bool | None = None  # image and video tokenizers (2.1); None: from recipe
    rope_grid: Positive | None = None  # interpolate_rope: map the RoPE rows/columns of the encoder and predictor onto
    # a grid of this side (V-JEPA 2.1: 16, i.e. 256 px at patch 16), so that another resolution sees the pretraining range
    position: Literal["rope", "sincos"] | None = None  # 3D-RoPE, or I-JEPA's fixed 2D sin-cos table; None: from recipe
    norm_eps: PositiveFloat = 1e-6  # the encoder's LayerNorm eps (the released ViTs': 1e-6)
    tiled_rope: bool = False  # V-JEPA 2's released RoPE frequencies (nn/rope.py): for its weights (`worldjepa convert`)
    predictor_mask_tokens: Positive | None = None  # learned mask tokens (None: one per mask type; V-JEPA 2's: 10)
    taps: list[Count] | None = None  # the blocks whose outputs are the levels (None: equally spaced, nn/encoder.py)

    def rules(self, where: str) -> None:
        super().rules(where)
        if self.taps is not None:
            depth = self.size().depth
            if self.levels is not None and len(self.taps) != self.levels:
                raise ConfigError(f"{where}.taps lists {len(self.taps)} blocks for {where}.levels={self.levels}")
            if sorted(set(self.taps)) != list(self.taps) or self.taps[-1] >= depth:
                raise ConfigError(f"{where}.taps must be increasing block indices below the depth {depth}, got "
                                  f"{self.taps}")


@dataclass
class MaskConfig(Section):
    """One multi-block mask: the union of `num_blocks` blocks of the given relative size."""

    num_blocks: Positive = 8
    spatial_scale: tuple[Scale, Scale] = (0.15, 0.15)
    temporal_scale: tuple[Scale, Scale] = (1.0, 1.0)
    aspect_ratio: tuple[PositiveFloat, PositiveFloat] = (0.75, 1.5)
    causal: bool = False  # blocks end at the last time step: predict the future from the past (V-JEPA's causal masks)

    def rules(self, where: str) -> None:
        for key in ("spatial_scale", "temporal_scale", "aspect_ratio"):
            _ordered(f"{where}.{key}", getattr(self, key))


def _vjepa_masks() -> list[MaskConfig]:
    return [MaskConfig(8, (0.15, 0.15)), MaskConfig(2, (0.7, 0.7))]


def _image_masks() -> list[MaskConfig]:
    return [MaskConfig(10, (0.15, 0.15))]  # the released V-JEPA 2.1 image mask: one mask of 10 blocks × 0.15


@dataclass
class ObjectiveConfig(Section):
    recipe: Literal["vjepa2.1", "vjepa2", "ijepa"] = "vjepa2.1"  # fills every switch left at None
    regularizer: Literal["ema", "sigreg"] = "ema"  # EMA teacher + stop-grad, or SIGReg (no teacher, LeJEPA)
    context_loss: bool | None = None  # 2.1 dense loss on visible tokens
    masking: Literal["multiblock3d", "ijepa"] | None = None  # V-JEPA 3D multi-block, or I-JEPA 2D context + 4 targets
    loss: Literal["l1", "smooth_l1"] | None = None  # smooth_l1: the I-JEPA code
    lambda_video: NonNegative = 0.5
    lambda_image: NonNegative = 0.7
    lambda_warmup: tuple[Annotated[int, Range(-1)], Annotated[int, Range(-1)]] = (-1, -1)  # steps where λ ramps 0 → λ; -1: 5% → 10% of the run
    masks: list[MaskConfig] = field(default_factory=_vjepa_masks)  # clips' mask types
    image_masks: list[MaskConfig] = field(default_factory=_image_masks)  # stills' mask types (multiblock3d masking)
    min_context: Positive | None = None  # masks leaving fewer visible tokens are resampled; None: from recipe
    ema: tuple[Fraction, Fraction] | None = None  # teacher momentum at start and end of the run; None: from recipe
    sigreg_weight: NonNegative = 0.05
    sigreg_slices: Positive = 256

    def rules(self, where: str) -> None:
        for key in ("masks", "image_masks"):
            if not getattr(self, key):
                raise ConfigError(f"{where}.{key} needs at least one mask, e.g. [{{num_blocks: 8, spatial_scale: [0.15, 0.15]}}]")


@dataclass
class OptimConfig(Section):
    lr: NonNegative = 5e-4
    min_lr: NonNegative = 1e-6
    warmup_steps: Count = 50
    schedule: Literal["cosine", "constant"] = "cosine"  # after warm-up
    decay_steps: Count = 0  # constant schedule: the last decay_steps fall linearly to min_lr (V-JEPA 2.1's cool-down)
    start_lr: NonNegative = 1e-5
    weight_decay: tuple[NonNegative, NonNegative] = (0.04, 0.04)  # start, end (cosine between)
    betas: tuple[Momentum, Momentum] = (0.9, 0.999)
    eps: PositiveFloat = 1e-8  # AdamW's; larger keeps rounding noise in near-zero gradients from becoming whole steps
    grad_clip: NonNegative = 10.0  # max global grad norm; 0 disables


@dataclass
class TrainConfig(Section):
    steps: Positive = 1000
    seed: Count = 0
    precision: Precision = "bf16"  # bf16 autocast, or fp32
    accumulate: Positive = 1  # micro-batches per optimizer step
    log_every: Positive = 10
    checkpoint_every: Positive = 200
    spike_factor: NonNegative = 10.0  # skip a step whose loss exceeds this × the recent median; 0 disables
    max_skips: Positive = 20  # consecutive skipped steps before the run stops with a diagnosis
    tensorboard: bool = False
    threads: Count = 0  # torch threads; 0 keeps torch's default
    device: DeviceName = "auto"  # auto (the best available: cuda, mps, cpu), cpu, cuda or mps; --device
    # under torchrun: ddp (a whole copy of the model on every process) or fsdp (FSDP2: parameters, gradients and
    # AdamW moments sharded across processes, for models that do not fit on one)
    parallel: Literal["ddp", "fsdp"] = "ddp"
    # recompute each transformer block's activations in the backward pass instead of keeping them: about a
    # fifth of the activation memory (`worldjepa resources`) for a third more compute
    activation_checkpointing: bool = False
    compile: bool = False  # torch.compile each transformer block (compiled on first use; a GPU gains most)


@dataclass
class PretrainConfig(Section):
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def rules(self, where: str) -> None:
        d, m, o = self.data, self.model, self.objective
        if m.levels is not None and m.size().depth < m.levels:
            raise ConfigError(f"model.levels={m.levels} needs at least {m.levels} encoder blocks, got model.depth="
                              f"{m.size().depth}" + ("" if m.depth else f" (the model.encoder={m.encoder} preset)"))
        size, patch = d.image_size, m.patch_size
        if size % patch:
            raise ConfigError(f"data.image_size={size} is not divisible by model.patch_size={patch}: choose an image "
                              f"size that is a multiple of {patch} (e.g. {max(patch, size // patch * patch)})")
        if d.frames % m.tubelet_size:
            raise ConfigError(f"data.frames={d.frames} is not divisible by model.tubelet_size={m.tubelet_size}")
        tokens = (size // patch) ** 2  # an image's tokens (a clip has more): masks for both are built
        if tokens <= o.min_context:
            raise ConfigError(f"{tokens} tokens per image (data.image_size={size}, model.patch_size={patch}) leave "
                              f"nothing to mask beside objective.min_context={o.min_context} visible ones: use larger "
                              "images or a smaller patch")
        if o.masking == "ijepa" and d.image_fraction < 1.0:
            raise ConfigError("objective.masking=ijepa works on images: set data.image_fraction=1.0")
        _check_schedule(self.optim, self.train.steps)
        if d.split_ranks and o.regularizer == "sigreg":
            raise ConfigError("data.split_ranks=true with objective.regularizer=sigreg: SIGReg's statistic spans the "
                              "global batch, which would mix still and clip processes' latents; keep the EMA teacher "
                              "or set data.split_ranks=false")
        if d.split_ranks and self.train.parallel == "fsdp":
            raise ConfigError("data.split_ranks=true needs train.parallel=ddp: under FSDP2 every process must run "
                              "every sharded block, and still processes never run the clip tokenizer")
        if m.position == "sincos" and d.image_fraction < 1.0:
            raise ConfigError("model.position=sincos (I-JEPA's 2D table) has no time axis: set data.image_fraction=1.0")
        if m.position == "sincos" and (m.size().width % 4 or m.predictor_width % 4):
            raise ConfigError(f"model.position=sincos needs widths divisible by 4, got encoder {m.size().width} and "
                              f"model.predictor_width={m.predictor_width}")
        if d.source == "folder" and not d.path:
            raise ConfigError("data.source=folder needs data.path=DIR (a folder of images or videos, or a CSV manifest)")
        if d.source == "shards" and not d.path:
            raise ConfigError("data.source=shards needs data.path=DIR (shards from `worldjepa shard`)")
        if d.source == "stream" and not d.path:
            raise ConfigError("data.source=stream needs data.path: shard URLs (https://host/shard-{000000..000099}.tar),"
                              " a `pipe:COMMAND` writing each shard to stdout, a folder of shards or a .txt list")
        if d.source == "episodes" and not d.path:
            raise ConfigError("data.source=episodes needs data.path=DIR (an episode store from `worldjepa collect`)")


# ----------------------------------------------------------------------------------------------
# World models: action-conditioned predictors trained on an episode store, then planning.


@dataclass
class EpisodeDataConfig(Section):
    path: str = ""  # episode store folder (`worldjepa collect` writes one); --data on the command line
    window: Annotated[int, Range(2)] = 4  # frames per training window: 1 context frame, then window-1 predicted
    frameskip: Positive = 5  # primitive steps per model step; one model action = frameskip actions concatenated
    batch_size: Positive = 64
    limit: Count = 0  # use only the first N episodes; 0: all
    workers: Count = 0


@dataclass
class DynamicsConfig(ModelSize):
    # compact: one latent per frame, AdaLN-zero (LeWM); patch: V-JEPA 2-AC; autoregressive (IRIS-like: VQ tokens and
    # a causal transformer of predictor_depth x predictor_width) and diffusion (DIAMOND-like EDM U-Net): the other
    # paradigms' baselines, on frames (dynamics/autoregressive.py, dynamics/diffusion.py)
    form: Literal["compact", "patch", "autoregressive", "diffusion"] = "compact"
    predictor_width: Positive = 128
    predictor_heads: Positive = 4
    token_dim: Positive = 16  # compact: channels kept per patch token before the flattening projector
    projector_hidden: Positive = 512
    latent_dim: Positive = 64  # compact: size of the per-frame latent
    pool: Literal["flatten", "mean"] = "flatten"  # compact: the patch grid into the projector flattened or averaged
    predictor_projector: Count = 0  # compact: hidden width of an MLP output head (LeWM's pred_proj); 0: one Linear
    encoder_run: str = ""  # patch form: a `worldjepa pretrain` run whose teacher encoder is used, frozen
    predict_change: bool = False  # patch form: predict z_{k+1} as LN(z_k + Δ), so copying the frame is free
    use_proprio: bool = False  # feed proprioception to the predictor (dynamics/unroll.py's rule)
    tiled_rope: bool = False  # patch form: the released 2-AC predictor's RoPE frequencies (nn/rope.py), for its weights
    codes: Positive = 64  # autoregressive: the VQ tokenizer's codebook size
    tokenizer_channels: list[Positive] = field(default_factory=lambda: [32, 64, 64])  # autoregressive: one per halving
    tokenizer_share: Fraction = 0.3  # autoregressive: the first share of the steps trains the tokenizer alone (IRIS)
    # diffusion: one per U-Net level; the noise-level and action embedding is 4 × the first wide
    unet_channels: list[Positive] = field(default_factory=lambda: [32, 64, 64])
    context_frames: Positive = 2  # diffusion: previous frames the denoiser sees
    sampling_steps: Positive = 3  # diffusion: Euler steps per generated frame (DIAMOND: 3)


@dataclass
class WMObjectiveConfig(Section):
    loss: Literal["mse", "l1"] = "mse"  # mse (LeWM) or l1 (V-JEPA 2-AC)
    rollout_steps: Count = 2  # predictions fed back: the rollout loss covers this many steps (0: off)
    rollout_weight: NonNegative = 1.0
    sigreg_weight: NonNegative = 0.1  # compact form, end to end (LeWM λ); 0 disables
    sigreg_slices: Positive = 1024
    token_weights: Literal["uniform", "change"] = "uniform"  # patch form: "change" weights each target token by how much it changes
    # compact form: weight of a linear read-out of the store's proprio from each frame's latent, trained with it, so
    # the encoder keeps the agent the actions move (an end-to-end encoder can drop it: docs/planning.md, push-t); 0: off
    proprio_anchor: NonNegative = 0.0


@dataclass
class PlanConfig(Section):
    solver: Literal["cem", "mppi", "gd", "random"] = "cem"  # random: the random-action baseline (no planning)
    horizon: Positive = 5  # model steps planned
    samples: Positive = 300
    iterations: Positive = 30
    elites: Positive = 30  # CEM
    init_std: NonNegative = 1.0  # of the sampling distribution, in action units
    min_std: NonNegative = 0.05
    noise_correlation: Momentum = 0.0  # AR(1) correlation of the sampling noise along primitive steps (0: white)
    temperature: PositiveFloat = 0.5  # MPPI: weights exp(-(E - min E) / (temperature · spread of E))
    gd_steps: Positive = 100  # gradient descent
    gd_lr: NonNegative = 0.1
    energy: Literal["l2", "l1"] = "l2"  # squared L2 (LeWM, DINO-WM) or mean absolute (V-JEPA 2-AC)
    weights: Literal["last", "ramp"] = "last"  # final prediction (+ path_weight on the others), or 0.1 → 1 (PLDM)
    path_weight: NonNegative = 0.01  # with weights=last: weight of the intermediate predictions (0: final only)
    action_weight: NonNegative = 0.0  # + this × mean squared action (1 at a bound): the smallest motion that gets there
    execute: Positive = 1  # model steps executed before planning again (receding horizon)
    budget: Positive = 50  # primitive environment steps per episode
    episodes: Positive = 50
    seed: Count = 0
    precision: Precision = "bf16"  # bf16 autocast (1.3–1.5× faster plans on a CPU with AMX) or fp32
    disagreement: NonNegative = 0.0  # `plan --ensemble`: weight of the members' energy spread (0: their mean)

    def rules(self, where: str) -> None:
        if self.elites > self.samples:
            raise ConfigError(f"{where}.elites={self.elites} exceeds {where}.samples={self.samples}")
        if self.execute > self.horizon:
            raise ConfigError(f"{where}.execute must be between 1 and {where}.horizon={self.horizon}, got {self.execute}")


@dataclass
class WorldModelConfig(Section):
    world: str = "two-rooms"  # the world the data comes from and plans run in
    image_size: Positive = 64
    data: EpisodeDataConfig = field(default_factory=EpisodeDataConfig)
    model: DynamicsConfig = field(default_factory=DynamicsConfig)
    objective: WMObjectiveConfig = field(default_factory=WMObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    plan: PlanConfig = field(default_factory=PlanConfig)

    def rules(self, where: str) -> None:
        if self.image_size % self.model.patch_size:
            raise ConfigError(f"image_size={self.image_size} is not divisible by model.patch_size={self.model.patch_size}")
        if self.objective.rollout_steps > self.data.window - 1:
            raise ConfigError(f"objective.rollout_steps={self.objective.rollout_steps} exceeds the {self.data.window - 1} "
                              "predicted frames of a window: raise data.window or lower objective.rollout_steps")
        _check_schedule(self.optim, self.train.steps)
        if self.model.form == "patch" and not self.model.encoder_run:
            raise ConfigError("model.form=patch plans on a frozen pretrained encoder: set model.encoder_run=RUN_DIR "
                              "(a `worldjepa pretrain` run folder)")
        if self.model.form == "autoregressive" and self.plan.solver == "gd":
            raise ConfigError("plan.solver=gd needs gradients through the rollout; the autoregressive baseline samples "
                              "discrete tokens: use plan.solver=cem, mppi or random")
        if self.model.form != "patch" and (self.model.predict_change or self.objective.token_weights != "uniform"):
            raise ConfigError("model.predict_change and objective.token_weights=change act on patch tokens: set "
                              "model.form=patch, or leave them at false and uniform")


@dataclass
class VLDataConfig(Section):
    path: str = ""  # a VL data folder: cached visual features and texts (`worldjepa vl features`)
    batch_size: Positive = 64
    # stage 1 (the paper's caption pretraining): descriptions only for this share of the steps; then descriptions,
    # questions and answers together (stage 2)
    caption_share: Fraction = 0.3


@dataclass
class VLModelConfig(Section):
    # jepa: VL-JEPA (predicts the answer's embedding); tokens: a causal captioner on the same features (generates it)
    kind: Literal["jepa", "tokens"] = "jepa"
    text: Literal["minilm", "scratch"] = "minilm"  # the Y side: all-MiniLM-L6-v2, or a small encoder from scratch
    predictor_init: Literal["text", "scratch"] = "text"  # the last layers of the text encoder, or random weights
    predictor_layers: Positive = 3
    shared_dim: Positive = 256  # the shared embedding space of predictions and targets
    text_lr_scale: NonNegative = 0.0  # MiniLM fine-tuned at this × the learning rate (the paper: 0.05); 0 freezes it
    temperature: PositiveFloat = 0.05  # of the bidirectional InfoNCE
    scratch_width: Positive = 256  # text=scratch: the encoder's size
    scratch_depth: Positive = 4
    scratch_heads: Positive = 4
    token_width: Positive = 384  # kind=tokens: the captioner's transformer
    token_depth: Positive = 6
    token_heads: Positive = 6


@dataclass
class VLConfig(Section):
    data: VLDataConfig = field(default_factory=VLDataConfig)
    model: VLModelConfig = field(default_factory=VLModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def rules(self, where: str) -> None:
        _check_schedule(self.optim, self.train.steps)
        _check_heads("model.scratch_width", self.model.scratch_width, "model.scratch_heads", self.model.scratch_heads)
        _check_heads("model.token_width", self.model.token_width, "model.token_heads", self.model.token_heads)


def _check_schedule(optim: OptimConfig, steps: int) -> None:
    if optim.decay_steps and optim.schedule != "constant":
        raise ConfigError(f"optim.decay_steps={optim.decay_steps} shapes the constant schedule: set "
                          "optim.schedule=constant, or optim.decay_steps=0 for the cosine one")
    if optim.decay_steps and optim.warmup_steps + optim.decay_steps > steps:
        raise ConfigError(f"optim.warmup_steps={optim.warmup_steps} + optim.decay_steps={optim.decay_steps} exceed "
                          f"train.steps={steps}: shorten them or train longer")


def check_world_model(cfg: WorldModelConfig) -> WorldModelConfig:
    check_section(cfg)
    return cfg


# ----------------------------------------------------------------------------------------------
# Recipes: the published variants as settings of the same switches.

RECIPES: dict[str, dict[str, Any]] = {
    # V-JEPA 2.1: dense loss on visible tokens, 4-level deep supervision, separate tokenizers, 3D-RoPE.
    "vjepa2.1": dict(context_loss=True, levels=4, separate_tokenizers=True, masking="multiblock3d", loss="l1",
                     position="rope", ema=(0.99925, 0.99925), min_context=4),
    # V-JEPA 2: masked tokens only, last level only, images duplicated into clips.
    "vjepa2": dict(context_loss=False, levels=1, separate_tokenizers=False, masking="multiblock3d", loss="l1",
                   position="rope", ema=(0.99925, 0.99925), min_context=4),
    # I-JEPA: images, 2D context block + 4 target blocks, smooth-L1 as in the official code, fixed 2D sin-cos
    # positions, EMA 0.996 → 1.0, at least 10 context patches (configs/in1k_vith14_ep300.yaml).
    "ijepa": dict(context_loss=False, levels=1, separate_tokenizers=True, masking="ijepa", loss="smooth_l1",
                  position="sincos", ema=(0.996, 1.0), min_context=10),
}
OBJECTIVE_SWITCHES = ("context_loss", "masking", "loss", "ema", "min_context")
MODEL_SWITCHES = ("levels", "separate_tokenizers", "position")


def resolve(cfg: PretrainConfig) -> PretrainConfig:
    """Fill the switches left at None from the recipe and check the whole config."""
    cfg = dataclasses.replace(cfg)  # shallow copy of the root; sections are replaced below
    obj, model = dataclasses.replace(cfg.objective), dataclasses.replace(cfg.model)
    if not isinstance(obj.recipe, str) or obj.recipe not in RECIPES:
        raise ConfigError(_choice_message("objective.recipe", obj.recipe, RECIPES))
    recipe = RECIPES[obj.recipe]
    for section, keys in ((obj, OBJECTIVE_SWITCHES), (model, MODEL_SWITCHES)):
        for key in keys:
            if getattr(section, key) is None:
                setattr(section, key, recipe[key])
    cfg.objective, cfg.model = obj, model
    check_section(cfg)
    return cfg


# ----------------------------------------------------------------------------------------------
# The validator: one for every section of both run kinds


def check_section(section: Section, where: str = "") -> None:
    """Check every field of `section` (and of the sections inside it) against its type, then the
    section's own rules; the first problem is a ConfigError naming the key."""
    hints = typing.get_type_hints(type(section), include_extras=True)
    for f in dataclasses.fields(section):
        _check_value(hints[f.name], getattr(section, f.name), _join(where, f.name))
    section.rules(where)


def _check_value(tp: Any, value: Any, key: str) -> None:
    bounds = None
    if typing.get_origin(tp) is Annotated:
        tp, *extras = typing.get_args(tp)
        bounds = next((e for e in extras if isinstance(e, Range)), None)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return
        return _check_value(next(a for a in args if a is not type(None)), value, key)
    if origin is Literal:
        if value not in args or isinstance(value, bool) != any(isinstance(a, bool) for a in args):
            raise ConfigError(_choice_message(key, value, args))
        return
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, tp):
            raise ConfigError(f"{key} must be a {tp.__name__} section, got {value!r}")
        return check_section(value, key)
    if origin in (list, tuple):
        for i, (item_type, item) in enumerate(zip(_item_types(tp, value, key), value)):
            _check_value(item_type, item, f"{key}[{i}]")
        return
    if tp in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (tp is int and not isinstance(value, int)):
            raise ConfigError(f"{key} must be {'an integer' if tp is int else 'a number'}, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value}")
        if bounds is not None and not bounds.holds(value):
            raise ConfigError(f"{key} must be {bounds.text()}, got {value}")
        return
    if not isinstance(value, tp):
        raise ConfigError(f"{key} must be of type {tp.__name__}, got {value!r}")


def _item_types(tp: Any, value: Any, key: str) -> list[Any]:
    """The type of each item of `value` for a list[T], tuple[T, ...] or tuple[T1, T2, ...] field."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key} must be a list, got {value!r}")
    if origin is list or args[-1] is Ellipsis:
        return [args[0]] * len(value)
    if len(args) != len(value):
        raise ConfigError(f"{key} must have {len(args)} values, got {len(value)}: {value!r}")
    return list(args)


def _ordered(key: str, pair: tuple) -> None:
    low, high = pair
    if low > high:
        raise ConfigError(f"{key} must be [low, high] with low ≤ high, got [{low}, {high}]")


def _check_heads(width_key: str, width: int, heads_key: str, heads: int, source: str = "") -> None:
    """Attention splits the width into heads; 3D-RoPE needs an even head size of at least 6."""
    if width % heads or (width // heads) % 2 or width // heads < 6:
        given = f" (from {source})" if source else ""
        raise ConfigError(f"{width_key}={width} with {heads_key}={heads}{given}: the width must split into heads of "
                          f"an even size ≥ 6 (e.g. {width_key}={heads * max(6, (width // heads + 1) // 2 * 2)})")


def _choice_message(key: str, value: Any, allowed) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
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
    if origin is Literal:  # membership is checked by check_section, with the closest choice named
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        items = [_coerce(t, v, f"{where}[{i}]") for i, (t, v) in enumerate(zip(_item_types(tp, value, where), value))]
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
    # a preset's name (it may hold dots: vjepa2.1-vitl), unless it names a YAML file or a file that is there
    if path.suffix.lower() not in (".yaml", ".yml") and len(path.parts) == 1 and not path.is_file():
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

"""Published weights as worldjepa run folders, and worldjepa runs in the published layouts.

    worldjepa convert vitl.pt --out runs/vjepa2-vitl                      # a pretraining run folder
    worldjepa convert vjepa2-ac-vitg.pt --out runs/ac --world two-rooms   # + a world-model run folder
    worldjepa convert runs/vjepa2-vitl --to hf --out hf/vitl              # transformers' layout back

A converted encoder (with its masked-latent predictor, where one is converted) is an ordinary pretraining run:
its config rebuilds the exact architecture (size, RoPE form, level taps, LayerNorm eps, mask tokens) and its
checkpoint holds the weights once, under `objective.encoder` (a loader that wants a teacher gets the same). A
2-AC checkpoint gives two runs: its encoder's (OUT/encoder) and, at OUT, a patch-form world model of the world
named by `world`, whose action and proprio sizes must be the predictor's. Every command reads these folders
unchanged (`embed`, `eval`, `plan`), and `pretrain --init` / `train-wm --init` fine-tune them. The config's
`source` entry (also OUT/source.json) names the file, its layout, the weights' licence and the modules
converted. A converted checkpoint holds no training state: it is a start (--init), never a run to resume.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from .. import __version__
from ..config import (DataConfig, DynamicsConfig, EpisodeDataConfig, ModelConfig, ObjectiveConfig, PlanConfig,
                      PretrainConfig, WMObjectiveConfig, WorldModelConfig, check_world_model, resolve, save_yaml,
                      to_dict)
from ..data.episodes import StoreMeta
from ..dynamics.model import JEPAWorldModel, build_objective, load_world_model
from ..dynamics.patch import PatchActionPredictor
from ..nn.encoder import SIZES, Encoder, level_indices
from ..nn.predictor import MaskedPredictor
from ..pretrain import build_encoder, load_objective, load_pretrained
from ..train.checkpoint import (CHECKPOINT, FORMAT_VERSION, checkpoint_path, module_tensors, read_checkpoint_meta,
                                run_kind, save_checkpoint)
from ..worlds import make_world
from ..worlds.collect import store_meta
from .hf_ijepa import hf_ijepa_from_encoder
from .hf_vjepa2 import hf_vjepa2_from_encoder, hf_vjepa2_from_predictor
from .published import LAYOUTS, Loaded, load_published
from .vit_keys import allow_missing
from .vjepa2_hub import vjepa2_hub_state

CLIP_FRAMES = 16  # the clip length the V-JEPA 2 / 2.1 evaluations and feature extraction use


@dataclass
class Pretrained:
    """What `from_pretrained` found: the encoder, the predictor and the world model a source holds (None
    where it holds none), and where it came from."""

    encoder: Encoder | None
    predictor: nn.Module | None = None
    world_model: JEPAWorldModel | None = None
    source: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------
# modules → the config fields that rebuild them


def encoder_fields(encoder: Encoder) -> dict[str, Any]:
    """The `model` section fields that make `build_encoder` rebuild exactly this encoder."""
    size, tok = encoder.size, encoder.tokenizer
    if tok.video.in_chans != 3:
        raise ValueError(f"this encoder reads {tok.video.in_chans} channels; worldjepa's runs read RGB")
    preset = next((name for name, s in SIZES.items() if s == size), None)
    fields: dict[str, Any] = ({"encoder": preset} if preset else
                              {"encoder": "tiny-cpu", "depth": size.depth, "width": size.width, "heads": size.heads,
                               "mlp_ratio": size.mlp_ratio})
    default_taps = level_indices(size.depth, encoder.num_levels)
    return {**fields, "patch_size": encoder.patch_size, "tubelet_size": encoder.tubelet_size,
            "levels": encoder.num_levels, "separate_tokenizers": tok.separate, "rope_grid": encoder.rope_grid,
            "position": encoder.position, "norm_eps": encoder.level_norms[0].eps, "tiled_rope": encoder.tiled_rope,
            "taps": None if encoder.taps == default_taps else list(encoder.taps)}


def predictor_fields(predictor: MaskedPredictor | PatchActionPredictor) -> dict[str, Any]:
    """The predictor_* fields of either run kind's model section for this predictor."""
    block = predictor.blocks[0]
    width = block.norm1.normalized_shape[0]
    heads, head_dim = block.attn.heads, block.attn.head_dim
    return {"predictor_width": width, "predictor_depth": len(predictor.blocks), "predictor_heads": heads,
            "predictor_head_dim": None if heads * head_dim == width else head_dim,
            "predictor_mlp": block.mlp[0].out_features, "predictor_norm_eps": predictor.norm.eps}


def _check_rebuilt(built: nn.Module, module: nn.Module, what: str) -> None:
    """The module the written config builds has this module's parameters, name for name and shape for shape."""
    ours = {k: tuple(v.shape) for k, v in built.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    if ours != theirs:
        differ = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        raise AssertionError(f"the {what} config rebuilds another module: {', '.join(differ[:6])}")


# ---------------------------------------------------------------------------------------------------
# writing run folders


def write_encoder_run(out: str | Path, encoder: Encoder, predictor: MaskedPredictor | None, source: dict[str, Any],
                      image_size: int, frames: int = CLIP_FRAMES) -> Path:
    """A pretraining run folder holding `encoder` (and `predictor`) with a config that rebuilds them."""
    fields = encoder_fields(encoder)
    if predictor is not None:
        if (predictor.levels, predictor.tiled_rope, predictor.position) != (encoder.num_levels, encoder.tiled_rope,
                                                                           encoder.position):
            raise ValueError("the predictor's levels, RoPE form or positions are not its encoder's")
        fields |= predictor_fields(predictor) | {"predictor_mask_tokens": predictor.mask_tokens.shape[0]}
    recipe = "ijepa" if encoder.position == "sincos" else "vjepa2" if encoder.num_levels == 1 else "vjepa2.1"
    images = 1.0 if recipe == "ijepa" else DataConfig.image_fraction  # I-JEPA learns from images only
    cfg = resolve(PretrainConfig(data=DataConfig(image_size=image_size, frames=frames, image_fraction=images),
                                 model=ModelConfig(**fields), objective=ObjectiveConfig(recipe=recipe)))
    with torch.device("meta"):
        _check_rebuilt(build_encoder(cfg), encoder, "encoder")
    tensors = module_tensors("objective.encoder", encoder)
    if predictor is not None:
        tensors |= module_tensors("objective.predictor", predictor)
    # a released image tokenizer is trained (a converter that reads none builds a shared one)
    trained_on = {"clips": True, "images": encoder.images_trained is not False}
    config = {**to_dict(cfg), "trained_on": trained_on, "source": source}
    return _write(out, tensors, config, "pretrain", cfg)


def world_meta(predictor: PatchActionPredictor, patch_size: int, world: str, image_size: int) -> StoreMeta:
    """What `world` offers (its episode-store metadata), checked against what the predictor reads."""
    meta = store_meta(make_world(world, image_size=image_size), world, {"converted": True})
    if predictor.action_dim % meta.action_dim:
        raise ValueError(f"the predictor reads actions of {predictor.action_dim} values; {world}'s actions have "
                         f"{meta.action_dim} (a model step may chunk several: the predictor's size must be a "
                         f"multiple): convert for another world, or build the predictor with action size "
                         f"{meta.action_dim}")
    if predictor.proprio_dim not in (0, meta.proprio_dim):
        raise ValueError(f"the predictor reads a state of {predictor.proprio_dim} values; {world}'s proprioception "
                         f"has {meta.proprio_dim}")
    side = image_size // patch_size
    if tuple(predictor.grid) != (side, side):
        raise ValueError(f"the predictor predicts a {predictor.grid} patch grid; {image_size} px frames at patch "
                         f"{patch_size} give {side} × {side}")
    return meta


def write_world_model_run(out: str | Path, encoder_run: str | Path, predictor: PatchActionPredictor,
                          source: dict[str, Any], world: str, image_size: int) -> Path:
    """A patch-form world-model run of `world` around `predictor` and the encoder run `encoder_run`."""
    patch = load_pretrained(encoder_run)[1].model.patch_size
    meta = world_meta(predictor, patch, world, image_size)
    model = DynamicsConfig(form="patch", encoder_run=str(encoder_run), patch_size=patch,
                           use_proprio=predictor.proprio_dim > 0, tiled_rope=predictor.tiled_rope,
                           **predictor_fields(predictor))
    cfg = check_world_model(WorldModelConfig(
        world=world, image_size=image_size, model=model,
        data=EpisodeDataConfig(frameskip=predictor.action_dim // meta.action_dim),
        objective=WMObjectiveConfig(loss="l1"), plan=PlanConfig(energy="l1")))  # V-JEPA 2-AC's loss and energy
    objective = build_objective(cfg, meta)
    _check_rebuilt(objective.predictor, predictor, "predictor")
    objective.predictor.load_state_dict(predictor.state_dict())
    config = {**to_dict(cfg), "store": meta.to_json(), "source": source}
    return _write(out, module_tensors("objective", objective), config, "world-model", cfg)


def _write(out: str | Path, tensors: dict[str, torch.Tensor], config: dict[str, Any], kind: str, cfg: Any) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / CHECKPOINT, tensors, {"format": FORMAT_VERSION, "kind": kind, "step": 0, "config": config})
    save_yaml(cfg, out / "config.yaml")
    (out / "source.json").write_text(json.dumps(config["source"], indent=2) + "\n")
    return out


# ---------------------------------------------------------------------------------------------------
# the doors: convert, from_pretrained, export


def resolve_source(src: str | Path) -> Path:
    """A local file or folder, or a Hugging Face hub id (`facebook/vjepa2-vitl-fpc64-256`) downloaded where the
    network allows (huggingface_hub: `pip install 'worldjepa[hub]'`); a clear error where it cannot."""
    path = Path(src)
    if path.exists():
        return path
    name = str(src)
    if name.count("/") != 1 or name.startswith((".", "/")) or name.endswith((".pt", ".tar", ".safetensors")):
        raise FileNotFoundError(f"{src} does not exist (give a checkpoint file, a transformers folder, a worldjepa "
                                f"run folder, or a Hugging Face hub id such as facebook/vjepa2-vitl-fpc64-256)")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise FileNotFoundError(f"{src} is not a local path, and loading it from the Hugging Face hub needs "
                                f"huggingface_hub: pip install 'worldjepa[hub]'") from None
    try:
        return Path(snapshot_download(name, allow_patterns=["config.json", "*.safetensors", "*.safetensors.index.json"]))
    except Exception as err:  # offline, no such repository, no access: all mean "not here"
        raise FileNotFoundError(f"could not fetch {src} from the Hugging Face hub ({type(err).__name__}: "
                                f"{str(err).splitlines()[0] if str(err) else 'no detail'}); download it where the "
                                f"network allows and pass the folder") from None


def _is_run(path: Path) -> bool:
    return path.name == CHECKPOINT or (path / CHECKPOINT).exists()


def _source(loaded: Loaded, src: str | Path) -> dict[str, Any]:
    return {"file": Path(src).name, "layout": loaded.layout, "description": LAYOUTS[loaded.layout],
            "licence": loaded.licence or "see the source's own licence", "modules": sorted(loaded.modules),
            "left_out": loaded.left_out, "converted_by": f"worldjepa {__version__}",
            "checkpoint_format": FORMAT_VERSION}


def _published(src: str | Path, heads: int | None, predictor_heads: int | None, image_size: int | None,
               lenient: bool) -> Loaded:
    path = resolve_source(src)
    if lenient:
        with allow_missing():
            return load_published(path, heads, predictor_heads, image_size)
    return load_published(path, heads, predictor_heads, image_size)


def _image_size(loaded: Loaded, src: str | Path, given: int | None) -> int:
    """The frames a converted encoder sees: as given, else the source config's, else its published size (384 px
    for V-JEPA 2.1 and files named so, 256 px for V-JEPA 2)."""
    if given:
        return given
    for key in ("crop_size", "image_size"):
        if loaded.config.get(key):
            return int(loaded.config[key])
    encoder = loaded.modules.get("encoder")
    return 384 if "384" in Path(src).name or (encoder is not None and encoder.num_levels > 1) else 256


def convert(src: str | Path, out: str | Path, world: str | None = None, image_size: int | None = None,
            frames: int = CLIP_FRAMES, heads: int | None = None, predictor_heads: int | None = None,
            allow_missing_keys: bool = False) -> dict[str, Any]:
    """Published weights at `src` → worldjepa run folder(s) at `out`; returns what was written."""
    out = Path(out)
    for folder in (out, out / "encoder"):
        if _is_run(folder):  # never written over: a run's weights would be lost
            raise ValueError(f"{folder} already holds a run; convert into a new --out folder")
    loaded = _published(src, heads, predictor_heads, image_size, allow_missing_keys)
    source = _source(loaded, src)
    encoder, predictor = loaded.modules.get("encoder"), loaded.modules.get("predictor")
    if encoder is None:
        raise ValueError(f"{src} holds no encoder; worldjepa's runs need one (the frozen encoder a predictor reads)")
    size = _image_size(loaded, src, image_size)
    if isinstance(predictor, PatchActionPredictor):
        if world is None:
            raise ValueError(f"{src} holds a V-JEPA 2-AC predictor, which plans in a world: pass --world two-rooms "
                             f"(or push, or gym:ENV_ID) whose actions have {predictor.action_dim} values (or divide "
                             f"that), and --image-size for its frames")
        world_meta(predictor, encoder.patch_size, world, size)  # refused before anything is written
        encoder_run = write_encoder_run(out / "encoder", encoder, None, source, size, frames)
        write_world_model_run(out, encoder_run, predictor, source, world, size)
        return {"layout": loaded.layout, "runs": {"world-model": str(out), "pretrain": str(encoder_run)},
                "licence": source["licence"], "left_out": len(loaded.left_out)}
    if world is not None:
        raise ValueError(f"--world is for V-JEPA 2-AC checkpoints; {src} holds no action-conditioned predictor")
    write_encoder_run(out, encoder, predictor, source, size, frames)
    return {"layout": loaded.layout, "runs": {"pretrain": str(out)}, "licence": source["licence"],
            "left_out": len(loaded.left_out)}


def _pretrained_modules(run: Path) -> tuple[Encoder, MaskedPredictor | None, PretrainConfig]:
    """A pretraining run's features encoder, its predictor (None for an encoder converted without one), config."""
    encoder, cfg = load_pretrained(run)
    try:
        predictor = load_objective(run)[0].predictor
    except ValueError:  # an encoder without a predictor (converted from weights released without one)
        predictor = None
    return encoder, predictor, cfg


def from_pretrained(path: str | Path, heads: int | None = None, predictor_heads: int | None = None,
                    image_size: int | None = None, device: str | None = None) -> Pretrained:
    """The models a worldjepa run folder, a published checkpoint or a Hugging Face hub id holds: a pretraining
    run's encoder (its EMA teacher) and predictor, a world-model run's `JEPAWorldModel` (ready to plan) with its
    encoder and predictor, a published file's converted modules (plan with one after `worldjepa convert
    --world`, which gives it its world)."""
    target = resolve_source(path)
    if _is_run(target):
        file = checkpoint_path(target)
        meta = read_checkpoint_meta(file)
        source = meta["config"].get("source", {"run": str(target)})
        if run_kind(meta, file) == "world-model":
            model = load_world_model(target, device=device)[0]
            return Pretrained(model.objective.encoder.vit, model.objective.predictor, model, source)
        encoder, predictor, _ = _pretrained_modules(target)
        return Pretrained(encoder, predictor, None, source)
    loaded = load_published(target, heads, predictor_heads, image_size)
    return Pretrained(loaded.modules.get("encoder"), loaded.modules.get("predictor"), None, _source(loaded, path))


def export(run: str | Path, out: str | Path, to: str = "hf") -> Path:
    """A pretraining run in a published layout: `hf`, transformers' `VJEPA2Model` (encoder and predictor) or
    `IJepaModel` folder; `hub`, Meta's torch.hub file of the encoder (V-JEPA 2's layout, or 2.1's for a
    hierarchical encoder). Refused, naming why, where the layout cannot hold the model."""
    run = Path(run)
    if run_kind(read_checkpoint_meta(checkpoint_path(run)), run) != "pretrain":
        raise ValueError(f"{run} is a world-model run; `convert --to` writes pretraining runs (pass its encoder run, "
                         f"model.encoder_run in its config.yaml)")
    encoder, predictor, cfg = _pretrained_modules(run)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if to == "hub":
        state = {f"module.backbone.{k}": v for k, v in vjepa2_hub_state(encoder).items()}
        torch.save({"target_encoder": state}, out / "model.pt")  # the entry the official hub loads
        return out / "model.pt"
    if to != "hf":
        raise ValueError(f"--to {to!r}: choose hf (transformers) or hub (Meta's torch.hub file)")
    if encoder.position == "sincos":
        state, config = hf_ijepa_from_encoder(encoder, cfg.data.image_size)
    elif encoder.num_levels > 1:
        raise ValueError("transformers has no V-JEPA 2.1 model (hierarchical levels, an image tokenizer and "
                         "interpolated RoPE have no place in VJEPA2Model): write it with --to hub, the layout of "
                         "Meta's V-JEPA 2.1 code")
    else:
        state, config = hf_vjepa2_from_encoder(encoder)
        config |= {"crop_size": cfg.data.image_size, "frames_per_clip": cfg.data.frames}
        if predictor is not None:
            predictor_state, predictor_config = hf_vjepa2_from_predictor(predictor)
            state, config = state | predictor_state, config | predictor_config
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps({**config, "architectures": [
        "IJepaModel" if config["model_type"] == "ijepa" else "VJEPA2Model"]}, indent=2) + "\n")
    return out

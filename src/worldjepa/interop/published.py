"""One door for published weights: recognise a file or folder by its contents and convert what it holds.

    loaded = load_published("vitl.pt")            # Meta's torch.hub files
    loaded = load_published("ijepa_vith14_1k/")   # a transformers folder: config.json + *.safetensors
    loaded.modules["encoder"](clips)

A transformers folder is recognised by its config's `model_type` (`ijepa`, `vjepa2`); a `.pt` / `.pth.tar`
file, read with `weights_only=True` only, by its entries (`target_encoder` / `ema_encoder` / `encoder`, and a
`predictor` that is action-conditioned when it has an `action_encoder`). Anything else is refused with the list
of layouts that are read.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file
from torch import nn

from .hf_ijepa import encoder_from_hf_ijepa
from .hf_vjepa2 import encoder_from_hf_vjepa2, predictor_from_hf_vjepa2
from .ijepa_official import LICENCE as IJEPA_LICENCE
from .ijepa_official import encoder_from_ijepa_official, is_ijepa_encoder, predictor_from_ijepa_official
from .vjepa2_ac_hub import predictor_from_vjepa2_ac_hub
from .vjepa2_hub import (ENCODER_KEYS, ForeignTargets, encoder_from_vjepa2_hub, predictor_from_vjepa2_hub,
                         read_checkpoint)
from .vit_keys import strip_prefixes

LAYOUTS = {
    "hf-ijepa": "a transformers IJepaModel folder (config.json with model_type 'ijepa', *.safetensors)",
    "hf-vjepa2": "a transformers VJEPA2Model folder (config.json with model_type 'vjepa2', *.safetensors)",
    "hub-vjepa2": "a torch.hub V-JEPA 2 or 2.1 file (.pt) with target_encoder / ema_encoder / encoder and "
                  "predictor entries",
    "hub-vjepa2-ac": "a torch.hub V-JEPA 2-AC file (.pt) whose predictor has an action_encoder",
    "ijepa": "an I-JEPA checkpoint (.pth.tar) of facebookresearch/ijepa: target_encoder with a 2D patch_embed and pos_embed",
}


@dataclass
class Loaded:
    layout: str  # a key of LAYOUTS
    modules: dict[str, nn.Module]  # "encoder" and/or "predictor"
    left_out: list[str] = field(default_factory=list)  # keys read but not converted, by name
    config: dict[str, Any] = field(default_factory=dict)  # the source's config, where it has one
    licence: str | None = None  # where the weights' licence restricts their use (I-JEPA: CC-BY-NC)


def _unknown(path: Path, what: str) -> ValueError:
    return ValueError(f"{path}: {what}; worldjepa reads " + "; ".join(f"{k}: {v}" for k, v in LAYOUTS.items()))


def load_published(path: str | Path, heads: int | None = None, predictor_heads: int | None = None,
                   image_size: int | None = None) -> Loaded:
    """The modules of a published checkpoint. `heads` / `predictor_heads`: for sizes other than the released
    ones (no shape shows them); `image_size`: the frames a 2-AC predictor's encoder sees (256 px, the
    released one's, by default), which set the patch grid it predicts."""
    path = Path(path)
    if path.is_dir():
        config_file = path / "config.json"
        shards = sorted(path.glob("*.safetensors"))
        if not config_file.exists() or not shards:
            raise _unknown(path, "a folder without config.json and *.safetensors")
        config = json.loads(config_file.read_text())
        state = {k: v for shard in shards for k, v in load_file(shard).items()}
        kind = config.get("model_type")
        if kind == "ijepa":
            return Loaded("hf-ijepa", {"encoder": encoder_from_hf_ijepa(state, config)}, config=config)
        if kind == "vjepa2":
            encoder, predictor_keys = encoder_from_hf_vjepa2(state, config)
            modules = {"encoder": encoder}
            if predictor_keys:
                modules["predictor"] = predictor_from_hf_vjepa2(state, config)
            return Loaded("hf-vjepa2", modules, config=config)
        raise _unknown(path, f"a transformers folder of model_type {kind!r}")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    checkpoint = read_checkpoint(path)
    if not isinstance(checkpoint, dict):
        raise _unknown(path, f"a pickle of a {type(checkpoint).__name__}, not a dict of state dicts")
    predictor = checkpoint.get("predictor")
    key = next((k for k in ENCODER_KEYS if isinstance(checkpoint.get(k), dict) and checkpoint[k]), None)
    # entries not converted (the student beside the EMA teacher, optimiser state, counters) are said, not dropped
    unread = [f"entry {k}" for k in checkpoint if k not in (key, "predictor")]
    if key is not None and is_ijepa_encoder(checkpoint[key]):
        modules = {"encoder": encoder_from_ijepa_official(checkpoint, heads, key)}
        if isinstance(predictor, dict) and predictor:
            modules["predictor"] = predictor_from_ijepa_official(checkpoint, predictor_heads)
        table = {k.removeprefix("module."): v for k, v in checkpoint[key].items()}["pos_embed"]
        return Loaded("ijepa", modules, unread,  # with the image size its sin-cos table was made for
                      config={"image_size": round(table.shape[1] ** 0.5) * modules["encoder"].patch_size},
                      licence=IJEPA_LICENCE)
    if isinstance(predictor, dict) and any(k.endswith("action_encoder.weight") for k in predictor):
        modules = {}
        if key is not None:
            modules["encoder"] = encoder_from_vjepa2_hub(checkpoint, heads, key)
        side = (image_size or 256) // (modules["encoder"].patch_size if modules else 16)
        modules["predictor"], left_out = predictor_from_vjepa2_ac_hub(checkpoint, (side, side), predictor_heads)
        return Loaded("hub-vjepa2-ac", modules, left_out + unread)
    if key is not None:
        modules: dict[str, nn.Module] = {"encoder": encoder_from_vjepa2_hub(checkpoint, heads, key)}
        left_out = []
        if isinstance(predictor, dict) and predictor:
            try:
                modules["predictor"] = predictor_from_vjepa2_hub(checkpoint, predictor_heads)
            except ForeignTargets as err:  # a distilled 2.1 predictor: said, not dropped
                warnings.warn(f"{path}: the predictor is left out: {err}", stacklevel=2)
                left_out = [f"predictor.{k}" for k in sorted(strip_prefixes(predictor))]
        return Loaded("hub-vjepa2", modules, left_out + unread)
    raise _unknown(path, f"a checkpoint with entries {', '.join(map(str, list(checkpoint)[:6]))}")

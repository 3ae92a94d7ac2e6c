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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file
from torch import nn

from .hf_ijepa import encoder_from_hf_ijepa
from .hf_vjepa2 import encoder_from_hf_vjepa2
from .ijepa_official import LICENCE as IJEPA_LICENCE
from .ijepa_official import encoder_from_ijepa_official, is_ijepa_encoder
from .vjepa2_ac_hub import predictor_from_vjepa2_ac_hub
from .vjepa2_hub import ENCODER_KEYS, encoder_from_vjepa2_hub, predictor_from_vjepa2_hub, read_checkpoint

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
                   grid: tuple[int, int] | None = None) -> Loaded:
    """The modules of a published checkpoint. `heads` / `predictor_heads`: for sizes other than the released
    ones (no shape shows them); `grid`: the patch grid a 2-AC predictor works on (16 × 16 for the released
    256 px encoder, the default)."""
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
            encoder, left_out = encoder_from_hf_vjepa2(state, config)
            return Loaded("hf-vjepa2", {"encoder": encoder}, left_out, config)
        raise _unknown(path, f"a transformers folder of model_type {kind!r}")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    checkpoint = read_checkpoint(path)
    if not isinstance(checkpoint, dict):
        raise _unknown(path, f"a pickle of a {type(checkpoint).__name__}, not a dict of state dicts")
    predictor = checkpoint.get("predictor")
    entry = next((checkpoint[k] for k in ENCODER_KEYS if isinstance(checkpoint.get(k), dict) and checkpoint[k]), None)
    if entry is not None and is_ijepa_encoder(entry):
        key = next(k for k in ENCODER_KEYS if checkpoint.get(k) is entry)
        left_out = [f"predictor.{k}" for k in sorted(predictor or {})]  # I-JEPA's predictor is not converted yet
        return Loaded("ijepa", {"encoder": encoder_from_ijepa_official(checkpoint, heads, key)}, left_out,
                      licence=IJEPA_LICENCE)
    if isinstance(predictor, dict) and any(k.endswith("action_encoder.weight") for k in predictor):
        module, left_out = predictor_from_vjepa2_ac_hub(checkpoint, grid or (16, 16), predictor_heads)
        modules = {"predictor": module}
        if any(checkpoint.get(k) for k in ENCODER_KEYS):
            modules["encoder"] = encoder_from_vjepa2_hub(checkpoint, heads)
        return Loaded("hub-vjepa2-ac", modules, left_out)
    if any(isinstance(checkpoint.get(k), dict) for k in ENCODER_KEYS):
        modules: dict[str, nn.Module] = {"encoder": encoder_from_vjepa2_hub(checkpoint, heads)}
        left_out = []
        if isinstance(predictor, dict) and predictor:
            if modules["encoder"].num_levels > 1:  # V-JEPA 2.1's predictor is not converted yet: said, not dropped
                left_out = [f"predictor.{k}" for k in sorted(predictor)]
            else:
                modules["predictor"] = predictor_from_vjepa2_hub(checkpoint, predictor_heads)
        return Loaded("hub-vjepa2", modules, left_out)
    raise _unknown(path, f"a checkpoint with entries {', '.join(map(str, list(checkpoint)[:6]))}")

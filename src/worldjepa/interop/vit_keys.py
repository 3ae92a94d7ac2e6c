"""Pre-norm ViT blocks between worldjepa's names and a published layout's, and the one key report.

A layout names, for block i under a prefix such as `layers.{}.`, the two norms, the attention output, the
two MLP linears (`names`: worldjepa parameter → theirs) and the query, key and value projections (`qkv`):
three names for separate linears, which worldjepa keeps stacked in one `attn.qkv` linear, or one name for a
layout that stacks them too.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from torch import Tensor, nn

BLOCK_PARAMS = ("norm1.weight", "norm1.bias", "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
                "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias")
# the block names of Meta's own code (V-JEPA 2 / 2.1 / 2-AC and I-JEPA): worldjepa's but for the MLP's fc1 / fc2
OFFICIAL_NAMES = {p: p.replace("mlp.0", "mlp.fc1").replace("mlp.2", "mlp.fc2") for p in BLOCK_PARAMS}


def strip_prefixes(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Keys without the `module.` (DistributedDataParallel) and `backbone.` (the hub's wrapper) of Meta's files."""
    return {k.replace("module.", "").replace("backbone.", ""): v for k, v in state.items()}


def transformers_config(config: Mapping[str, Any], required: tuple[str, ...], defaults: Mapping[str, Any],
                        family: str) -> dict[str, Any]:
    """A transformers config.json's fields with the model class's defaults filled in, refused when a required
    field is missing or the blocks are not worldjepa's (exact GELU, heads dividing the width)."""
    missing = [k for k in required if k not in config]
    if missing:
        raise ValueError(f"the {family} config lacks {', '.join(missing)} (a transformers config.json has them)")
    c = {"qkv_bias": True, "hidden_act": "gelu", **defaults, **config}
    if c["hidden_act"] != "gelu":
        raise ValueError(f"hidden_act={c['hidden_act']!r}: worldjepa's blocks use the exact GELU ('gelu') only")
    if c["hidden_size"] % c["num_attention_heads"]:
        raise ValueError(f"hidden_size {c['hidden_size']} is not divisible by {c['num_attention_heads']} heads")
    return c


def count_indexed(state: Mapping[str, Tensor], prefix: str) -> int:
    """How many `{prefix}.N.` groups a state dict has (0 for none): blocks, level norms, mask tokens."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)(\.|$)")
    return 1 + max((int(m.group(1)) for k in state if (m := pattern.match(k))), default=-1)


def stack_shape(state: Mapping[str, Tensor], prefix: str, width: int, heads: int | None,
                released: Mapping[tuple[int, int], int], what: str) -> tuple[int, int, int]:
    """(depth, MLP width, heads) of the blocks under `prefix`; the heads, which no shape shows, are `heads` or
    the released size's ({(depth, width): heads})."""
    depth = count_indexed(state, prefix)
    fc1 = state.get(f"{prefix}.0.mlp.fc1.weight")
    hidden = 4 * width if fc1 is None else fc1.shape[0]  # a missing one is reported by check_keys
    heads = heads or released.get((depth, width))
    if heads is None:
        raise ValueError(f"a {depth}-block, {width}-wide {what} is not a released size: pass heads=")
    return depth, hidden, heads


def expected_blocks(layer: str, names: Mapping[str, str], qkv: tuple[str, str, str], depth: int, width: int,
                    hidden: int, qkv_bias: bool = True) -> dict[str, tuple[int, ...]]:
    """Their key → shape for `depth` blocks of `width` channels and an MLP of `hidden`."""
    shapes = {"mlp.0.weight": (hidden, width), "mlp.0.bias": (hidden,), "mlp.2.weight": (width, hidden),
              "attn.proj.weight": (width, width)}
    out: dict[str, tuple[int, ...]] = {}
    for i in range(depth):
        prefix = layer.format(i)
        out.update({prefix + names[p]: shapes.get(p, (width,)) for p in BLOCK_PARAMS})
        rows = width * (3 // len(qkv))  # each of three separate projections, or all three stacked
        for name in qkv:
            out[f"{prefix}{name}.weight"] = (rows, width)
            if qkv_bias:
                out[f"{prefix}{name}.bias"] = (rows,)
    return out


def blocks_in(state: Mapping[str, Tensor], layer: str, names: Mapping[str, str], qkv: tuple[str, str, str],
              depth: int, width: int) -> dict[str, Tensor]:
    """worldjepa's `blocks.i.*` tensors from a state dict already checked against `expected_blocks`
    (a layout without query/key/value biases gets zero ones)."""
    out = {}
    for i in range(depth):
        prefix = layer.format(i)
        out.update({f"blocks.{i}.{p}": state[prefix + names[p]] for p in BLOCK_PARAMS})
        out[f"blocks.{i}.attn.qkv.weight"] = torch.cat([state[f"{prefix}{n}.weight"] for n in qkv])
        biases = [state.get(f"{prefix}{n}.bias") for n in qkv]
        out[f"blocks.{i}.attn.qkv.bias"] = (torch.cat(biases) if all(b is not None for b in biases)
                                            else torch.zeros(3 * width))
    return out


def blocks_out(blocks: nn.ModuleList, layer: str, names: Mapping[str, str], qkv: tuple[str, str, str]
               ) -> dict[str, Tensor]:
    """Their keys for worldjepa's blocks."""
    out = {}
    for i, block in enumerate(blocks):
        prefix, params = layer.format(i), dict(block.named_parameters())
        out.update({prefix + names[p]: params[p].detach() for p in BLOCK_PARAMS})
        weight, bias = params["attn.qkv.weight"].detach(), params["attn.qkv.bias"].detach()
        parts = zip(weight.chunk(3), bias.chunk(3)) if len(qkv) == 3 else [(weight, bias)]
        for name, (w, b) in zip(qkv, parts):
            out[f"{prefix}{name}.weight"], out[f"{prefix}{name}.bias"] = w, b
    return out


_ALLOW_MISSING: ContextVar[bool] = ContextVar("allow_missing", default=False)


@contextmanager
def allow_missing():
    """Within it, `check_keys` warns instead of failing on missing and unexpected keys (`--allow-missing`): a
    missing tensor starts from worldjepa's initialisation, an unexpected one is not read. Mis-shaped keys and a
    depth that disagrees with the config still fail."""
    token = _ALLOW_MISSING.set(True)
    try:
        yield
    finally:
        _ALLOW_MISSING.reset(token)


def _initial(key: str, shape: tuple[int, ...]) -> Tensor:
    """What worldjepa initialises a tensor of this name to: LayerNorm weights 1, biases, tokens and modality
    vectors 0, other weights N(0, 0.02) (nn/transformer.py's init_vit_)."""
    if key.endswith("bias") or "mask_token" in key or "mod_embed" in key:
        return torch.zeros(shape)
    if "norm" in key and key.endswith("weight"):
        return torch.ones(shape)
    return torch.randn(shape) * 0.02


def check_keys(state: Mapping[str, Tensor], expected: Mapping[str, tuple[int, ...]], layout: str
               ) -> dict[str, Tensor]:
    """`state` checked against `expected` shapes: one error naming every missing, unexpected and mis-shaped
    key. Within `allow_missing()` the same report is a warning and the state comes back completed."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [f"{k} {tuple(state[k].shape)} (expected {expected[k]})" for k in expected
                 if k in state and tuple(state[k].shape) != tuple(expected[k])]
    if not (missing or unexpected or misshaped):
        return dict(state)
    parts = [f"{name}: {', '.join(keys)}" for name, keys in
             (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)) if keys]
    report = f"not a {layout} state dict of this config; " + "; ".join(parts)
    if misshaped or not _ALLOW_MISSING.get():
        raise ValueError(report + ("" if misshaped else " (--allow-missing loads it anyway, missing tensors "
                                                        "from worldjepa's initialisation)"))
    warnings.warn(f"{report}: loaded with --allow-missing (missing tensors start from worldjepa's "
                  f"initialisation, unexpected ones are not read)", stacklevel=2)
    return {**{k: v for k, v in state.items() if k in expected}, **{k: _initial(k, expected[k]) for k in missing}}


def check_depth(state: Mapping[str, Tensor], prefix: str, depth: int, field: str) -> None:
    """A config whose depth disagrees with the blocks the checkpoint holds (the released V-JEPA 2.1 ViT-L's
    `pred_depth` mistake) fails naming both, even with --allow-missing: loading half a stack is never right."""
    found = count_indexed(state, prefix)
    if found != depth:
        raise ValueError(f"the config says {field}={depth} but the checkpoint holds {found} blocks under "
                         f"{prefix}. (indices 0–{found - 1}): set {field}={found}, or use the checkpoint that "
                         f"goes with this config")

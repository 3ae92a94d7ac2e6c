"""The V-JEPA 2-AC predictor as Meta released it for torch.hub (`vjepa2-ac-vitg.pt`, entry `predictor`).

Its `VisionTransformerPredictorAC` (src/models/ac_predictor.py of facebookresearch/vjepa2) is worldjepa's
`PatchActionPredictor`: per step the tokens [action, state, frame patches], block-causal attention, 3D-RoPE
with the action and state tokens turning in time only, a final norm and a projection back to the encoder
width. Names: `predictor_embed` → `patches`, `action_encoder` → `action`, `state_encoder` → `state`,
`predictor_blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}` → `blocks.i.*`, `predictor_norm` →
`norm`, `predictor_proj` → `out`. The released module always holds an `extrinsics_encoder`, unused by the
released model (`use_extrinsics=False`): it is returned as left out. Its RoPE is V-JEPA 2's tiled one and its
norms use eps 1e-6. The official module returns the projection; its training and planning code LayerNorm it
(`normalize_reps`), which worldjepa's predictor does itself, so outputs are compared after that LayerNorm.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from ..dynamics.patch import PatchActionPredictor
from .vit_keys import OFFICIAL_NAMES, blocks_in, blocks_out, check_keys, expected_blocks, stack_shape, strip_prefixes

_LINEARS = {"predictor_embed": "patches", "action_encoder": "action", "state_encoder": "state",
            "predictor_norm": "norm", "predictor_proj": "out"}
RELEASED_HEADS = {(24, 1024): 16}  # vit_ac_predictor as the hub builds it: depth 24, width 1024, 16 heads


def predictor_from_vjepa2_ac_hub(checkpoint: Mapping, grid: tuple[int, int], heads: int | None = None
                                 ) -> tuple[PatchActionPredictor, list[str]]:
    """A released 2-AC checkpoint (the dict `read_checkpoint` returns, or its `predictor` state dict) and the
    patch grid of its encoder (16 × 16 for the released 256 px model) → (worldjepa's predictor, keys left out)."""
    state = checkpoint.get("predictor", checkpoint)
    state = strip_prefixes(state)
    if "predictor_embed.weight" not in state or "action_encoder.weight" not in state:
        raise ValueError("not a V-JEPA 2-AC predictor state dict: no predictor_embed / action_encoder weights; the "
                         "layouts worldjepa reads are in docs/interop.md")
    width, latent = state["predictor_embed.weight"].shape
    action_dim = state["action_encoder.weight"].shape[1]
    proprio_dim = state["state_encoder.weight"].shape[1] if "state_encoder.weight" in state else 0
    depth, hidden, heads = stack_shape(state, "predictor_blocks", width, heads, RELEASED_HEADS, "2-AC predictor")
    left_out = sorted(k for k in state if k.startswith("extrinsics_encoder."))
    state = {k: v for k, v in state.items() if k not in left_out}
    expected = {"predictor_embed.weight": (width, latent), "predictor_embed.bias": (width,),
                "action_encoder.weight": (width, action_dim), "action_encoder.bias": (width,),
                "predictor_norm.weight": (width,), "predictor_norm.bias": (width,),
                "predictor_proj.weight": (latent, width), "predictor_proj.bias": (latent,),
                **expected_blocks("predictor_blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",), depth, width, hidden)}
    if proprio_dim:
        expected.update({"state_encoder.weight": (width, proprio_dim), "state_encoder.bias": (width,)})
    state = check_keys(state, expected, "released V-JEPA 2-AC predictor")

    predictor = PatchActionPredictor(latent, grid, action_dim, width, depth, heads, proprio_dim=proprio_dim,
                                     mlp_hidden=hidden, tiled_rope=True, norm_eps=1e-6)
    ours: dict[str, Tensor] = {f"{mine}.{part}": state[f"{theirs}.{part}"] for theirs, mine in _LINEARS.items()
                               for part in ("weight", "bias") if f"{theirs}.{part}" in state}
    ours.update(blocks_in(state, "predictor_blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",), depth, width))
    predictor.load_state_dict({k: v.float() for k, v in ours.items()})
    return predictor.eval(), left_out


def vjepa2_ac_hub_state(predictor: PatchActionPredictor) -> dict[str, Tensor]:
    """worldjepa's patch predictor in the released names (without `module.backbone.`); works on the meta
    device (shapes only). The released module's unused `extrinsics_encoder` is not written."""
    params = {k: v.detach() for k, v in predictor.state_dict().items()}
    state = {f"{theirs}.{part}": params[f"{mine}.{part}"] for theirs, mine in _LINEARS.items()
             for part in ("weight", "bias") if f"{mine}.{part}" in params}
    state.update(blocks_out(predictor.blocks, "predictor_blocks.{}.", OFFICIAL_NAMES, ("attn.qkv",)))
    return state

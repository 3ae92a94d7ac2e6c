"""Fixed 2D sin-cos position embeddings (I-JEPA, MAE): added to the tokens once, instead of rotating
queries and keys (3D-RoPE, nn/rope.py).

For a token at grid row h and column w and width D (a multiple of 4), with ω_i = 10000^(−i/(D/4)), i < D/4:

    e(h, w) = [ sin(w·ω), cos(w·ω), sin(h·ω), cos(h·ω) ]        (each part D/4 wide)

The column comes first: the layout of the released I-JEPA tables, so that their weights line up.
"""

from __future__ import annotations

import torch
from torch import Tensor


def sincos_2d(positions: Tensor, dim: int) -> Tensor:
    """positions [..., N, 3] (t, h, w; t is ignored: images) → [..., N, dim] float32."""
    if dim % 4:
        raise ValueError(f"2D sin-cos position embeddings need a width divisible by 4, got {dim}")
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64, device=positions.device) / quarter)

    def one_axis(p: Tensor) -> Tensor:
        angles = p.double()[..., None] * omega
        return torch.cat([angles.sin(), angles.cos()], dim=-1)

    return torch.cat([one_axis(positions[..., 2]), one_axis(positions[..., 1])], dim=-1).float()

"""3D rotary position embedding (V-JEPA 2 form; methods.md §3.2).

Each head's dimension d_h is split into three equal segments of d_seg = 2·⌊⌊d_h/3⌋/2⌋ channels for the
token's (t, h, w) grid position; any leftover channels are not rotated. Inside a segment, channel pairs
(x_2i, x_2i+1) rotate by angle pos·ω_i with ω_i = base^(−2i/d_seg). Because q·k after rotation depends
only on the difference of positions, attention is unchanged when every position shifts by the same
amount; images are simply t = 0.

Positions are computed once per forward pass (`rope_tables`) and shared by every block.
"""

from __future__ import annotations

import torch
from torch import Tensor


def segment_dim(head_dim: int) -> int:
    return 2 * ((head_dim // 3) // 2)


def rope_tables(positions: Tensor, head_dim: int, base: float = 10000.0) -> tuple[Tensor, Tensor]:
    """cos/sin tables for `positions` [..., N, 3] (float grid coordinates t, h, w).

    Returns (cos, sin), each [..., 1, N, head_dim], ready to broadcast over heads.
    """
    seg = segment_dim(head_dim)
    if seg == 0:
        raise ValueError(f"head dimension {head_dim} is too small for 3D-RoPE (needs at least 6)")
    freqs = base ** (-torch.arange(0, seg, 2, dtype=torch.float64, device=positions.device) / seg)
    angles = positions.to(torch.float64)[..., :, None] * freqs  # [..., N, 3, seg/2]
    angles = angles.repeat_interleave(2, dim=-1).flatten(-2)  # [..., N, 3·seg], pairs share an angle
    pad = head_dim - 3 * seg
    if pad:
        angles = torch.cat([angles, angles.new_zeros(*angles.shape[:-1], pad)], dim=-1)
    cos, sin = angles.cos().to(torch.float32), angles.sin().to(torch.float32)
    return cos.unsqueeze(-3), sin.unsqueeze(-3)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate `x` [B, heads, N, d] pairwise: (a, b) → (a·cos − b·sin, b·cos + a·sin)."""
    a, b = x.unflatten(-1, (-1, 2)).unbind(-1)
    rotated = torch.stack((-b, a), dim=-1).flatten(-2)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)

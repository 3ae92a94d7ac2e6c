"""3D rotary position embedding (V-JEPA 2 form; docs/methods.md §3.2).

Each head's dimension d_h is split into three equal segments of d_seg = 2·⌊⌊d_h/3⌋/2⌋ channels for the
token's (t, h, w) grid position; any leftover channels are not rotated. Inside a segment, channel pairs
(x_2i, x_2i+1) rotate by angle pos·ω_i with ω_i = base^(−2i/d_seg) (the interleaved-pair convention).
Because q·k after rotation depends only on the difference of positions, attention is unchanged when
every position shifts by the same amount; images are simply t = 0.

A rotation of pairs is a multiplication of complex numbers: the table is one unit phasor e^{i·pos·ω}
per pair (1 for unrotated pairs), and applying it is a single complex multiply, about 3× faster than
the real-valued cos/sin/swap form. Tables are computed once per forward pass and shared by every block.
"""

from __future__ import annotations

import torch
from torch import Tensor


def segment_dim(head_dim: int) -> int:
    return 2 * ((head_dim // 3) // 2)


def rope_tables(positions: Tensor, head_dim: int, base: float = 10000.0) -> Tensor:
    """Phasors for `positions` [..., N, 3] (grid coordinates t, h, w) → complex64 [..., 1, N, head_dim/2],
    ready to broadcast over heads."""
    seg = segment_dim(head_dim)
    if seg == 0 or head_dim % 2:
        raise ValueError(f"3D-RoPE needs an even head dimension of at least 6, got {head_dim}")
    freqs = base ** (-torch.arange(0, seg, 2, dtype=torch.float64, device=positions.device) / seg)
    angles = (positions.to(torch.float64)[..., :, None] * freqs).flatten(-2)  # [..., N, 3·seg/2]
    pad = head_dim // 2 - angles.shape[-1]
    if pad:
        angles = torch.cat([angles, angles.new_zeros(*angles.shape[:-1], pad)], dim=-1)
    return torch.polar(torch.ones_like(angles), angles).to(torch.complex64).unsqueeze(-3)


def apply_rope(x: Tensor, phasor: Tensor) -> Tensor:
    """Rotate `x` [B, heads, N, d] pairwise: (a, b) → (a·cos θ − b·sin θ, b·cos θ + a·sin θ)."""
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()  # no complex bf16
    if work.dtype == torch.float64:
        phasor = phasor.to(torch.complex128)
    pairs = work.unflatten(-1, (-1, 2))
    if pairs.stride(-1) != 1 or any(s % 2 for s in pairs.stride()[:-1]):
        pairs = pairs.contiguous()  # view_as_complex needs adjacent (re, im) pairs; q/k views already are
    return torch.view_as_real(torch.view_as_complex(pairs) * phasor).flatten(-2).to(x.dtype)

"""3D rotary position embedding (V-JEPA 2 form; docs/methods.md §3.2).

Each head's dimension d_h is split into three equal segments of d_seg = 2·⌊⌊d_h/3⌋/2⌋ channels for the
token's (t, h, w) grid position; any leftover channels are not rotated. Inside a segment, channel pairs
(x_2i, x_2i+1) rotate by angle pos·ω_i with ω_i = base^(−2i/d_seg) (the interleaved-pair convention).
Because q·k after rotation depends only on the difference of positions, attention is unchanged when
every position shifts by the same amount; images are simply t = 0.

A rotation of pairs is a multiplication of complex numbers: the table is one unit phasor e^{i·pos·ω}
per pair (1 for unrotated pairs), and applying it is a single complex multiply, about 3× faster than
the real-valued cos/sin/swap form. Tables are computed once per forward pass and shared by every block.

`tiled=True` reproduces the released V-JEPA 2 / 2-AC code (and transformers' VJEPA2Model), whose
frequency table is tiled instead of interleaved across a pair (`repeat(..., 2)`, kept there for
compatibility with the pretrained weights; V-JEPA 2.1's code interleaves, as worldjepa does by default): inside a segment of D channels, channel c turns by pos·ω_{c mod
D/2}, so the two channels of pair i turn by different angles α = pos·ω_{2i mod D/2} and β = pos·ω_{2i+1 mod
D/2}: (a, b) → (a·cos α − b·sin α, b·cos β + a·sin β). That map is z → P·z + Q·z̄ with P = (e^{iα} + e^{iβ})/2
and Q = (e^{−iα} − e^{−iβ})/2 = (cos α − cos β)/2 + i(sin β − sin α)/2; its table holds
[P, Q] along the last axis (head_dim complex values), which is how `apply_rope` tells the two apart.
Needed to load Meta's weights with output parity (docs/interop.md).
"""

from __future__ import annotations

import torch
from torch import Tensor


def segment_dim(head_dim: int) -> int:
    return 2 * ((head_dim // 3) // 2)


def rope_tables(positions: Tensor, head_dim: int, base: float = 10000.0, tiled: bool = False) -> Tensor:
    """Phasors for `positions` [..., N, 3] (grid coordinates t, h, w) → complex64 [..., 1, N, head_dim/2]
    (with `tiled`: [..., 1, N, head_dim], the [P, Q] of V-JEPA 2's map), ready to broadcast
    over heads."""
    seg = segment_dim(head_dim)
    if seg == 0 or head_dim % 2:
        raise ValueError(f"3D-RoPE needs an even head dimension of at least 6, got {head_dim}")
    freqs = base ** (-torch.arange(0, seg, 2, dtype=torch.float64, device=positions.device) / seg)
    pos = positions.to(torch.float64)[..., :, None]
    pad = head_dim // 2 - 3 * (seg // 2)

    def phasors(f: Tensor) -> Tensor:  # unit phasors of angles pos·f per axis, unrotated pairs at angle 0
        angles = (pos * f).flatten(-2)  # [..., N, 3·seg/2]
        angles = torch.cat([angles, angles.new_zeros(*angles.shape[:-1], pad)], dim=-1) if pad else angles
        return torch.polar(torch.ones_like(angles), angles)

    if not tiled:
        return phasors(freqs).to(torch.complex64).unsqueeze(-3)
    pair = torch.arange(seg // 2, device=positions.device)
    a, b = phasors(freqs[(2 * pair) % (seg // 2)]), phasors(freqs[(2 * pair + 1) % (seg // 2)])
    p, q = (a + b) / 2, (a.conj() - b.conj()) / 2  # unrotated pairs: a = b = 1, so P = 1 and Q = 0
    return torch.cat([p, q], dim=-1).to(torch.complex64).unsqueeze(-3)


def apply_rope(x: Tensor, phasor: Tensor) -> Tensor:
    """Rotate `x` [B, heads, N, d] pairwise: (a, b) → (a·cos θ − b·sin θ, b·cos θ + a·sin θ)."""
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()  # no complex bf16
    if work.dtype == torch.float64:
        phasor = phasor.to(torch.complex128)
    pairs = work.unflatten(-1, (-1, 2))
    if pairs.stride(-1) != 1 or any(s % 2 for s in pairs.stride()[:-1]):
        pairs = pairs.contiguous()  # view_as_complex needs adjacent (re, im) pairs; q/k views already are
    z = torch.view_as_complex(pairs)
    if phasor.shape[-1] == z.shape[-1]:
        out = z * phasor
    else:  # V-JEPA 2's tiled table [P, Q]: z → P·z + Q·z̄
        p, q = phasor.chunk(2, dim=-1)
        out = z * p + z.conj() * q
    return torch.view_as_real(out).flatten(-2).to(x.dtype)

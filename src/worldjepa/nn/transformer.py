"""Pre-norm transformer blocks with 3D-RoPE and scaled_dot_product_attention.

x → x + Attention(LN(x)) → x + MLP(LN(x)). The rotary tables are computed once by the caller and
passed to every block; an optional boolean `mask` [N, N] or [B, 1, N, N] (True = may attend) gives
block-causal attention to the action-conditioned predictors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .rope import apply_rope

Rope = Tensor | None  # complex phasors from rope.rope_tables


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """softmax(q·kᵀ/√d)·v over [B, heads, N, d]; `mask` is boolean, True = may attend.

    On CPU in bf16 the fused flash kernel's backward is slower than two bf16 matmuls and a softmax at
    the token counts used here (measured: benchmarks/pretrain_throughput.py), so that case takes the
    explicit path; everything else uses scaled_dot_product_attention.
    """
    if q.dtype == torch.bfloat16 and q.device.type == "cpu":
        scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return scores.softmax(-1).to(v.dtype) @ v
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


class Attention(nn.Module):
    """Multi-head attention of `heads` heads of `head_dim` channels (default dim // heads; LeWM's predictor
    uses 16 × 64 on a 192-wide stream, so the heads' total may differ from the stream's width)."""

    def __init__(self, dim: int, heads: int, head_dim: int | None = None):
        super().__init__()
        if head_dim is None:
            if dim % heads:
                raise ValueError(f"width {dim} is not divisible by {heads} heads")
            head_dim = dim // heads
        self.heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(dim, 3 * heads * head_dim)
        self.proj = nn.Linear(heads * head_dim, dim)

    def forward(self, x: Tensor, rope: Rope = None, mask: Tensor | None = None) -> Tensor:
        B, N, _ = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        if rope is not None:
            q, k = apply_rope(q, rope), apply_rope(k, rope)
        out = attention(q, k, v, mask)
        return self.proj(out.transpose(1, 2).reshape(B, N, self.heads * self.head_dim))


class Block(nn.Module):
    """Pre-norm block; the MLP is `mlp_hidden` wide (default round(dim · mlp_ratio)); `eps` is the LayerNorms'
    (the released V-JEPA and I-JEPA encoders use 1e-6, torch's default is 1e-5)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, head_dim: int | None = None,
                 mlp_hidden: int | None = None, eps: float = 1e-5):
        super().__init__()
        hidden = mlp_hidden or int(round(dim * mlp_ratio))
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads, head_dim)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor, rope: Rope = None, mask: Tensor | None = None) -> Tensor:
        x = x + self.attn(self.norm1(x), rope, mask)
        return x + self.mlp(self.norm2(x))

    def forward_cached(self, x: Tensor, rope: Rope, keys: list[Tensor], values: list[Tensor],
                       mask: Tensor | None = None) -> Tensor:
        """The block on new tokens x [B, n, W] that attend to themselves and to every earlier token whose
        keys and values [B, heads, ·, d] are in `keys` / `values` (the new ones are appended): a block-causal
        sequence grown one group at a time costs the new group only. An optional boolean `mask`
        [B, 1, n, earlier + n] (True = may attend) limits that. Nothing is written in place, so gradients flow."""
        B, n, _ = x.shape
        a = self.attn
        q, k, v = a.qkv(self.norm1(x)).view(B, n, 3, a.heads, a.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        if rope is not None:
            q, k = apply_rope(q, rope), apply_rope(k, rope)
        keys.append(k)
        values.append(v)
        out = attention(q, torch.cat(keys, dim=2), torch.cat(values, dim=2), mask)
        x = x + a.proj(out.transpose(1, 2).reshape(B, n, a.heads * a.head_dim))
        return x + self.mlp(self.norm2(x))


def init_vit_(module: nn.Module, blocks: nn.ModuleList) -> None:
    """ViT initialisation: truncated normal (std 0.02) linears, unit LayerNorms, and residual output
    projections scaled by 1/√(2·layer) so that deep stacks start close to the identity."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm) and m.elementwise_affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    with torch.no_grad():
        for layer, block in enumerate(blocks, start=1):
            block.attn.proj.weight.div_(math.sqrt(2.0 * layer))
            block.mlp[2].weight.div_(math.sqrt(2.0 * layer))

"""The masked predictor (V-JEPA 2.1 form; docs/methods.md §4.1–4.2).

context latents [B, Nc, L·D] ─► fuse MLP (L·D → D → W) ─┐
mask token of this mask type, at each target position ──┴─► concat [B, Nc+Nt, W] + modality vector
  ─► narrow ViT blocks (3D-RoPE on the tokens' grid positions) ─► LayerNorm
  ─► target head (W → L·D) on the Nt mask-token outputs, context head (W → L·D) on the Nc context outputs.

With L = 1 the fusion is a single Linear, as in V-JEPA 2. The two heads are separate because visible
and masked tokens answer different questions (refine what is seen vs. infer what is hidden).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .posembed import sincos_2d
from .rope import rope_tables
from .transformer import Block, init_vit_


class MaskedPredictor(nn.Module):
    def __init__(self, enc_dim: int, levels: int = 4, width: int = 384, depth: int = 12, heads: int = 12,
                 num_mask_types: int = 2, mlp_ratio: float = 4.0, head_dim: int | None = None,
                 mlp_hidden: int | None = None, position: str = "rope", tiled_rope: bool = False,
                 norm_eps: float = 1e-5):
        super().__init__()
        self.position = position  # "rope", or "sincos": I-JEPA's fixed table at the predictor's width
        self.tiled_rope = tiled_rope  # V-JEPA 2's tiled RoPE frequencies (nn/rope.py), for its released weights
        self.levels, self.enc_dim, self.width, self.heads = levels, enc_dim, width, heads
        self.head_dim = head_dim or width // heads
        if levels > 1:
            self.fuse = nn.Sequential(nn.Linear(levels * enc_dim, enc_dim), nn.GELU(), nn.Linear(enc_dim, width))
        else:
            self.fuse = nn.Linear(enc_dim, width)
        self.mask_tokens = nn.Parameter(torch.zeros(num_mask_types, width))
        self.modality = nn.Parameter(torch.zeros(2, width))
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio, head_dim, mlp_hidden, eps=norm_eps)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=norm_eps)
        self.target_head = nn.Linear(width, levels * enc_dim)
        self.context_head = nn.Linear(width, levels * enc_dim)
        init_vit_(self, self.blocks)
        nn.init.normal_(self.modality, std=1e-6)

    def forward(self, z_ctx: Tensor, pos_ctx: Tensor, pos_tgt: Tensor, mask_type: int = 0,
                modality: int = 1) -> tuple[Tensor, Tensor]:
        """z_ctx [B, Nc, L·D], pos_ctx [B, Nc, 3], pos_tgt [B, Nt, 3] →
        (predicted targets [B, Nt, L·D], predicted context [B, Nc, L·D])."""
        if z_ctx.ndim != 3 or pos_ctx.shape != (*z_ctx.shape[:2], 3) or pos_tgt.ndim != 3 or pos_tgt.shape[-1] != 3 \
                or pos_tgt.shape[0] != z_ctx.shape[0]:
            raise ValueError(f"expected z_ctx [B, Nc, D], pos_ctx [B, Nc, 3], pos_tgt [B, Nt, 3], got "
                             f"{tuple(z_ctx.shape)}, {tuple(pos_ctx.shape)}, {tuple(pos_tgt.shape)}")
        if z_ctx.shape[-1] != self.levels * self.enc_dim:
            raise ValueError(f"z_ctx has {z_ctx.shape[-1]} channels; this predictor reads {self.levels * self.enc_dim} "
                             f"(encoder width {self.enc_dim} × {self.levels} levels)")
        if not 0 <= mask_type < self.mask_tokens.shape[0]:
            raise ValueError(f"mask_type {mask_type} out of range: this predictor has {self.mask_tokens.shape[0]} mask tokens")
        B, Nc, _ = z_ctx.shape
        Nt = pos_tgt.shape[1]
        ctx = self.fuse(z_ctx)
        tgt = self.mask_tokens[mask_type].to(ctx.dtype).expand(B, Nt, -1)
        if self.position == "sincos":
            ctx = ctx + sincos_2d(pos_ctx, self.width).to(ctx.dtype)
            tgt = tgt + sincos_2d(pos_tgt, self.width).to(ctx.dtype)
        x = torch.cat([ctx, tgt], dim=1) + self.modality[modality].to(ctx.dtype)
        rope = (rope_tables(torch.cat([pos_ctx, pos_tgt], dim=1), self.head_dim, tiled=self.tiled_rope)
                if self.position == "rope" else None)
        for block in self.blocks:
            x = block(x, rope)
        x = self.norm(x)
        return self.target_head(x[:, Nc:]), self.context_head(x[:, :Nc])

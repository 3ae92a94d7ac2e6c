"""The ViT encoder: tokenizer → blocks with 3D-RoPE (or I-JEPA's fixed 2D sin-cos table) → per-level LayerNorms.

For deep self-supervision (V-JEPA 2.1 pillar 2) the encoder taps 4 equally spaced blocks, normalises
each with its own LayerNorm and concatenates them along channels ([B, N, 4·D]); the last tap's norm is
the final norm, so at inference (`all_levels=False`) the output is just the last block, normalised.
`keep` [B, K] selects the visible (context) tokens before the blocks: the encoder never sees the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .posembed import sincos_2d
from .rope import rope_tables
from .tokenizers import Tokenizer, Tokens
from .transformer import Block, init_vit_


@dataclass(frozen=True)
class ViTSize:
    depth: int
    width: int
    heads: int
    mlp_ratio: float = 4.0


# Published depths, widths, heads and MLP ratios (V-JEPA 2's vit_large/huge/giant and V-JEPA 2.1's
# vit_gigantic: 26 heads of 64, MLP 8192; ViT-g's MLP is 6144).
SIZES: dict[str, ViTSize] = {
    "tiny-cpu": ViTSize(4, 192, 3),
    "tiny": ViTSize(12, 192, 3),
    "small": ViTSize(12, 384, 6),
    "base": ViTSize(12, 768, 12),
    "large": ViTSize(24, 1024, 16),
    "huge": ViTSize(32, 1280, 16),
    "giant": ViTSize(40, 1408, 22, 48 / 11),
    "gigantic": ViTSize(48, 1664, 26, 64 / 13),
}


def size_preset(name: str) -> ViTSize:
    if name not in SIZES:
        import difflib

        close = difflib.get_close_matches(name, list(SIZES), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown encoder size '{name}'{hint} (choose from {', '.join(SIZES)})")
    return SIZES[name]


def sized(name: str, depth: int | None = None, width: int | None = None, heads: int | None = None,
          mlp_ratio: float | None = None) -> ViTSize:
    """A preset with any of depth / width / heads / MLP ratio overridden (None keeps the preset's)."""
    base = size_preset(name)
    return ViTSize(depth or base.depth, width or base.width, heads or base.heads, mlp_ratio or base.mlp_ratio)


def level_indices(depth: int, levels: int = 4) -> list[int]:
    """0-based indices of `levels` equally spaced blocks ending with the last one (round half up):
    depth 12 → [2, 5, 8, 11], 24 → [5, 11, 17, 23], 48 → [11, 23, 35, 47]."""
    if levels > depth:
        raise ValueError(f"cannot tap {levels} levels from {depth} blocks")
    return [math.floor((i + 1) * depth / levels + 0.5) - 1 for i in range(levels)]


def gather_tokens(x: Tensor, index: Tensor) -> Tensor:
    """x [B, N, D], index [B, K] → [B, K, D]."""
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class Encoder(nn.Module):
    def __init__(self, size: ViTSize | str = "tiny-cpu", patch_size: int = 16, tubelet_size: int = 2,
                 in_chans: int = 3, separate_tokenizers: bool = True, levels: int = 4, rope_grid: int | None = None,
                 position: str = "rope", norm_eps: float = 1e-6, tiled_rope: bool = False,
                 taps: list[int] | None = None):
        super().__init__()
        if position not in ("rope", "sincos"):
            raise ValueError(f"position must be 'rope' (3D-RoPE) or 'sincos' (I-JEPA's 2D table), got {position!r}")
        self.rope_grid = rope_grid  # interpolate_rope: the pretraining grid side that positions are mapped onto
        self.position = position
        self.tiled_rope = tiled_rope  # V-JEPA 2's tiled RoPE frequencies (nn/rope.py), for its released weights
        size = size_preset(size) if isinstance(size, str) else size
        self.size, self.dim, self.num_levels = size, size.width, levels
        self.patch_size, self.tubelet_size = patch_size, tubelet_size
        self.tokenizer = Tokenizer(size.width, patch_size, tubelet_size, in_chans, separate_tokenizers)
        # LayerNorm eps 1e-6 as in the released V-JEPA 2 / 2.1 and I-JEPA ViTs (their `norm_layer`)
        self.blocks = nn.ModuleList(Block(size.width, size.heads, size.mlp_ratio, eps=norm_eps)
                                    for _ in range(size.depth))
        self.taps = list(taps) if taps is not None else level_indices(size.depth, levels)
        if len(self.taps) != levels:
            raise ValueError(f"{levels} levels need {levels} taps, got {self.taps}")
        self.level_norms = nn.ModuleList(nn.LayerNorm(size.width, eps=norm_eps) for _ in self.taps)
        init_vit_(self, self.blocks)
        nn.init.normal_(self.tokenizer.modality, std=1e-6)

    @property
    def head_dim(self) -> int:
        return self.dim // self.size.heads

    # Whether the image tokenizer was trained: False for a run that saw clips only with separate tokenizers
    # (its image patch embedding is still random), None when unknown (a fresh encoder); set by the loaders.
    images_trained: bool | None = None

    def require_image_tokenizer(self) -> None:
        """Refuse still images when the image tokenizer was never trained (a clear error, not random features)."""
        if self.images_trained is False:
            raise ValueError(
                "this encoder's run was pretrained on clips only (data.image_fraction=0 with separate image and "
                "video tokenizers), so its image tokenizer is untrained and would give random features: pretrain "
                "with data.image_fraction > 0 (e.g. 0.25, V-JEPA 2.1's share of images) to use still images, or "
                "give the image as a clip of repeated frames")

    def tokenize(self, obs: Tensor) -> Tokens:
        if obs.dim() == 4:
            self.require_image_tokenizer()
        return self.tokenizer(obs)

    def forward(self, obs: Tensor, keep: Tensor | None = None, all_levels: bool = False) -> Tensor:
        """obs: image [B, C, H, W] or clip [B, T, C, H, W] → [B, N or K, D] (or [.., levels·D])."""
        return self.encode_tokens(self.tokenize(obs), keep, all_levels)

    def rope_positions(self, positions: Tensor, grid: tuple[int, int, int]) -> Tensor:
        """The (t, h, w) positions RoPE rotates by. With `rope_grid` = G (V-JEPA 2.1's interpolate_rope) the
        rows and columns of an H × W grid are mapped onto the pretraining grid's range: h' = h·(G − 1)/(H − 1),
        w' = w·(G − 1)/(W − 1), time unchanged; so a model pretrained at 256 px (G = 16 at patch 16) sees the
        same position range at 384 px. Without it, positions are the raw grid indices."""
        if self.rope_grid is None:
            return positions
        scale = [1.0] + [(self.rope_grid - 1) / (n - 1) if n > 1 else 1.0 for n in grid[1:]]
        return positions * positions.new_tensor(scale)

    def encode_tokens(self, tokens: Tokens, keep: Tensor | None = None, all_levels: bool = False) -> Tensor:
        x, pos = tokens.x, self.rope_positions(tokens.positions, tokens.grid)
        if self.position == "sincos":  # I-JEPA: a fixed table added before masking, no rotation in attention
            x = x + sincos_2d(tokens.positions, self.dim).to(x.dtype)
        if keep is not None:
            x = gather_tokens(x, keep)
            pos = pos[keep]  # [B, K, 3]
        rope = rope_tables(pos, self.head_dim, tiled=self.tiled_rope) if self.position == "rope" else None
        outputs = []
        for i, block in enumerate(self.blocks):
            x = block(x, rope)
            if all_levels and i in self.taps:
                outputs.append(self.level_norms[self.taps.index(i)](x))
        if not all_levels:
            return self.level_norms[-1](x)
        return torch.cat(outputs, dim=-1)

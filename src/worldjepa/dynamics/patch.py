"""The V-JEPA 2-AC predictor (docs/methods.md §3.7): a block-causal transformer over patch tokens.

Per time step k the sequence holds the token group [a_k, s_k (if proprio), z_k's N patch tokens]; a
token of step k attends to every token of steps ≤ k (full attention inside a step, nothing later),
so the outputs at step k cannot depend on anything after it. Patch tokens get 3D-RoPE at (k, h, w);
action and proprio tokens sit at (k, 0, 0), which rotates only their time channels (a zero angle is
the identity). The outputs of the patch tokens of step k, normalised, mapped back to the encoder width
and LayerNorm'ed without affine parameters (the official `normalize_reps`: the targets are LayerNorm'ed
frozen features, and a prediction fed back in a rollout must look like one), predict z_{k+1}.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.rope import rope_tables
from ..nn.tokenizers import grid_positions
from ..nn.transformer import Block, init_vit_
from .unroll import feed_back


def block_causal_mask(steps: int, tokens_per_step: int, device=None) -> Tensor:
    """[S·n, S·n] boolean, True where the query's step ≥ the key's step."""
    step = torch.arange(steps, device=device).repeat_interleave(tokens_per_step)
    return step[:, None] >= step[None, :]


class PatchActionPredictor(nn.Module):
    """(z [B, T, N, D], actions [B, T, A], proprio [B, T, P] | None) → ẑ [B, T, N, D]."""

    def __init__(self, latent_dim: int, grid: tuple[int, int], action_dim: int, width: int, depth: int, heads: int,
                 proprio_dim: int = 0, head_dim: int | None = None, mlp_hidden: int | None = None):
        super().__init__()
        self.grid, self.action_dim, self.proprio_dim = grid, action_dim, proprio_dim
        self.patches = nn.Linear(latent_dim, width)
        self.action = nn.Linear(action_dim, width)
        self.state = nn.Linear(proprio_dim, width) if proprio_dim else None
        self.blocks = nn.ModuleList(Block(width, heads, head_dim=head_dim, mlp_hidden=mlp_hidden) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, latent_dim)
        self.head_dim = head_dim or width // heads
        init_vit_(self, self.blocks)

    @property
    def extra_tokens(self) -> int:
        return 1 + (1 if self.proprio_dim else 0)

    def forward(self, z: Tensor, actions: Tensor, proprio: Tensor | None = None) -> Tensor:
        B, T, N, _ = z.shape
        if actions.shape[-1] != self.action_dim:
            raise ValueError(f"the world model expects action chunks of {self.action_dim} values, got "
                             f"{actions.shape[-1]} (actions shape {tuple(actions.shape)})")
        groups = [self.action(actions).unsqueeze(2)]
        if self.state is not None:
            groups.append(self.state(proprio).unsqueeze(2))
        groups.append(self.patches(z))
        x = torch.cat(groups, dim=2)  # [B, T, e + N, W]
        n = x.shape[2]
        e = self.extra_tokens
        pos = torch.zeros(T, n, 3, device=z.device)
        pos[..., 0] = torch.arange(T, device=z.device)[:, None]
        pos[:, e:, 1:] = grid_positions((1, *self.grid), z.device)[:, 1:]
        rope = rope_tables(pos.reshape(T * n, 3), self.head_dim)
        mask = block_causal_mask(T, n, z.device)
        x = x.reshape(B, T * n, -1)
        for block in self.blocks:
            x = block(x, rope, mask)
        x = x.reshape(B, T, n, -1)[:, :, e:]
        out = self.out(self.norm(x))
        return F.layer_norm(out, out.shape[-1:])  # normalize_reps: predictions live where the targets do

    def rollout(self, z0: Tensor, actions: Tensor, proprio: Tensor | None = None) -> Tensor:
        """z0 [B, N, D], actions [B, H, A], proprio [B, H, P] → [B, H, N, D], predictions fed back (no key
        cache: a step's tokens attend to every earlier step's, so the whole sequence is run again)."""
        return feed_back(self, z0, actions, proprio)

"""The V-JEPA 2-AC predictor (docs/methods.md §3.7): a block-causal transformer over patch tokens.

Per time step k the sequence holds the token group [a_k, s_k (if proprio), z_k's N patch tokens]; a
token of step k attends to every token of steps ≤ k (full attention inside a step, nothing later),
so the outputs at step k cannot depend on anything after it. Patch tokens get 3D-RoPE at (k, h, w);
action and proprio tokens sit at (k, 0, 0), which rotates only their time channels (a zero angle is
the identity). The outputs of the patch tokens of step k, normalised, mapped back to the encoder width
and LayerNorm'ed without affine parameters (the official `normalize_reps`: the targets are LayerNorm'ed
frozen features, and a prediction fed back in a rollout must look like one), predict z_{k+1}. With
`predict_change` (not in V-JEPA 2-AC) they are a change added to z_k before that LayerNorm, so the copy of
an unchanged frame is free and the predictor's capacity goes to what moves.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.rope import rope_tables
from ..nn.tokenizers import grid_positions
from ..nn.transformer import Block, init_vit_


def block_causal_mask(steps: int, tokens_per_step: int, device=None) -> Tensor:
    """[S·n, S·n] boolean, True where the query's step ≥ the key's step."""
    step = torch.arange(steps, device=device).repeat_interleave(tokens_per_step)
    return step[:, None] >= step[None, :]


class PatchActionPredictor(nn.Module):
    """(z [B, T, N, D], actions [B, T, A], proprio [B, T, P] | None) → ẑ [B, T, N, D]."""

    def __init__(self, latent_dim: int, grid: tuple[int, int], action_dim: int, width: int, depth: int, heads: int,
                 proprio_dim: int = 0, head_dim: int | None = None, mlp_hidden: int | None = None,
                 predict_change: bool = False, tiled_rope: bool = False, norm_eps: float = 1e-5):
        super().__init__()
        self.grid, self.action_dim, self.proprio_dim = grid, action_dim, proprio_dim
        self.predict_change = predict_change
        self.tiled_rope = tiled_rope  # the released 2-AC code's RoPE frequencies (nn/rope.py), for its weights
        self.patches = nn.Linear(latent_dim, width)
        self.action = nn.Linear(action_dim, width)
        self.state = nn.Linear(proprio_dim, width) if proprio_dim else None
        self.blocks = nn.ModuleList(Block(width, heads, head_dim=head_dim, mlp_hidden=mlp_hidden, eps=norm_eps)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=norm_eps)
        self.out = nn.Linear(width, latent_dim)
        self.head_dim = head_dim or width // heads
        init_vit_(self, self.blocks)

    @property
    def extra_tokens(self) -> int:
        return 1 + (1 if self.proprio_dim else 0)

    def _tokens(self, z: Tensor, actions: Tensor, proprio: Tensor | None) -> Tensor:
        """The token groups [B, T, e + N, W] of steps: action, proprio (if read), the N patches."""
        if actions.shape[-1] != self.action_dim:
            raise ValueError(f"the world model expects action chunks of {self.action_dim} values, got "
                             f"{actions.shape[-1]} (actions shape {tuple(actions.shape)})")
        groups = [self.action(actions).unsqueeze(2)]
        if self.state is not None:
            groups.append(self.state(proprio.to(z.dtype)).unsqueeze(2))
        groups.append(self.patches(z))
        return torch.cat(groups, dim=2)

    def _positions(self, steps: Tensor) -> Tensor:
        """[len(steps), e + N, 3]: a group's tokens at (step, h, w); action and proprio at (step, 0, 0)."""
        n, e = self.extra_tokens + self.grid[0] * self.grid[1], self.extra_tokens
        pos = torch.zeros(len(steps), n, 3, device=steps.device)
        pos[..., 0] = steps[:, None]
        pos[:, e:, 1:] = grid_positions((1, *self.grid), steps.device)[:, 1:]
        return pos

    def _predict(self, x: Tensor, z: Tensor) -> Tensor:
        """Patch outputs (and the input latents z of the same steps) → predicted latents, LayerNorm'ed
        (normalize_reps: predictions live where the targets do, and a prediction fed back in a rollout looks
        like an encoded frame)."""
        out = self.out(self.norm(x[..., self.extra_tokens:, :]))
        if self.predict_change:
            out = out + z.to(out.dtype)
        return F.layer_norm(out, out.shape[-1:])

    def forward(self, z: Tensor, actions: Tensor, proprio: Tensor | None = None) -> Tensor:
        B, T, N, _ = z.shape
        x = self._tokens(z, actions, proprio)  # [B, T, e + N, W]
        n = x.shape[2]
        rope = rope_tables(self._positions(torch.arange(T, device=z.device)).reshape(T * n, 3), self.head_dim,
                           tiled=self.tiled_rope)
        x = x.reshape(B, T * n, -1)
        mask = block_causal_mask(T, n, z.device)
        for block in self.blocks:
            x = block(x, rope, mask)
        return self._predict(x.reshape(B, T, n, -1), z)

    def rollout(self, z0: Tensor, actions: Tensor, proprio: Tensor | None = None) -> Tensor:
        """z0 [B, N, D], actions [B, H, A], proprio [B, H, P] → [B, H, N, D], predictions fed back. Each
        step's group attends to the keys and values of the groups before it, kept per block, so a step costs
        its own e + N tokens instead of the whole sequence so far: equal to `unroll.feed_back`, H groups
        instead of 1 + 2 + … + H."""
        H = actions.shape[1]
        cache: list[tuple[list[Tensor], list[Tensor]]] = [([], []) for _ in self.blocks]
        positions = self._positions(torch.arange(H, device=z0.device))
        z, outputs = z0, []
        for t in range(H):
            x = self._tokens(z[:, None], actions[:, t:t + 1], None if proprio is None else proprio[:, t:t + 1])[:, 0]
            rope = rope_tables(positions[t], self.head_dim, tiled=self.tiled_rope)
            for block, (keys, values) in zip(self.blocks, cache):
                x = block.forward_cached(x, rope, keys, values)
            z = self._predict(x, z).to(z0.dtype)
            outputs.append(z)
        return torch.stack(outputs, dim=1)

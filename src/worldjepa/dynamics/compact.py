"""The compact world model (LeWM form; docs/methods.md §5.3): one latent vector per frame, trained end to end.

    frame ─► ViT (image tokenizer, 3D-RoPE) ─► patch tokens ─► per-token Linear to c channels ─► flatten
          ─► Linear ─► BatchNorm ─► GELU ─► Linear ─► z ∈ R^D

The projector flattens the patch grid instead of mean-pooling it: with RoPE and no absolute position
table, a pooled vector barely knows *where* things are, and in a navigation or pushing task where is
all that matters. `model.pool=mean` pools instead (one width-sized vector into the projector, the size of
LeWM's CLS-token projector, for the `wm-lewm` preset). The BatchNorm sits before SIGReg for the reason LeWM
gives (a final LayerNorm would fight the isotropic-Gaussian target).

The predictor is a causal transformer over the frame latents z_1..z_t; each position is conditioned
on its action chunk a_t through AdaLN-zero (shift, scale and gate of both sub-layers regressed from
the action, the gates starting at zero so every block starts as the identity) and outputs ẑ_{t+1}.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..distributed import batch_mean, spanning
from ..nn.encoder import Encoder, ViTSize
from ..nn.rope import rope_tables
from ..nn.rope import apply_rope
from ..nn.transformer import Attention, init_vit_


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm whose training statistics span every rank inside `distributed.global_batch()` (torch's
    SyncBatchNorm runs on GPUs only); alone, or outside it, the plain BatchNorm."""

    def forward(self, x: Tensor) -> Tensor:
        world = spanning()
        if not self.training or world == 1:
            return super().forward(x)
        mean = batch_mean(x.float())
        var = batch_mean((x.float() - mean).pow(2))  # biased, as BatchNorm normalises
        with torch.no_grad():
            n = x.shape[0] * world
            self.num_batches_tracked.add_(1)
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(var.detach() * n / max(n - 1, 1), self.momentum)
        y = (x.float() - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias
        return y.to(x.dtype)


class Projector(nn.Sequential):
    """Linear → BatchNorm → GELU → Linear on the last axis of [..., in] (LeWM's projector MLP); the
    BatchNorm sees every leading position as one sample (on every rank of a run of several processes)."""

    def __init__(self, dim_in: int, hidden: int, dim_out: int):
        super().__init__(nn.Linear(dim_in, hidden), GlobalBatchNorm1d(hidden), nn.GELU(), nn.Linear(hidden, dim_out))

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], -1)


class FrameEncoder(nn.Module):
    """Images [B, 3, S, S] → latents [B, D]."""

    def __init__(self, size: ViTSize, patch_size: int, image_size: int, token_dim: int, hidden: int, latent_dim: int,
                 pool: str = "flatten"):
        super().__init__()
        self.image_size, self.pool = image_size, pool
        self.vit = Encoder(size, patch_size, tubelet_size=1, separate_tokenizers=True, levels=1)
        tokens = (image_size // patch_size) ** 2
        if pool == "flatten":
            self.squeeze = nn.Linear(size.width, token_dim)
        self.projector = Projector(tokens * token_dim if pool == "flatten" else size.width, hidden, latent_dim)

    def forward(self, images: Tensor) -> Tensor:
        tokens = self.vit(images)
        return self.projector(self.squeeze(tokens).flatten(1) if self.pool == "flatten" else tokens.mean(1))


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale) + shift


class AdaLNBlock(nn.Module):
    """Pre-norm transformer block whose norms are modulated by a condition (DiT's AdaLN-zero)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, head_dim: int | None = None,
                 mlp_hidden: int | None = None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.attn = Attention(dim, heads, head_dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        hidden = mlp_hidden or int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x: Tensor, cond: Tensor, rope: Tensor, mask: Tensor) -> Tensor:
        s1, c1, g1, s2, c2, g2 = self.modulation(cond).chunk(6, dim=-1)
        x = x + g1 * self.attn(modulate(self.norm1(x), s1, c1), rope, mask)
        return x + g2 * self.mlp(modulate(self.norm2(x), s2, c2))

    def step_modulation(self, cond: Tensor) -> list[Tensor]:
        """For `step`: shift, 1 + scale and gate of both sub-layers, for all positions at once."""
        s1, c1, g1, s2, c2, g2 = self.modulation(cond).chunk(6, dim=-1)
        return [s1, c1 + 1, g1, s2, c2 + 1, g2]

    def step(self, x: Tensor, mod: list[Tensor], rope: Tensor, keys: list[Tensor], values: list[Tensor],
             t: int) -> Tensor:
        """Position t alone: x [B, 1, W] attends to itself and positions < t, whose keys and values
        [B, heads, 1, d] are in `keys`/`values` (its own are appended); `rope` [2, 1, 1, d/2] holds position
        t's phasors for the query (times the 1/√d of attention) and the key. Same output as `forward` on the
        whole causal sequence, at the cost of one position. Nothing is written in place, so gradients flow
        (the training rollout and the gradient planner need them); fused multiply-adds keep the number of
        small ops down, which is what a CPU planner pays for at this size."""
        s1, c1, g1, s2, c2, g2 = (m[:, t:t + 1] for m in mod)
        B = x.shape[0]
        heads, d = self.attn.heads, self.attn.head_dim
        h = torch.addcmul(s1, self.norm1(x), c1)
        qkv = self.attn.qkv(h).view(B, 3, heads, 1, d)  # one position: [B, 1, heads, d] is [B, heads, 1, d]
        q, k = apply_rope(qkv[:, :2], rope).unbind(1)  # one multiply rotates both; q's phasor holds 1/√d
        keys.append(k)
        values.append(qkv[:, 2])
        # one query against ≤ H keys: products and sums beat (batched) matmul kernels at this size
        weights = torch.cat([(q * key).sum(-1, keepdim=True) for key in keys], dim=2).softmax(2)  # [B, heads, t+1, 1]
        mixed = weights[:, :, :1] * values[0]
        for s, value in enumerate(values[1:], 1):
            mixed = torch.addcmul(mixed, weights[:, :, s:s + 1], value)
        out = self.attn.proj(mixed.reshape(B, 1, heads * d))
        x = torch.addcmul(x, g1, out)
        return torch.addcmul(x, g2, self.mlp(torch.addcmul(s2, self.norm2(x), c2)))


class ActionPredictor(nn.Module):
    """(z [B, T, D], actions [B, T, A'], proprio [B, T, P] | None) → ẑ [B, T, D], ẑ_t predicting z_{t+1}."""

    def __init__(self, latent_dim: int, action_dim: int, width: int, depth: int, heads: int, proprio_dim: int = 0,
                 head_dim: int | None = None, mlp_hidden: int | None = None, out_hidden: int = 0):
        super().__init__()
        self.action_dim, self.proprio_dim = action_dim, proprio_dim
        self.inp = nn.Linear(latent_dim + proprio_dim, width)
        self.action = nn.Sequential(nn.Linear(action_dim, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(AdaLNBlock(width, heads, head_dim=head_dim, mlp_hidden=mlp_hidden)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        # the output head: one Linear, or LeWM's `pred_proj` MLP with `out_hidden` channels
        self.out = Projector(width, out_hidden, latent_dim) if out_hidden else nn.Linear(width, latent_dim)
        self.head_dim = head_dim or width // heads
        init_vit_(self, self.blocks)
        for block in self.blocks:  # AdaLN-zero: every block starts as the identity
            nn.init.zeros_(block.modulation[1].weight)
            nn.init.zeros_(block.modulation[1].bias)

    def forward(self, z: Tensor, actions: Tensor, proprio: Tensor | None = None) -> Tensor:
        T = z.shape[1]
        if actions.shape[-1] != self.action_dim:
            raise ValueError(f"the world model expects action chunks of {self.action_dim} values, got "
                             f"{actions.shape[-1]} (actions shape {tuple(actions.shape)})")
        x = self.inp(z if not self.proprio_dim else torch.cat([z, proprio], dim=-1))
        cond = self.action(actions)
        positions = torch.zeros(T, 3, device=z.device)
        positions[:, 0] = torch.arange(T, device=z.device)  # time only: 1D RoPE through the 3D tables
        rope = rope_tables(positions, self.head_dim)
        mask = torch.ones(T, T, dtype=torch.bool, device=z.device).tril()
        for block in self.blocks:
            x = block(x, cond, rope, mask)
        return self.out(self.norm(x))

    def rollout(self, z0: Tensor, actions: Tensor, proprio: Tensor | None = None) -> Tensor:
        """Autoregressive predictions [B, H, D] from z0 [B, D] under actions [B, H, A] and the proprio input
        of each step [B, H, P] (dynamics/unroll.py decides what it is): each prediction becomes the next
        input. Keys and values of earlier positions are kept, so the cost is H positions instead of
        1 + 2 + … + H; equal to feeding `forward` its own outputs (`unroll.feed_back`)."""
        B, H, _ = actions.shape
        if actions.shape[-1] != self.action_dim:
            raise ValueError(f"the world model expects action chunks of {self.action_dim} values, got "
                             f"{actions.shape[-1]} (actions shape {tuple(actions.shape)})")
        positions = torch.zeros(H, 3, device=z0.device)
        positions[:, 0] = torch.arange(H, device=z0.device)
        tables = rope_tables(positions, self.head_dim)[0]  # [H, d/2]
        # per step, the query's and the key's phasors [2, 1, 1, d/2]; the query's carries the 1/√d of attention
        phasors = torch.stack([tables * self.head_dim ** -0.5, tables], dim=1)[:, :, None, None]
        cond = self.action(actions)
        mods = [block.step_modulation(cond) for block in self.blocks]  # all positions at once
        cache: list[tuple[list[Tensor], list[Tensor]]] = [([], []) for _ in self.blocks]
        z, outputs = z0[:, None], []
        for t in range(H):
            x = self.inp(z if not self.proprio_dim else torch.cat([z, proprio[:, t:t + 1].to(z.dtype)], dim=-1))
            for block, mod, (keys, values) in zip(self.blocks, mods, cache):
                x = block.step(x, mod, phasors[t], keys, values, t)
            z = self.out(self.norm(x)).to(z0.dtype)
            outputs.append(z)
        return torch.cat(outputs, dim=1)

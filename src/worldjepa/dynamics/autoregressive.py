"""An autoregressive world model (IRIS-like): a discrete frame tokenizer (VQ-VAE) and a causal transformer that
predicts the next frame's tokens one at a time from the past frames' tokens and the actions, sampled token by
token. A baseline of the other paradigm behind the same `Predictor` rule as the JEPA forms (dynamics/unroll.py):
its "latents" are frames (normalised pixels [3, S, S]), encoded to tokens on the way in and decoded on the way out.

    tokenizer:  frame → conv encoder → nearest of K code vectors at each of g × g cells → codes; codes → decoder
                loss |x̂ − x|² + |sg(e) − q|² + β·|e − sg(q)|²  (straight-through gradient; van den Oord et al. 2017)
    sequence:   [codes(x_1), a_1, codes(x_2), a_2, ...]  (g² frame tokens, then the action as one token)
    predictor:  causal transformer; the output at each position gives the distribution of the next frame token
                loss: cross-entropy of every frame token after the first frame (codes fixed, from the tokenizer)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.transformer import Block


class VQTokenizer(nn.Module):
    """Frames [B, 3, S, S] ↔ codes [B, g, g] in [0, codes), g = S / 2^len(channels)."""

    def __init__(self, image_size: int, codes: int = 64, dim: int = 32, channels: tuple[int, ...] = (32, 64, 64),
                 beta: float = 0.25):
        super().__init__()
        if image_size % 2 ** len(channels):
            raise ValueError(f"image size {image_size} is not divisible by 2^{len(channels)} (the tokenizer's downsampling)")
        self.grid, self.codes, self.beta = image_size // 2 ** len(channels), codes, beta
        down, c = [], 3
        for out in channels:
            down += [nn.Conv2d(c, out, 4, stride=2, padding=1), nn.SiLU()]
            c = out
        self.encoder = nn.Sequential(*down, nn.Conv2d(c, dim, 1))
        up = [nn.Conv2d(dim, c, 1), nn.SiLU()]
        for out in list(reversed(channels))[1:] + [channels[0]]:
            up += [nn.ConvTranspose2d(c, out, 4, stride=2, padding=1), nn.SiLU()]
            c = out
        self.decoder = nn.Sequential(*up, nn.Conv2d(c, 3, 3, padding=1))
        self.codebook = nn.Embedding(codes, dim)
        nn.init.uniform_(self.codebook.weight, -1 / codes, 1 / codes)

    def quantize(self, e: Tensor) -> tuple[Tensor, Tensor]:
        """(codes [B, g, g], their vectors [B, D, g, g]) of encoder outputs e [B, D, g, g]."""
        with torch.no_grad(), torch.autocast(e.device.type, enabled=False):  # fp32: bf16 distances tie and flip
            flat, book = e.permute(0, 2, 3, 1).reshape(-1, e.shape[1]).float(), self.codebook.weight.float()
            distance = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ book.T + book.pow(2).sum(1)[None]
        index = distance.argmin(1).view(e.shape[0], e.shape[2], e.shape[3])
        return index, self.codebook(index).permute(0, 3, 1, 2)

    @torch.no_grad()
    def restart_dead_codes(self, e: Tensor, index: Tensor) -> int:
        """Codes no cell of this batch chose move onto encoder outputs of the batch drawn at random (a tokenizer
        whose cells all fall on one code otherwise stays there: measured on two-rooms). Returns how many moved."""
        dead = torch.bincount(index.flatten(), minlength=self.codes) == 0
        count = int(dead.sum())
        if count:
            flat = e.detach().permute(0, 2, 3, 1).reshape(-1, e.shape[1]).float()
            pick = torch.randint(len(flat), (count,), generator=torch.Generator().manual_seed(int(index.sum())))
            self.codebook.weight[dead] = flat[pick.to(flat.device)].to(self.codebook.weight.dtype)
        return count

    @torch.no_grad()
    def tokenize(self, frames: Tensor) -> Tensor:
        return self.quantize(self.encoder(frames))[0]

    def detokenize(self, index: Tensor) -> Tensor:
        return self.decoder(self.codebook(index).permute(0, 3, 1, 2))

    def loss(self, frames: Tensor) -> tuple[Tensor, dict[str, float]]:
        e = self.encoder(frames)
        index, q = self.quantize(e)
        restarted = self.restart_dead_codes(e, index) if self.training else 0
        if restarted:
            index, q = self.quantize(e)
        straight = e + (q - e).detach()
        recon = (self.decoder(straight) - frames).pow(2).mean()
        codebook, commit = (q - e.detach()).pow(2).mean(), (e - q.detach()).pow(2).mean()
        return recon + codebook + self.beta * commit, {"reconstruction": float(recon.detach()),
                                                       "codes_restarted": float(restarted)}


class AutoregressivePredictor(nn.Module):
    """Next frame ~ p(codes(x_{t+1}) | codes and actions up to t), token by token (greedy at temperature 0),
    over at most `context` frames of history."""

    def __init__(self, image_size: int, action_dim: int, codes: int = 64, width: int = 128, depth: int = 4,
                 heads: int = 4, context: int = 4, tokenizer: dict | None = None, temperature: float = 0.0,
                 proprio_dim: int = 0, seed: int = 0, tokenizer_steps: int = 0):
        super().__init__()
        if proprio_dim:
            raise ValueError("the autoregressive baseline reads no proprio: set model.use_proprio=false")
        if context < 2:
            raise ValueError(f"context={context}: the predictor needs at least the frame it starts from and the next")
        self.image_size, self.action_dim, self.proprio_dim = image_size, action_dim, 0
        self.context, self.temperature, self.seed = context, temperature, seed
        self.tokenizer_steps = tokenizer_steps
        self.stage_starts = (tokenizer_steps,) if tokenizer_steps else ()  # the loss becomes cross-entropy there
        self.tokenizer = VQTokenizer(image_size, codes, **(tokenizer or {}))
        self.per_frame = self.tokenizer.grid ** 2 + 1  # frame tokens, then the action
        self.token_embed = nn.Embedding(codes, width)
        self.action_embed = nn.Linear(action_dim, width)
        self.position = nn.Parameter(torch.zeros(context * self.per_frame, width))
        nn.init.normal_(self.position, std=0.02)
        self.blocks = nn.ModuleList([Block(width, heads) for _ in range(depth)])
        self.norm, self.head = nn.LayerNorm(width), nn.Linear(width, codes)

    def sequence(self, index: Tensor, actions: Tensor) -> Tensor:
        """Embeddings [B, T·(g²+1), W] of codes [B, T, g, g] and actions [B, T, A], interleaved frame by frame."""
        B, T = index.shape[:2]
        frames = self.token_embed(index.flatten(2))  # [B, T, g², W]
        steps = torch.cat([frames, self.action_embed(actions)[:, :, None]], dim=2)
        return steps.flatten(1, 2)

    def logits(self, x: Tensor) -> Tensor:
        """Next-token logits [B, N, codes] of embeddings x [B, N, W] (causal: position i sees positions ≤ i)."""
        N = x.shape[1]
        x = x + self.position[:N]
        mask = torch.ones(N, N, dtype=torch.bool, device=x.device).tril()
        for block in self.blocks:
            x = block(x, None, mask)
        return self.head(self.norm(x))

    def token_loss(self, frames: Tensor, actions: Tensor, tokenizer: bool = True) -> tuple[Tensor, dict[str, float]]:
        """The cross-entropy of each frame token after the first frame, for frames [B, T, 3, S, S] and actions
        [B, T−1, A] (T ≤ context), plus the tokenizer's loss on every frame when `tokenizer` (trained jointly)."""
        B, T = frames.shape[:2]
        vq, parts = self.tokenizer.loss(frames.flatten(0, 1)) if tokenizer else (0.0, {})
        index = self.tokenizer.tokenize(frames.flatten(0, 1)).unflatten(0, (B, T))
        padded = torch.cat([actions, actions.new_zeros(B, 1, actions.shape[-1])], dim=1)  # the last action: unused
        logits = self.logits(self.sequence(index, padded))
        g2 = self.per_frame - 1
        # position p predicts token p + 1; frame k's tokens sit at k·(g²+1) … k·(g²+1) + g² − 1
        predicted = torch.cat([logits[:, k * self.per_frame - 1: k * self.per_frame - 1 + g2] for k in range(1, T)], 1)
        ce = F.cross_entropy(predicted.flatten(0, 1).float(), index[:, 1:].flatten(1).flatten())
        parts.update({"next_token": float(ce.detach())})
        return vq + ce, parts

    def training_loss(self, frames: Tensor, actions: Tensor, generator: torch.Generator | None = None,
                      step: int = 0) -> tuple[Tensor, dict[str, float]]:
        """IRIS's two stages in one run: the tokenizer alone for the first `tokenizer_steps` steps, then the
        transformer alone on the frozen tokenizer's codes (trained together, each code reassignment would change the
        transformer's targets under it: on two-rooms the loss then spikes ten-fold and training stops)."""
        if step < self.tokenizer_steps:
            return self.tokenizer.loss(frames.flatten(0, 1))
        self.tokenizer.requires_grad_(False)
        return self.token_loss(frames, actions, tokenizer=False)

    @torch.no_grad()
    def _generate(self, index: Tensor, actions: Tensor, generator: torch.Generator) -> Tensor:
        """Codes [B, g, g] of the frame after codes [B, T, g, g] under actions [B, T, A], one token at a time: the
        history passes the transformer once (causally, keeping each block's keys and values), then each new token
        attends to those and to the tokens generated before it (Block.forward_cached)."""
        B, g = index.shape[0], self.tokenizer.grid
        x = self.sequence(index[:, -self.context + 1:], actions[:, -self.context + 1:])
        N = x.shape[1]
        x = x + self.position[:N]
        mask = torch.ones(N, N, dtype=torch.bool, device=x.device).tril()
        keys, values = [], []
        for block in self.blocks:
            a = block.attn
            _, k, v = a.qkv(block.norm1(x)).view(B, N, 3, a.heads, a.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
            keys.append([k])
            values.append([v])
            x = block(x, None, mask)
        logits = self.head(self.norm(x[:, -1]))
        out = []
        for i in range(g * g):
            token = self._pick(logits, generator)
            out.append(token)
            if i == g * g - 1:
                break
            h = self.token_embed(token)[:, None] + self.position[N + i]
            for block, k, v in zip(self.blocks, keys, values):
                h = block.forward_cached(h, None, k, v)
            logits = self.head(self.norm(h[:, -1]))
        return torch.stack(out, 1).view(B, g, g)

    def _pick(self, logits: Tensor, generator: torch.Generator) -> Tensor:
        if self.temperature > 0:
            probs = (logits.float() / self.temperature).softmax(-1)
            return torch.multinomial(probs.cpu(), 1, generator=generator).to(logits.device)[:, 0]
        return logits.argmax(-1)

    @torch.no_grad()
    def _generate_uncached(self, index: Tensor, actions: Tensor, generator: torch.Generator) -> Tensor:
        """The same tokens by a whole causal pass per token (the reference the cached path is tested against)."""
        B, g = index.shape[0], self.tokenizer.grid
        prefix = self.sequence(index[:, -self.context + 1:], actions[:, -self.context + 1:])
        out = []
        for _ in range(g * g):
            token = self._pick(self.logits(prefix)[:, -1], generator)
            out.append(token)
            prefix = torch.cat([prefix, self.token_embed(token)[:, None]], dim=1)
        return torch.stack(out, 1).view(B, g, g)

    def rollout(self, z0: Tensor, actions: Tensor, proprio: Tensor | None = None) -> Tensor:
        """Frames z0 [B, 3, S, S], actions [B, H, A] → generated frames [B, H, 3, S, S], each fed back."""
        generator = torch.Generator().manual_seed(self.seed)
        index = self.tokenizer.tokenize(z0)[:, None]
        out = []
        for t in range(actions.shape[1]):
            frame = self.tokenizer.detokenize(self._generate(index, actions[:, :t + 1], generator))
            out.append(frame)
            # the frame fed back, as `feed_back` feeds it: tokenised again (decoding and encoding need not round-trip)
            index = torch.cat([index, self.tokenizer.tokenize(frame)[:, None]], dim=1)
        return torch.stack(out, dim=1)

    def forward(self, z: Tensor, actions: Tensor, proprio: Tensor | None = None) -> Tensor:
        """Teacher forcing (the Predictor rule): frames [B, T, 3, S, S], actions [B, T, A] → the frame generated
        after each from the observed frames up to it."""
        generator = torch.Generator().manual_seed(self.seed)
        B, T = z.shape[:2]
        index = self.tokenizer.tokenize(z.flatten(0, 1)).unflatten(0, (B, T))
        return torch.stack([self.tokenizer.detokenize(self._generate(index[:, :t + 1], actions[:, :t + 1], generator))
                            for t in range(T)], dim=1)

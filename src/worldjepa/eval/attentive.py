"""The attentive probe (V-JEPA 2 form): self-attention blocks over frozen tokens, then one cross-attention
block whose single learned query pools them, then a linear head.

    tokens [N, L, D] ─► Linear D→W ─► + learned position per token ─► `depth` pre-norm self-attention blocks
        ─► query q (learned) attends to them: q + CrossAttn(LN(q), LN(x)), q + MLP(LN(q)) ─► LN ─► Linear

The position embedding is the probe's own: a 3D-RoPE encoder has no absolute position table, so its
tokens say what is at a patch but not where, and tasks such as "which wall is hit next" need where.
The probe is trained with AdamW (one-cycle schedule) for each (learning rate, weight decay) of a small
sweep on nine tenths of the training samples; the setting that scores best on the last tenth is kept.
Only one self-attention block by default (V-JEPA 2 uses three): the probes here learn from a thousand
clips, not from a dataset, and a deeper probe only fits more slowly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.transformer import Block, init_vit_

SWEEP = ((3e-3, 0.01), (1e-3, 0.05))  # (learning rate, weight decay) pairs tried


class AttentiveProbe(nn.Module):
    def __init__(self, tokens: int, in_dim: int, out_dim: int, width: int = 64, heads: int = 4, depth: int = 1,
                 grid: tuple[int, ...] | None = None):
        super().__init__()
        self.inp = nn.Linear(in_dim, width)
        self.position = nn.Parameter(torch.zeros(tokens, width))
        # where each token sits, as smooth Fourier features of its grid coordinates: a learned table alone
        # would have to learn every position from the few probe samples
        grid = grid or (tokens,)
        if math.prod(grid) != tokens:
            raise ValueError(f"a token grid {grid} does not hold {tokens} tokens")
        axes = [torch.linspace(0, 1, n) for n in grid]
        coords = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(tokens, len(grid))
        freqs = torch.arange(1, 5) * math.pi
        self.register_buffer("fourier", torch.cat([torch.sin(coords[..., None] * freqs).flatten(1),
                                                   torch.cos(coords[..., None] * freqs).flatten(1)], 1))
        self.where = nn.Linear(self.fourier.shape[1], width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(depth))
        self.query = nn.Parameter(torch.zeros(1, 1, width))
        self.norm_q, self.norm_kv = nn.LayerNorm(width), nn.LayerNorm(width)
        self.cross = nn.MultiheadAttention(width, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, out_dim))
        init_vit_(self, self.blocks)
        nn.init.trunc_normal_(self.position, std=0.02)
        nn.init.trunc_normal_(self.query, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        x = self.inp(x) + self.position + self.where(self.fourier)
        for block in self.blocks:
            x = block(x)
        q = self.query.expand(x.shape[0], -1, -1)
        kv = self.norm_kv(x)
        q = q + self.cross(self.norm_q(q), kv, kv, need_weights=False)[0]
        q = q + self.mlp(q)
        return self.head(q[:, 0])


@dataclass
class FittedProbe:
    model: AttentiveProbe
    lr: float
    weight_decay: float
    val_score: float  # of the chosen setting, on the held-out tenth
    mean: Tensor
    std: Tensor

    @torch.no_grad()
    def predict(self, x: Tensor, batch: int = 256) -> Tensor:
        self.model.eval()
        out = [self.model((x[i:i + batch].float() - self.mean) / self.std) for i in range(0, len(x), batch)]
        return torch.cat(out)


def _loss(task: str, out: Tensor, y: Tensor) -> Tensor:
    if task == "regression":
        return F.mse_loss(out, y)
    return F.binary_cross_entropy_with_logits(out, y)  # multilabel


def _score(task: str, out: Tensor, y: Tensor) -> float:
    """Higher is better: −MSE for regression, −BCE for multilabel (what the probe minimises)."""
    return -float(_loss(task, out, y))


def _train(x: Tensor, y: Tensor, task: str, lr: float, wd: float, epochs: int, batch: int, seed: int,
           **shape) -> AttentiveProbe:
    torch.manual_seed(seed)
    model = AttentiveProbe(x.shape[1], x.shape[2], y.shape[1], **shape)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    steps = epochs * max(1, len(x) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    g = torch.Generator().manual_seed(seed)
    model.train()
    step = 0
    while step < steps:
        for idx in torch.randperm(len(x), generator=g).split(batch):
            if step >= steps or len(idx) < 2:
                break
            loss = _loss(task, model(x[idx]), y[idx])  # fp32: at this width autocast costs more than it saves
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
    return model


def fit_attentive(x: Tensor, y: Tensor, task: str = "regression", sweep=SWEEP, epochs: int = 60,
                  batch: int = 64, seed: int = 0, **shape) -> FittedProbe:
    """Fit on x [N, L, D] → y [N, K] ("regression" or "multilabel" with 0/1 targets); `sweep` holds the
    (learning rate, weight decay) pairs to try; `shape` goes to `AttentiveProbe` (width, heads, depth, grid)."""
    if task not in ("regression", "multilabel"):
        raise ValueError(f"task must be 'regression' or 'multilabel', got {task!r}")
    if x.dim() != 3 or y.dim() != 2 or len(x) != len(y):
        raise ValueError(f"expected tokens [N, L, D] and targets [N, K], got {tuple(x.shape)} and {tuple(y.shape)}")
    x, y = x.float(), y.float()
    mean, std = x.mean((0, 1)), x.std((0, 1)).clamp_min(1e-6)
    xs = (x - mean) / std
    sweep = list(sweep)
    if len(sweep) == 1:  # nothing to choose: train on everything
        (lr, wd), = sweep
        return FittedProbe(_train(xs, y, task, lr, wd, epochs, batch, seed, **shape), lr, wd, float("nan"), mean, std)
    n_val = max(1, len(x) // 10)
    best = None
    for lr, wd in sweep:
        model = _train(xs[:-n_val], y[:-n_val], task, lr, wd, epochs, batch, seed, **shape)
        with torch.no_grad():
            model.eval()
            score = _score(task, model(xs[-n_val:]), y[-n_val:])
        if best is None or score > best.val_score:
            best = FittedProbe(model, lr, wd, score, mean, std)
    return best

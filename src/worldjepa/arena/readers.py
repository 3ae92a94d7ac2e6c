"""State readers: how the arena reads a world's state (two-rooms: the agent's position; push-t: the agent's and the
block's positions) off any model's predictions, so that three paradigms' errors are counted in one unit.

A reader maps a model's "latent" space to the state: a small convolutional regressor on frames for the models
whose latents are frames (autoregressive, diffusion), a small MLP on latents for a JEPA model. It is trained on
real data only (frames, or the model's encodings of them, with their recorded state) and judged on held-out
episodes; it may judge predictions only if it reads real held-out data with R² >= `min_r2` (0.9): a reader that
cannot read the truth cannot say how far a prediction is from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..eval.probes import r2_per_column


def conv_reader(state_dim: int, channels: tuple[int, ...] = (16, 32, 32)) -> nn.Module:
    """Frames [B, 3, S, S] → state [B, state_dim]: strided convolutions, the map flattened, an MLP head."""
    layers, c = [], 3
    for out in channels:
        layers += [nn.Conv2d(c, out, 3, stride=2, padding=1), nn.SiLU()]
        c = out
    return nn.Sequential(*layers, nn.Flatten(), nn.LazyLinear(128), nn.SiLU(), nn.Linear(128, state_dim))


class SpatialSoftmax(nn.Module):
    """Feature maps [B, C, H, W] → each channel's expected (x, y) under its softmax over the map [B, 2C], in [-1, 1]
    (a keypoint per channel, as visuomotor policies read object positions)."""

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        p = x.float().flatten(2).softmax(-1).view(b, c, h, w)
        xs, ys = torch.linspace(-1, 1, w, device=x.device), torch.linspace(-1, 1, h, device=x.device)
        return torch.cat([(p.sum(2) * xs).sum(-1), (p.sum(3) * ys).sum(-1)], 1)


def keypoint_reader(state_dim: int, channels: int = 32) -> nn.Module:
    """Frames [B, 3, S, S] → state: convolutions at half resolution, a keypoint per channel, an MLP head. Positions
    of several objects generalise from fewer scenes than `conv_reader`'s flattened map: on push-t's real frames it
    reads R² 0.978 after 800 steps, where `conv_reader` stops near 0.90 (docs/arena.md)."""
    return nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.SiLU(), nn.Conv2d(16, channels, 3, padding=1),
                         nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1), SpatialSoftmax(),
                         nn.Linear(2 * channels, 128), nn.SiLU(), nn.Linear(128, state_dim))


FRAME_READERS = {"conv": conv_reader, "keypoints": keypoint_reader}


def latent_reader(state_dim: int, hidden: int = 256) -> nn.Module:
    """Latents [B, *L] → state [B, state_dim]: a two-layer MLP on the flattened latent."""
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(hidden), nn.SiLU(), nn.Linear(hidden, state_dim))


@dataclass
class Reader:
    """A trained reader and how well it reads real held-out data."""

    module: nn.Module
    mean: Tensor  # the state's mean and spread on the training data: the reader predicts standardised state
    std: Tensor
    held_out_r2: float  # the mean over the state's columns of `per_column`
    min_r2: float = 0.9
    per_column: tuple[float, ...] = ()  # R² of each state column on the held-out data

    @torch.no_grad()
    def read(self, latents: Tensor, chunk: int = 512) -> Tensor:
        """The state read off latents (or frames) [N, *L] → [N, state_dim]; refuses if the reader failed its check."""
        if not self.held_out_r2 >= self.min_r2:
            raise ValueError(f"this state reader reads held-out real data with R² {self.held_out_r2:.3f} < "
                             f"{self.min_r2}: it cannot judge predictions (train it longer or on more data)")
        return self._apply(latents, chunk)

    @torch.no_grad()
    def _apply(self, latents: Tensor, chunk: int = 512) -> Tensor:
        self.module.eval()
        out = torch.cat([self.module(latents[i:i + chunk].float()) for i in range(0, len(latents), chunk)])
        return out * self.std + self.mean


def fit_reader(module: nn.Module, train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], steps: int = 1500,
               batch: int = 128, lr: float = 2e-3, seed: int = 0, min_r2: float = 0.9) -> Reader:
    """Train `module` to read standardised state from inputs (AdamW, mean squared error), then its R² on `test`."""
    x, y = train
    mean, std = y.float().mean(0), y.float().std(0).clamp_min(1e-6)
    target = (y.float() - mean) / std
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    module(x[:2].float())  # materialise lazy layers
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    module.train()
    for _ in range(steps):
        pick = torch.randint(len(x), (min(batch, len(x)),), generator=generator)
        optimizer.zero_grad(set_to_none=True)
        (module(x[pick].float()) - target[pick]).pow(2).mean().backward()
        optimizer.step()
        schedule.step()
    reader = Reader(module, mean, std, held_out_r2=float("nan"), min_r2=min_r2)
    per_column = r2_per_column(test[1].float(), reader._apply(test[0]))
    reader.per_column, reader.held_out_r2 = tuple(per_column.tolist()), float(per_column.mean())
    return reader

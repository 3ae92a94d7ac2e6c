"""Frozen-feature extraction: observations → patch features on the token grid, in batches, no grad."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch
from torch import Tensor

from ..data.batches import to_tensor
from ..nn.encoder import Encoder


@torch.inference_mode()
def patch_features(encoder: Encoder, frames: np.ndarray, batch_size: int = 32, bf16: bool = True) -> Tensor:
    """uint8 clips [B, T, H, W, 3] (or images [B, H, W, 3]) → float32 features [B, T', H', W', D]
    (images: [B, 1, H', W', D]) from the encoder's last level."""
    encoder.eval()
    outputs = []
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    for start in range(0, len(frames), batch_size):
        obs = to_tensor(frames[start:start + batch_size])
        with autocast:
            tokens = encoder.tokenize(obs)
            z = encoder.encode_tokens(tokens)
        outputs.append(z.float().reshape(z.shape[0], *tokens.grid, z.shape[-1]))
    return torch.cat(outputs)

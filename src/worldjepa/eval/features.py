"""Frozen-feature extraction: observations → patch features on the token grid, in batches, no grad.

Features are computed where the encoder is (move it with `.to(device)` first) and returned on the CPU."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..data.batches import to_tensor
from ..device import autocast
from ..nn.encoder import Encoder


@torch.inference_mode()
def patch_features(encoder: Encoder, frames: np.ndarray, batch_size: int = 32, precision: str = "bf16",
                   all_levels: bool = False) -> Tensor:
    """uint8 clips [B, T, H, W, 3] (or images [B, H, W, 3]) → float32 features [B, T', H', W', D]
    (images: [B, 1, H', W', D]) from the encoder's last level, or its levels concatenated ([…, L·D])."""
    encoder.eval()
    device = next(encoder.parameters()).device
    outputs = []
    for start in range(0, len(frames), batch_size):
        obs = to_tensor(frames[start:start + batch_size]).to(device)
        with autocast(device, precision):
            tokens = encoder.tokenize(obs)
            z = encoder.encode_tokens(tokens, all_levels=all_levels)
        outputs.append(z.float().reshape(z.shape[0], *tokens.grid, z.shape[-1]).cpu())
    return torch.cat(outputs)

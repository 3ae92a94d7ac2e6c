"""A light caption decoder: predicted embedding → words, trained after VL-JEPA and run only at inference.

The paper decodes its predicted embeddings with a small text decoder, called only when selective decoding asks.
Here a GRU starts from a linear map of the (L2-normalised) embedding and writes the description word by word
(greedy), trained by next-word cross-entropy on the frozen VL-JEPA model's caption embeddings of the training clips
against their descriptions in the first template, through the one trainer (`train_decoder`, RUN/decoder).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import OptimConfig, TrainConfig
from ..data.batches import Batch
from ..train.checkpoint import CHECKPOINT, load_checkpoint, load_module
from ..train.objective import Losses
from ..train.trainer import Trainer
from .captioner import _join
from .model import WordTokenizer


class CaptionDecoder(nn.Module):
    def __init__(self, dim: int, texts: list[str], width: int = 256):
        super().__init__()
        self.tokenizer = WordTokenizer.of(texts)
        self.start = nn.Linear(dim, width)
        self.words = nn.Embedding(len(self.tokenizer.pieces), width)
        self.gru = nn.GRU(width, width, batch_first=True)
        self.head = nn.Linear(width, len(self.tokenizer.pieces))

    def loss(self, embeddings: Tensor, ids: Tensor, mask: Tensor) -> Tensor:
        """Next-word cross-entropy of texts ids [B, N] ([CLS] words [SEP]) from embeddings [B, d]."""
        h0 = torch.tanh(self.start(embeddings))[None]
        out, _ = self.gru(self.words(ids[:, :-1]), h0)
        logits = self.head(out)
        keep = mask[:, 1:]
        return F.cross_entropy(logits[keep].float(), ids[:, 1:][keep])

    @torch.no_grad()
    def __call__(self, embeddings: Tensor, max_words: int = 64) -> list[str]:
        B = embeddings.shape[0]
        h = torch.tanh(self.start(embeddings))[None]
        word = torch.full((B, 1), self.tokenizer.cls, dtype=torch.long)
        out, done = [], torch.zeros(B, dtype=torch.bool)
        for _ in range(max_words):
            step, h = self.gru(self.words(word), h)
            word = self.head(step).argmax(-1)
            out.append(word[:, 0])
            done |= word[:, 0] == self.tokenizer.sep
            if done.all():
                break
        ids = torch.stack(out, 1).tolist()
        pieces, sep = self.tokenizer.pieces, self.tokenizer.sep
        return [_join([pieces[i] for i in row[:row.index(sep)] if i != self.tokenizer.pad] if sep in row else
                      [pieces[i] for i in row]) for row in ids]


class _DecoderObjective(nn.Module):
    def __init__(self, decoder: CaptionDecoder):
        super().__init__()
        self.decoder = decoder

    def trainable(self) -> nn.Module:
        return self.decoder

    def loss(self, batch: Batch, step: int) -> Losses:
        loss = self.decoder.loss(batch.features, batch.text["ids"], batch.text["mask"])
        return Losses(loss, {"next_word": float(loss.detach())})

    def after_step(self, step: int) -> dict[str, float]:
        return {}

    def monitors(self, batch: Batch, step: int) -> dict[str, float]:
        return {}


class _Pairs:
    """Step → a batch of (embedding, description) pairs drawn at random (a pure function of the step)."""

    def __init__(self, embeddings: Tensor, texts: list[str], decoder: CaptionDecoder, batch_size: int, seed: int):
        self.embeddings, self.texts, self.decoder = embeddings, texts, decoder
        self.batch_size, self.seed = batch_size, seed
        self.num_videos, self.num_images = batch_size, 0

    def batch(self, step: int, micro: int = 0) -> Batch:
        pick = np.random.default_rng([self.seed, step, micro, 41]).integers(0, len(self.texts), self.batch_size)
        ids, mask = self.decoder.tokenizer([self.texts[i] for i in pick])
        return Batch(features=self.embeddings[pick], text={"ids": ids, "mask": mask})


def train_decoder(embeddings: Tensor, texts: list[str], out: str | Path, steps: int = 800, batch_size: int = 64,
                  lr: float = 3e-3, seed: int = 0, progress: bool = False) -> CaptionDecoder:
    """Train (or load, when `out` holds a finished one) a decoder from embeddings [N, d] to `texts` [N]."""
    torch.manual_seed(seed)
    decoder = CaptionDecoder(embeddings.shape[1], sorted(set(texts)))
    trainer = Trainer(_DecoderObjective(decoder), _Pairs(embeddings, texts, decoder, batch_size, seed),
                      OptimConfig(lr=lr, warmup_steps=20), TrainConfig(steps=steps, precision="fp32", log_every=100,
                                                                        checkpoint_every=steps),
                      out, kind="vl", config={"decoder": {"steps": steps, "batch_size": batch_size, "lr": lr}},
                      progress=progress)
    trainer.fit()
    tensors, _ = load_checkpoint(Path(out) / CHECKPOINT)
    load_module(decoder, tensors, "objective.decoder")
    return decoder.eval()

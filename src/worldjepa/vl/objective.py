"""VL-JEPA's objective for the one trainer: the bidirectional InfoNCE between predicted and target text embeddings.

    L = ½ [ −mean_i log Σ_{k ∈ P(i)} softmax_k(ŝ_i · s_k / τ) − mean_k log Σ_{i ∈ P(k)} softmax_i(ŝ_i · s_k / τ) ]

with ŝ the predictor's embeddings and s the Y side's, both L2-normalised, and P(i) the rows whose answer is the same
text as row i's (a repeated caption or answer is a positive, not a negative). The paper found this loss 7 to 19
points better than regressing the embedding (cosine, L1, L2). `VLSource` draws each step's (clip, query, answer)
triples from the training clips and the templates not held out, as a pure function of the step: descriptions only
during stage 1 (`data.caption_share` of the steps), then descriptions and questions.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.batches import Batch
from ..train.objective import Losses
from .data import VLData
from .model import VLJepa


def info_nce(predicted: Tensor, target: Tensor, group: Tensor, temperature: float) -> Tensor:
    """The bidirectional InfoNCE of L2-normalised embeddings [B, d]; rows of the same `group` are positives."""
    logits = (predicted.float() @ target.float().T) / temperature
    positive = group[:, None] == group[None, :]

    def one_way(scores: Tensor, pos: Tensor) -> Tensor:
        return (scores.logsumexp(1) - scores.masked_fill(~pos, float("-inf")).logsumexp(1)).mean()

    return 0.5 * (one_way(logits, positive) + one_way(logits.T, positive.T))


class VLSource:
    def __init__(self, data: VLData, model: VLJepa, batch_size: int, steps: int, caption_share: float, seed: int):
        self.features, self.tokens = data.features, model.tokens
        self.captions = data.items("train", held_out=False, questions=False)
        self.questions = data.items("train", held_out=False, questions=True)
        if not self.captions:
            raise ValueError("the VL data holds no training descriptions: is every clip in the test split?")
        self.batch_size, self.seed = batch_size, seed
        self.stage2 = int(round(caption_share * steps)) if self.questions else steps
        self.num_videos, self.num_images = batch_size, 0

    def batch(self, step: int, micro: int = 0) -> Batch:
        rng = np.random.default_rng([self.seed, step, micro, 31])
        pool = self.captions if step < self.stage2 else self.captions + self.questions
        items = [pool[i] for i in rng.integers(0, len(pool), self.batch_size)]
        query_ids, query_mask = self.tokens([t.query for t in items])
        answer_ids, answer_mask = self.tokens([t.answer for t in items])
        answers = {a: i for i, a in enumerate(dict.fromkeys(t.answer for t in items))}
        return Batch(features=self.features[[t.clip for t in items]],
                     text={"query_ids": query_ids, "query_mask": query_mask, "answer_ids": answer_ids,
                           "answer_mask": answer_mask, "group": torch.tensor([answers[t.answer] for t in items])})


class VLObjective(nn.Module):
    def __init__(self, model: VLJepa, stage2: int = 0):
        super().__init__()
        self.model = model
        self.stage_starts = (stage2,) if stage2 > 0 else ()  # questions join the descriptions there

    def trainable(self) -> nn.Module:
        return self.model

    def embeddings(self, batch: Batch) -> tuple[Tensor, Tensor]:
        t = batch.text
        predicted = self.model.predict(batch.features, t["query_ids"], t["query_mask"])
        return F.normalize(predicted.float(), dim=-1), F.normalize(self.model.embed_text(t["answer_ids"], t["answer_mask"]).float(), dim=-1)

    def loss(self, batch: Batch, step: int) -> Losses:
        if batch.features is None or batch.text is None:
            raise ValueError("VL batches need cached visual features and texts (VLSource)")
        predicted, target = self.embeddings(batch)
        loss = info_nce(predicted, target, batch.text["group"], self.model.cfg.temperature)
        nearest = (predicted @ target.T).argmax(1)
        hit = batch.text["group"][nearest] == batch.text["group"]
        return Losses(loss, {"infonce": float(loss.detach()), "top1": float(hit.float().mean())})

    def after_step(self, step: int) -> dict[str, float]:
        return {}

    def monitors(self, batch: Batch, step: int) -> dict[str, float]:
        return {}


class CaptionerObjective(nn.Module):
    """The token captioner's next-word cross-entropy on the same batches (vl/captioner.py)."""

    def __init__(self, model, stage2: int = 0):
        super().__init__()
        self.model = model
        self.stage_starts = (stage2,) if stage2 > 0 else ()  # short answers join the descriptions there

    def trainable(self) -> nn.Module:
        return self.model

    def loss(self, batch: Batch, step: int) -> Losses:
        t = batch.text
        loss = self.model.loss(batch.features, t["query_ids"], t["query_mask"], t["answer_ids"], t["answer_mask"])
        return Losses(loss, {"next_word": float(loss.detach())})

    def after_step(self, step: int) -> dict[str, float]:
        return {}

    def monitors(self, batch: Batch, step: int) -> dict[str, float]:
        return {}

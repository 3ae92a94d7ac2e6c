"""The controlled comparison's other side: a token-generative captioner on the same frozen visual features.

A small VLM of the usual kind: the visual tokens (projected) and the query's words form a prefix that attends both
ways; the answer's words follow, each seeing the prefix and the words before it (a causal mask), and the model is
trained by the cross-entropy of every answer word and the end token ([SEP]). It reads the same cached features,
data, batches and schedule as VL-JEPA (`model.kind=tokens` in the same `vl train`). It answers by generating
(greedy) or, where candidates are given, by the lowest perplexity: the classification prompts and the VQA choices.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import VLModelConfig
from ..nn.transformer import Block
from .model import WordTokenizer


class TokenCaptioner(nn.Module):
    def __init__(self, cfg: VLModelConfig, visual_dim: int, visual_tokens: int, texts: list[str], seed: int = 0,
                 max_words: int = 96):
        super().__init__()
        torch.manual_seed(seed)
        self.cfg, self.tokenizer, W = cfg, WordTokenizer.of(texts), cfg.token_width
        self.max_words = max_words
        self.visual = nn.Linear(visual_dim, W)
        self.words = nn.Embedding(len(self.tokenizer.pieces), W)
        self.position = nn.Parameter(torch.randn(visual_tokens + max_words + 1, W) * 0.02)
        self.blocks = nn.ModuleList([Block(W, cfg.token_heads) for _ in range(cfg.token_depth)])
        self.norm, self.head = nn.LayerNorm(W), nn.Linear(W, len(self.tokenizer.pieces))

    def tokens(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        """Word ids [B, N] and mask, without [CLS]: a query is its words; an answer its words then [SEP] (the end);
        at most `max_words` // 2 each (longer texts are cut)."""
        ids, mask = self.tokenizer([t or "" for t in texts])
        keep = self.max_words // 2
        ids, mask = ids[:, 1:keep + 1], mask[:, 1:keep + 1].clone()
        mask[torch.tensor([not t for t in texts])] = False  # an empty query: no word at all (nor its [SEP])
        return ids, mask

    def _logits(self, features: Tensor, query_ids: Tensor, query_mask: Tensor, answer_ids: Tensor,
                answer_mask: Tensor) -> Tensor:
        """Logits [B, A, vocab] of each answer position's next word. The sequence is [visual][query][BOS][answer];
        the prefix up to BOS attends both ways, the answer causally; positions count real tokens only, so a row's
        result does not depend on how much padding its batch needs."""
        B, V = features.shape[:2]
        Q, A = query_ids.shape[1], answer_ids.shape[1]
        bos = torch.full((B, 1), self.tokenizer.cls, dtype=torch.long, device=features.device)
        x = torch.cat([self.visual(features), self.words(query_ids), self.words(bos), self.words(answer_ids)], dim=1)
        real = torch.cat([torch.ones(B, V, dtype=torch.bool, device=x.device), query_mask,
                          torch.ones(B, 1, dtype=torch.bool, device=x.device), answer_mask], dim=1)
        x = x + self.position[(real.long().cumsum(1) - 1).clamp_min(0)]
        prefix, N = V + Q + 1, x.shape[1]
        causal = torch.ones(N, N, dtype=torch.bool, device=x.device).tril()
        causal[:prefix, :prefix] = True  # the prefix attends both ways
        mask = causal[None, None] & real[:, None, None, :]
        mask = mask | torch.eye(N, dtype=torch.bool, device=x.device)[None, None]  # padding attends to itself
        for block in self.blocks:
            x = block(x, None, mask)
        # BOS predicts the first answer word, answer word j − 1 the word j
        return self.head(self.norm(x[:, prefix - 1:prefix - 1 + A]))

    def loss(self, features, query_ids, query_mask, answer_ids, answer_mask) -> Tensor:
        logits = self._logits(features, query_ids, query_mask, answer_ids, answer_mask)
        return F.cross_entropy(logits[answer_mask].float(), answer_ids[answer_mask])

    @torch.no_grad()
    def log_likelihood(self, features: Tensor, queries: list[str], answers: list[str],
                       per_word: bool = False) -> Tensor:
        """Σ log p(answer words and end | clip, query) [B] for aligned rows (its mean per word with `per_word`:
        minus the log of the perplexity)."""
        q_ids, q_mask = self.tokens(queries)
        a_ids, a_mask = self.tokens(answers)
        logp = self._logits(features, q_ids, q_mask, a_ids, a_mask).float().log_softmax(-1)
        total = (logp.gather(-1, a_ids[..., None])[..., 0] * a_mask).sum(1)
        return total / a_mask.sum(1) if per_word else total

    @torch.no_grad()
    def generate(self, features: Tensor, queries: list[str], max_words: int = 48) -> list[str]:
        max_words = min(max_words, self.max_words // 2)
        """Greedy answers of clips `features` [B, V, D] to `queries` ("" = caption)."""
        B = features.shape[0]
        q_ids, q_mask = self.tokens(queries)
        out = torch.zeros(B, 0, dtype=torch.long)
        done = torch.zeros(B, dtype=torch.bool)
        for _ in range(max_words):
            step_ids = torch.cat([out, torch.zeros(B, 1, dtype=torch.long)], 1)
            step_mask = torch.ones_like(step_ids, dtype=torch.bool)
            nxt = self._logits(features, q_ids, q_mask, step_ids, step_mask)[:, -1].argmax(-1)
            nxt[done] = self.tokenizer.pad
            out = torch.cat([out, nxt[:, None]], 1)
            done |= nxt == self.tokenizer.sep
            if done.all():
                break
        pieces = self.tokenizer.pieces
        return [_join([pieces[i] for i in row.tolist() if i not in (self.tokenizer.pad, self.tokenizer.sep)])
                for row in self._until_end(out)]

    def _until_end(self, ids: Tensor) -> list[Tensor]:
        rows = []
        for row in ids:
            end = (row == self.tokenizer.sep).nonzero()
            rows.append(row[:int(end[0])] if len(end) else row)
        return rows


def _join(words: list[str]) -> str:
    text = " ".join(words)
    for mark in (",", ".", "?", ";"):
        text = text.replace(f" {mark}", mark)
    return text

"""The controlled comparison's other side: a token-generative captioner on the same frozen visual features.

A small VLM of the usual kind: the visual tokens (projected) and the query's words form a prefix that attends both
ways; the answer's words follow, each seeing the prefix and the words before it (a causal mask), and the model is
trained by the cross-entropy of every answer word and the end token ([SEP]). It reads the same cached features,
data, batches and schedule as VL-JEPA (`model.kind=tokens` in the same `vl train`). It answers by generating
(greedy) or, where candidates are given, by the lowest perplexity: the classification prompts and the VQA choices.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    def _prefix(self, features: Tensor, query_ids: Tensor, query_mask: Tensor) -> "Cache":
        """[visual][query][BOS], attending both ways among its real tokens: the cache the answer's words read.
        Positions count real tokens only, so a row's result does not depend on how much padding its batch needs."""
        B, V = features.shape[:2]
        bos = torch.full((B, 1), self.tokenizer.cls, dtype=torch.long, device=features.device)
        x = torch.cat([self.visual(features), self.words(query_ids), self.words(bos)], dim=1)
        real = torch.cat([torch.ones(B, V, dtype=torch.bool, device=x.device), query_mask,
                          torch.ones(B, 1, dtype=torch.bool, device=x.device)], dim=1)
        x = x + self.position[(real.long().cumsum(1) - 1).clamp_min(0)]
        N = x.shape[1]
        # no real token sees padding; a padding token sees the real ones and itself (so no row of the mask is empty)
        mask = (real[:, None, :] | torch.eye(N, dtype=torch.bool, device=x.device)[None])[:, None]
        keys, values = [[] for _ in self.blocks], [[] for _ in self.blocks]
        for block, k, v in zip(self.blocks, keys, values):
            x = block.forward_cached(x, None, k, v, mask)
        return Cache(keys, values, real, x[:, -1:])

    def _grow(self, cache: "Cache", ids: Tensor, mask: Tensor) -> Tensor:
        """Outputs [B, n, W] of words `ids` [B, n] (real where `mask`) appended after the cached tokens: each sees
        the cached real tokens and the real words before it. Their keys and values join `cache` in place (so a cache
        serves one continuation: `Cache.select` copies one for another)."""
        B, n = ids.shape
        x = self.words(ids) + self.position[cache.real.sum(1, keepdim=True) + mask.long().cumsum(1) - 1]
        own = torch.ones(n, n, dtype=torch.bool, device=ids.device).tril() & mask[:, None, :]
        own = own | torch.eye(n, dtype=torch.bool, device=ids.device)[None]
        attend = torch.cat([cache.real[:, None, :].expand(B, n, -1), own], dim=2)[:, None]
        for block, keys, values in zip(self.blocks, cache.keys, cache.values):
            x = block.forward_cached(x, None, keys, values, attend)
        cache.real = torch.cat([cache.real, mask], dim=1)
        cache.last = x[:, -1:]
        return x

    def _logits(self, features: Tensor, query_ids: Tensor, query_mask: Tensor, answer_ids: Tensor,
                answer_mask: Tensor) -> Tensor:
        """Logits [B, A, vocab] of each answer position's next word: BOS predicts the first answer word, answer
        word j − 1 the word j (so the last word is never read)."""
        return self._answer_logits(self._prefix(features, query_ids, query_mask), answer_ids, answer_mask)

    def _answer_logits(self, cache: "Cache", answer_ids: Tensor, answer_mask: Tensor) -> Tensor:
        first = cache.last
        if answer_ids.shape[1] > 1:
            first = torch.cat([first, self._grow(cache, answer_ids[:, :-1], answer_mask[:, :-1])], dim=1)
        return self.head(self.norm(first))

    def loss(self, features, query_ids, query_mask, answer_ids, answer_mask) -> Tensor:
        logits = self._logits(features, query_ids, query_mask, answer_ids, answer_mask)
        return F.cross_entropy(logits[answer_mask].float(), answer_ids[answer_mask])

    @torch.no_grad()
    def log_likelihood(self, features: Tensor, queries: list[str], answers: list[str],
                       per_word: bool = False) -> Tensor:
        """Σ log p(answer words and end | clip, query) [B] for aligned rows (its mean per word with `per_word`:
        minus the log of the perplexity)."""
        return self._score(self._prefix(features, *self.tokens(queries)), answers, per_word)

    @torch.no_grad()
    def candidate_log_likelihood(self, features: Tensor, queries: list[str], candidates: list[list[str]],
                                 per_word: bool = True) -> Tensor:
        """`log_likelihood` (per word by default) of every row's candidates, flat in order [Σ len(candidates)]: each
        clip and query is read once and its cache shared by its candidates."""
        cache = self._prefix(features, *self.tokens(queries))
        rows = torch.tensor([i for i, cands in enumerate(candidates) for _ in cands], dtype=torch.long,
                            device=features.device)
        return self._score(cache.select(rows), [c for cands in candidates for c in cands], per_word)

    def _score(self, cache: "Cache", answers: list[str], per_word: bool) -> Tensor:
        a_ids, a_mask = self.tokens(answers)
        logp = self._answer_logits(cache, a_ids, a_mask).float().log_softmax(-1)
        total = (logp.gather(-1, a_ids[..., None])[..., 0] * a_mask).sum(1)
        return total / a_mask.sum(1) if per_word else total

    @torch.no_grad()
    def generate(self, features: Tensor, queries: list[str], max_words: int = 48) -> list[str]:
        """Greedy answers of clips `features` [B, V, D] to `queries` ("" = caption)."""
        pieces = self.tokenizer.pieces
        return [_join([pieces[i] for i in row.tolist() if i not in (self.tokenizer.pad, self.tokenizer.sep)])
                for row in self._until_end(self.greedy_ids(features, queries, max_words))]

    @torch.no_grad()
    def greedy_ids(self, features: Tensor, queries: list[str], max_words: int = 48) -> Tensor:
        """Word ids [B, ≤ max_words] of the greedy answers, one word at a time on the cache: a row's end ([SEP]) is
        followed by padding until every row has ended."""
        max_words = min(max_words, self.max_words // 2)
        B = features.shape[0]
        if max_words <= 0:
            return torch.zeros(B, 0, dtype=torch.long, device=features.device)
        cache = self._prefix(features, *self.tokens(queries))
        words, done = [], torch.zeros(B, dtype=torch.bool, device=features.device)
        h = cache.last
        for step in range(max_words):
            nxt = self.head(self.norm(h[:, -1])).argmax(-1)
            nxt[done] = self.tokenizer.pad
            words.append(nxt)
            done |= nxt == self.tokenizer.sep
            if done.all() or step == max_words - 1:
                break
            h = self._grow(cache, nxt[:, None], torch.ones(B, 1, dtype=torch.bool, device=features.device))
        return torch.stack(words, 1)

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


@dataclass
class Cache:
    """Per block the keys and values [B, heads, K, d] of the tokens read so far, which of them are real [B, K],
    and the last token's output [B, 1, W]."""

    keys: list[list[Tensor]]
    values: list[list[Tensor]]
    real: Tensor
    last: Tensor

    def select(self, rows: Tensor) -> "Cache":
        """The cache of rows `rows` (repeats allowed): one prefix shared by several continuations."""
        return Cache([[k.index_select(0, rows) for k in ks] for ks in self.keys],
                     [[v.index_select(0, rows) for v in vs] for vs in self.values],
                     self.real.index_select(0, rows), self.last.index_select(0, rows))

"""VL-JEPA's model: a predictor from visual tokens and a text query to a text embedding, and the text side (Y).

    predictor:  [visual tokens → linear; query → the text encoder's tokenizer and (frozen) embeddings]
                → L bidirectional layers (no causal mask) → mean over real tokens → linear → shared space
    Y side:     answer text → text encoder → mean over real tokens → linear → shared space

The faithful predictor starts from the last L layers of the text encoder (the paper takes the last 8 of Llama-3.2-1B's
16); `predictor_init="scratch"` draws them at random (the paper's "no LLM initialisation" ablation). The text encoder
is all-MiniLM-L6-v2 (vl/minilm.py), frozen by default with a trained head, or fine-tuned at `text_lr_scale` of the
learning rate (the paper: 0.05); `text="scratch"` is a small encoder of the same form over the words of the
generated texts, trained from random weights at the full rate (when MiniLM is not installed).
"""

from __future__ import annotations

import copy
import re

import torch
from torch import Tensor, nn

from ..config import VLModelConfig
from .minilm import Bert, WordPiece, load_minilm, mean_over


class WordTokenizer:
    """Whole lower-case words of a fixed vocabulary (the scratch text encoder's), unknown words as [UNK]."""

    SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")

    def __init__(self, vocab: list[str]):
        self.pieces = list(self.SPECIAL) + sorted(set(vocab) - set(self.SPECIAL))
        self.vocab = {w: i for i, w in enumerate(self.pieces)}
        self.pad, self.unk, self.cls, self.sep = range(4)

    @classmethod
    def of(cls, texts: list[str]) -> "WordTokenizer":
        return cls(sorted({w for t in texts for w in cls.split(t)}))

    @staticmethod
    def split(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text.lower())

    def encode(self, text: str) -> list[int]:
        return [self.cls, *(self.vocab.get(w, self.unk) for w in self.split(text)), self.sep]

    def __call__(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        rows = [self.encode(t) for t in texts]
        ids = torch.zeros(len(rows), max(len(r) for r in rows), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
        return ids, ids != self.pad


def text_side(cfg: VLModelConfig, texts: list[str]) -> tuple[WordPiece | WordTokenizer, Bert]:
    """The tokenizer and encoder of `cfg.text`: MiniLM's, or a scratch one over the words of `texts`."""
    if cfg.text == "minilm":
        return load_minilm()
    tokenizer = WordTokenizer.of(texts)
    return tokenizer, Bert(len(tokenizer.pieces), cfg.scratch_width, cfg.scratch_depth, cfg.scratch_heads,
                           4 * cfg.scratch_width, positions=128)


class VLJepa(nn.Module):
    def __init__(self, cfg: VLModelConfig, visual_dim: int, visual_tokens: int, tokenizer, text: Bert, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        if cfg.predictor_layers > len(text.layers):
            raise ValueError(f"model.predictor_layers={cfg.predictor_layers}: the text encoder has only "
                             f"{len(text.layers)} layers to start the predictor from")
        self.cfg, self.tokenizer, W = cfg, tokenizer, text.dim
        self.visual = nn.Linear(visual_dim, W)
        self.visual_position = nn.Parameter(torch.randn(visual_tokens, W) * 0.02)
        # the query's embeddings: the text encoder's, frozen (the predictor learns what to do with them)
        self.query_embedding = copy.deepcopy(text).requires_grad_(False)
        self.query_embedding.layers = nn.ModuleList()
        layers = copy.deepcopy(text.layers[len(text.layers) - cfg.predictor_layers:])
        if cfg.predictor_init == "scratch":
            for layer in layers:
                for m in layer.modules():
                    if isinstance(m, (nn.Linear, nn.LayerNorm)):
                        m.reset_parameters()
        self.layers = layers.requires_grad_(True)
        self.head = nn.Linear(W, cfg.shared_dim)
        self.text = text.requires_grad_(cfg.text == "scratch" or cfg.text_lr_scale > 0)
        self.text_head = nn.Linear(text.dim, cfg.shared_dim)
        scale = 1.0 if cfg.text == "scratch" else cfg.text_lr_scale
        for p in self.text.parameters():
            p.lr_scale = scale  # the trainer's param groups read it (train/trainer.py)

    def predict(self, visual: Tensor, query_ids: Tensor, query_mask: Tensor) -> Tensor:
        """Predicted embeddings [B, d] of visual tokens [B, V, Dx] and queries [B, N] (a row of no real query
        tokens predicts from the visual tokens alone: a caption)."""
        v = self.visual(visual) + self.visual_position[:visual.shape[1]]
        x = torch.cat([v, self.query_embedding.embed(query_ids)], dim=1)
        mask = torch.cat([torch.ones(visual.shape[:2], dtype=torch.bool, device=visual.device), query_mask], dim=1)
        for layer in self.layers:
            x = layer(x, mask)
        return self.head(mean_over(x, mask))

    def embed_text(self, ids: Tensor, mask: Tensor) -> Tensor:
        """Target embeddings [B, d] of texts [B, N] (Y side)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and next(self.text.parameters()).requires_grad):
            states = mean_over(self.text(ids, mask), mask)
        return self.text_head(states)

    def tokens(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        """Ids and mask of `texts`; an empty text gives a row of padding (no real token)."""
        ids, mask = self.tokenizer([t or "" for t in texts])
        empty = torch.tensor([not t for t in texts])
        mask[empty] = False
        return ids, mask

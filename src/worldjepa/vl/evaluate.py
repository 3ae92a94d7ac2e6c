"""VL-JEPA's evaluations by nearest embedding, on the test clips (never trained on).

- zero-shot classification, top-1: a clip's caption embedding (no query) against one prompt per class written in
  the held-out template (and, beside it, a template seen in training): its ball count (1 to 5) and its first wall
  bounce (colour × wall);
- text-to-video retrieval, R@1 and R@5: each test clip's description in the held-out template retrieves among all
  test clips' caption embeddings;
- multiple-choice VQA, accuracy per question type: the embedding predicted from the clip and the question against
  the target embeddings of the candidate answers;
- one-attribute swaps (SugarCrepe++-style): a test description against the same text with one colour, wall or
  number changed; right when the clip's caption embedding is nearer the true text. Beside it, how alike MiniLM
  alone finds the pair (their cosine), which says how much the trained heads must separate;
- captioning: the nearest training description to the clip's caption embedding (`NearestCaption`), scored by
  CIDEr-D against the clip's description in every template and by the F1 of its facts (clauses);
- selective decoding on the long clips (vl/selective.py): decodes per second against CIDEr-D.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .captions import CAPTIONS, COLOURS, NUMBERS, PARAPHRASES, fill
from .data import VLData
from .metrics import cider_d, recall_at
from .minilm import mean_over
from .model import VLJepa
from .selective import fewer_decodes, selective_curves

WALL_WORDS = ("left", "right", "top", "bottom")


@torch.no_grad()
def predicted(model: VLJepa, features: Tensor, queries: list[str], batch: int = 256) -> Tensor:
    """L2-normalised predicted embeddings [N, d] of clips `features` [N, V, D] asked `queries` ("" = caption)."""
    out = []
    for i in range(0, len(queries), batch):
        ids, mask = model.tokens(queries[i:i + batch])
        out.append(F.normalize(model.predict(features[i:i + batch], ids, mask).float(), dim=-1))
    return torch.cat(out)


@torch.no_grad()
def targets(model: VLJepa, texts: list[str], batch: int = 256) -> Tensor:
    """L2-normalised target embeddings [M, d] of `texts` (Y side)."""
    out = []
    for i in range(0, len(texts), batch):
        out.append(F.normalize(model.embed_text(*model.tokens(texts[i:i + batch])).float(), dim=-1))
    return torch.cat(out)


def classification(model: VLJepa, data: VLData, captions: Tensor, test: np.ndarray) -> dict[str, float]:
    colours = COLOURS[:max(NUMBERS.index(n) for n in data.labels["count"])]
    tasks = {"count": ("count", {n: dict(n=n) for n in sorted(set(data.labels["count"]), key=NUMBERS.index)}),
             "wall": ("wall", {f"{c} {w}": dict(c=c, w=w) for c in colours for w in WALL_WORDS})}
    out = {}
    for task, (kind, classes) in tasks.items():
        names = list(classes)
        labelled = [i for i in test if data.labels[task][i] in classes]
        truth = torch.tensor([names.index(data.labels[task][i]) for i in labelled])
        rows = torch.tensor([int(np.nonzero(test == i)[0][0]) for i in labelled])
        for name, template in (("held_out", PARAPHRASES - 1), ("seen", 0)):
            prompts = targets(model, [fill(CAPTIONS, kind, template, **slots) for slots in classes.values()])
            guess = (captions[rows] @ prompts.T).argmax(1)
            out[f"{task}_{name}_top1"] = float((guess == truth).float().mean())
        out[f"{task}_classes"] = len(names)
    return out


def retrieval(model: VLJepa, data: VLData, captions: Tensor, test: np.ndarray) -> dict[str, float]:
    held = {t.clip: t.answer for t in data.items("test", held_out=True, questions=False)}
    queries = targets(model, [held[i] for i in test])
    return {f"text_to_video_{k}": v for k, v in recall_at((queries @ captions.T).numpy(), np.arange(len(test))).items()}


def vqa(model: VLJepa, data: VLData) -> dict[str, float]:
    asked = data.items("test", questions=True)
    guesses = predicted(model, data.features[[t.clip for t in asked]], [t.query for t in asked])
    choices = sorted({c for t in asked for c in t.choices})
    embedded = dict(zip(choices, targets(model, choices)))
    right: dict[str, list[bool]] = {}
    for t, g in zip(asked, guesses):
        scores = torch.stack([embedded[c] for c in t.choices]) @ g
        right.setdefault(t.kind, []).append(t.choices[int(scores.argmax())] == t.answer)
    out = {f"vqa_{kind}": float(np.mean(r)) for kind, r in sorted(right.items())}
    out["vqa_mean"] = float(np.mean([out[f"vqa_{k}"] for k in right]))
    out["vqa_chance"] = float(np.mean([1 / len(t.choices) for t in asked]))
    return out


def swap_one(text: str, rng: np.random.Generator) -> str | None:
    """`text` with one colour, wall or number word changed to another of its kind (None if it has none)."""
    words = text.split(" ")
    spots = [(i, kind) for i, w in enumerate(words) for kind in (COLOURS, WALL_WORDS, NUMBERS[1:]) if w in kind]
    if not spots:
        return None
    i, kind = spots[int(rng.integers(len(spots)))]
    words[i] = str(rng.choice([w for w in kind if w != words[i]]))
    return " ".join(words)


def attribute_swaps(model: VLJepa, data: VLData, captions: Tensor, test: np.ndarray, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    held = {t.clip: t.answer for t in data.items("test", held_out=True, questions=False)}
    pairs = [(row, held[i], swap_one(held[i], rng)) for row, i in enumerate(test)]
    pairs = [p for p in pairs if p[2] is not None]
    true, swapped = targets(model, [p[1] for p in pairs]), targets(model, [p[2] for p in pairs])
    rows = torch.tensor([p[0] for p in pairs])
    right = ((captions[rows] * true).sum(1) > (captions[rows] * swapped).sum(1)).float().mean()
    ids_true, mask_true = model.tokens([p[1] for p in pairs])
    ids_swap, mask_swap = model.tokens([p[2] for p in pairs])
    with torch.no_grad():  # the text encoder alone, before any head
        a = F.normalize(mean_over(model.text(ids_true, mask_true), mask_true), dim=-1)
        b = F.normalize(mean_over(model.text(ids_swap, mask_swap), mask_swap), dim=-1)
    return {"swap_accuracy": float(right), "swap_pairs": len(pairs), "swap_text_cosine": float((a * b).sum(1).mean())}


class NearestCaption:
    """The lightest decoder: the training description (first template) whose target embedding is nearest."""

    def __init__(self, model: VLJepa, data: VLData):
        self.bank = sorted({t.answer for t in data.items("train", questions=False) if t.template == 0})
        self.embedded = targets(model, self.bank)

    def __call__(self, embeddings: Tensor) -> list[str]:
        return [self.bank[i] for i in (embeddings @ self.embedded.T).argmax(1).tolist()]


def clauses(description: str) -> set[str]:
    return {c.strip() for c in description.split(",") if c.strip()}


def captioning(data: VLData, decoded: list[str], test: np.ndarray) -> dict[str, float]:
    """CIDEr-D of decoded captions against each test clip's description in every template, and the F1 of their
    facts (clauses) against the first template's."""
    refs = {}
    for t in sorted(data.items("test", questions=False), key=lambda t: t.template):
        refs.setdefault(t.clip, []).append(t.answer)
    cider, _ = cider_d({i: d for i, d in zip(test, decoded)}, {i: refs[i] for i in test})
    f1 = []
    for i, d in zip(test, decoded):
        truth, said = clauses(refs[i][0]), clauses(d)
        both = len(truth & said)
        f1.append(2 * both / (len(truth) + len(said)))
    return {"caption_cider": cider, "caption_fact_f1": float(np.mean(f1))}


def selective(model: VLJepa, data: VLData, decoder: NearestCaption) -> dict:
    """Decodes per second against caption quality on the long clips, for uniform, Ward and online decoding."""
    streams = [predicted(model, s, [""] * len(s)) for s in data.streams]
    rows = selective_curves([s.numpy() for s in streams], data.stream_references,
                            lambda s, windows: decoder(streams[s][windows]),
                            window_rate=data.meta["fps"] / data.meta["stride"])
    return {"selective": rows, "selective_fewer_decodes_ward": fewer_decodes(rows, "ward"),
            "selective_fewer_decodes_change": fewer_decodes(rows, "change")}


def evaluate_vl(model: VLJepa, data: VLData, seed: int = 0) -> dict:
    """Every evaluation above on the test clips (and selective decoding where the data holds long clips)."""
    model.eval()
    test = np.nonzero(data.test)[0]
    captions = predicted(model, data.features[test], [""] * len(test))
    decoder = NearestCaption(model, data)
    out = {**classification(model, data, captions, test), **retrieval(model, data, captions, test),
           **vqa(model, data), **attribute_swaps(model, data, captions, test, seed),
           **captioning(data, decoder(captions), test)}
    if data.streams is not None:
        out.update(selective(model, data, decoder))
    return out

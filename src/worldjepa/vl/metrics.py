"""Text and retrieval metrics of the VL evaluations, in pure Python: CIDEr-D (no Java), recall at k, accuracy.

CIDEr-D (Vedantam et al., CVPR 2015, as the COCO caption evaluation computes it): sentences become 1- to 4-gram
counts; each n-gram is weighted by its count times log(number of items / number of items whose references hold it);
a candidate scores, per n, the cosine of its weighted vector with each reference's, where the candidate's weights
are clipped to the reference's (no reward for repeating an n-gram) and the cosine is damped by
exp(−(length difference)² / (2 · 6²)), lengths counted in bigrams; the score is 10 × the mean over n and over the
item's references, averaged over items. The document frequencies come from the references of the set scored.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

SIGMA = 6.0
ORDERS = 4


def words(sentence: str) -> list[str]:
    """Lower-case words, punctuation dropped (what the COCO tokenizer leaves of simple sentences)."""
    return re.findall(r"[a-z0-9]+", sentence.lower())


def ngrams(sentence: str, orders: int = ORDERS) -> Counter:
    w = words(sentence)
    return Counter(tuple(w[i:i + n]) for n in range(1, orders + 1) for i in range(len(w) - n + 1))


def cider_d(candidates: dict, references: dict) -> tuple[float, dict]:
    """(mean CIDEr-D, per item) of candidates {item: sentence} against references {item: [sentences]}."""
    missing = set(candidates) ^ set(references)
    if missing:
        raise ValueError(f"CIDEr-D needs the same items on both sides; {len(missing)} differ, e.g. {sorted(missing)[:3]}")
    if not candidates:
        raise ValueError("CIDEr-D of no items")
    refs = {item: [ngrams(r) for r in references[item]] for item in references}
    frequency = Counter(g for counts in refs.values() for g in set().union(*counts))
    log_items = math.log(len(refs))

    def vector(counts: Counter) -> tuple[list[dict], list[float], int]:
        vec: list[dict] = [{} for _ in range(ORDERS)]
        for g, tf in counts.items():
            vec[len(g) - 1][g] = tf * (log_items - math.log(max(1.0, frequency[g])))
        norms = [math.sqrt(sum(v * v for v in part.values())) for part in vec]
        return vec, norms, sum(tf for g, tf in counts.items() if len(g) == 2)

    scores = {}
    for item, sentence in candidates.items():
        cand, cand_norm, cand_len = vector(ngrams(sentence))
        total = 0.0
        for ref_counts in refs[item]:
            ref, ref_norm, ref_len = vector(ref_counts)
            damping = math.exp(-((cand_len - ref_len) ** 2) / (2 * SIGMA ** 2))
            for n in range(ORDERS):
                dot = sum(min(v, ref[n].get(g, 0.0)) * ref[n].get(g, 0.0) for g, v in cand[n].items())
                if cand_norm[n] and ref_norm[n]:
                    dot /= cand_norm[n] * ref_norm[n]
                total += dot * damping
        scores[item] = 10.0 * total / ORDERS / max(1, len(refs[item]))
    return float(np.mean(list(scores.values()))), scores


def recall_at(similarity: np.ndarray, positives: np.ndarray, ks=(1, 5)) -> dict[str, float]:
    """Recall at k of queries (rows of `similarity` [Q, N]) whose right answers are the True columns of `positives`
    [Q, N] (or the one column positives[q] when it is an index array [Q]): the share of queries that rank a right
    answer within the top k, counting every wrong answer that scores at least as high (ties against it)."""
    similarity = np.asarray(similarity, dtype=np.float64)
    positives = np.asarray(positives)
    if positives.ndim == 1:
        positives = np.eye(similarity.shape[1], dtype=bool)[positives]
    best = np.where(positives, similarity, -np.inf).max(1)
    rank = ((similarity >= best[:, None]) & ~positives).sum(1)
    return {f"R@{k}": float((rank < k).mean()) for k in ks}


def recall_chance(positives: np.ndarray, ks=(1, 5)) -> dict[str, float]:
    """Recall at k of a random ranking, per query 1 − C(N − p, k) / C(N, k) for p right answers among N, averaged:
    chance is far above k / N where many clips share a description."""
    positives = np.asarray(positives, dtype=bool)
    n, right = positives.shape[1], positives.sum(1)
    out = {}
    for k in ks:
        miss = np.ones(len(right))
        for i in range(min(k, n)):  # the chance that all k top places hold wrong answers
            miss *= np.clip(n - right - i, 0, None) / (n - i)
        out[f"R@{k}"] = float((1 - miss).mean())
    return out

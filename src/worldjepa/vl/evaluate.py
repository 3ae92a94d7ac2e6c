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
- captioning: the nearest training description to the clip's caption embedding (`NearestCaption`) and the light
  learned decoder's words (`*_decoder`, vl/decoder.py), scored by CIDEr-D against the clip's description in every
  template and by the F1 of its facts (clauses, each in any template's words);
- selective decoding on the long clips (vl/selective.py), through the learned decoder where there is one:
  decodes per second against CIDEr-D.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..worlds.balls import WALLS
from .captions import CAPTIONS, COLOURS, NUMBERS, PARAPHRASES, fill
from .data import VLData
from .metrics import cider_d, recall_at, recall_chance
from .minilm import mean_over
from .captioner import TokenCaptioner
from .model import VLJepa
from .selective import fewer_decodes, selective_curves

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


def classification_tasks(data: VLData) -> dict[str, tuple[str, dict[str, dict]]]:
    """Task → (caption kind of its prompts, class → the prompt's slots): the ball count, the first wall bounce."""
    colours = COLOURS[:max(NUMBERS.index(n) for n in data.labels["count"])]
    return {"count": ("count", {n: dict(n=n) for n in sorted(set(data.labels["count"]), key=NUMBERS.index)}),
            "wall": ("wall", {f"{c} {w}": dict(c=c, w=w) for c in colours for w in WALLS})}


def classification(data: VLData, test: np.ndarray, choose) -> dict[str, float]:
    """Top-1 of each task in the held-out and a seen template; `choose(clips, prompts)` picks a prompt per clip."""
    out: dict[str, float] = {}
    for task, (kind, classes) in (classification_tasks(data) if data.labels else {}).items():
        names = list(classes)
        labelled = [int(i) for i in test if data.labels[task][i] in classes]
        if not labelled:
            continue
        for name, template in (("held_out", PARAPHRASES - 1), ("seen", 0)):
            picks = choose(labelled, [fill(CAPTIONS, kind, template, **slots) for slots in classes.values()])
            out[f"{task}_{name}_top1"] = float(np.mean([names[p] == data.labels[task][i]
                                                         for p, i in zip(picks, labelled)]))
        out[f"{task}_classes"] = len(names)
    return out


def descriptions(data: VLData, test: np.ndarray) -> dict[int, list[str]]:
    """Row in `test` → that clip's descriptions by template (the held-out one last); clips with none are left out."""
    row = {clip: r for r, clip in enumerate(test)}
    out: dict[int, list[str]] = {}
    for t in sorted(data.items("test", questions=False), key=lambda t: t.template):
        out.setdefault(row[t.clip], []).append(t.answer)
    return out


def retrieval(model: VLJepa, data: VLData, captions: Tensor, test: np.ndarray) -> dict[str, float]:
    """Each described test clip's last-template description retrieves among all test clips; every clip with the
    same description is a right answer (one-ball clips often share theirs)."""
    described = descriptions(data, test)
    if not described:
        return {}
    rows = sorted(described)
    texts = [described[r][-1] for r in rows]
    of_clip = {r: described[r][-1] for r in rows}
    positives = np.array([[of_clip.get(j) == t for j in range(len(test))] for t in texts])
    queries = targets(model, texts)
    out = {f"text_to_video_{k}": v for k, v in recall_at((queries @ captions.T).numpy(), positives).items()}
    out["text_to_video_shared_queries"] = float((positives.sum(1) > 1).mean())
    out.update({f"text_to_video_chance_{k}": v for k, v in recall_chance(positives).items()})
    return out


def vqa(model: VLJepa, data: VLData, asked: list) -> dict[str, float]:
    guesses = predicted(model, data.features[[t.clip for t in asked]], [t.query for t in asked])
    choices = sorted({c for t in asked for c in t.choices})
    embedded = dict(zip(choices, targets(model, choices)))
    return vqa_scores(asked, [int((torch.stack([embedded[c] for c in t.choices]) @ g).argmax())
                              for t, g in zip(asked, guesses)])


def vqa_scores(asked: list, picks: list[int]) -> dict[str, float]:
    """Accuracy per question type of the picked choices, their mean over types, and chance."""
    right: dict[str, list[bool]] = {}
    for t, p in zip(asked, picks):
        right.setdefault(t.kind, []).append(t.choices[p] == t.answer)
    out = {f"vqa_{kind}": float(np.mean(r)) for kind, r in sorted(right.items())}
    out["vqa_mean"] = float(np.mean([out[f"vqa_{k}"] for k in right]))
    out["vqa_chance"] = float(np.mean([1 / len(t.choices) for t in asked]))
    return out


def swap_one(text: str, rng: np.random.Generator) -> str | None:
    """`text` with one attribute changed to another of its kind (None if it has none): a colour before "ball",
    "one" or "and", a wall before "wall", a number before "balls", a side before "room" (two-rooms)."""
    words = text.split(" ")
    kinds = {"ball": COLOURS, "one": COLOURS, "and": COLOURS, "wall": WALLS, "balls": NUMBERS[1:],
             "room": ("left", "right")}
    spots = [(i, kinds[nxt]) for i, (w, nxt) in enumerate(zip(words, words[1:])) if nxt in kinds and w in kinds[nxt]]
    if not spots:
        return None
    i, kind = spots[int(rng.integers(len(spots)))]
    words[i] = str(rng.choice([w for w in kind if w != words[i]]))
    return " ".join(words)


def attribute_swaps(model: VLJepa, data: VLData, captions: Tensor, test: np.ndarray, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    pairs = [(row, texts[-1], swap_one(texts[-1], rng)) for row, texts in sorted(descriptions(data, test).items())]
    pairs = [p for p in pairs if p[2] is not None]
    if not pairs:
        return {}
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


def clauses(description: str) -> list[str]:
    return [c.strip() for c in description.split(",") if c.strip()]


def fact_f1(said: str, descriptions: list[str]) -> float:
    """F1 of a caption's clauses against a clip's facts, in whichever paraphrase template each clause is written: a
    clip's descriptions (one per template) state the same facts in the same order, so the i-th clause of each is one
    fact. Where they do not line up (your own texts), the best template's F1."""
    stated = set(clauses(said))
    parts = [clauses(d) for d in descriptions]
    if len({len(p) for p in parts}) != 1:
        return max(fact_f1(said, [d]) for d in descriptions)
    facts = [set(fact) for fact in zip(*parts)]
    right = sum(any(c in fact for fact in facts) for c in stated)
    found = sum(bool(fact & stated) for fact in facts)
    return 2 * right / len(stated) * found / len(facts) / (right / len(stated) + found / len(facts)) if right else 0.0


def captioning(data: VLData, decoded: list[str], test: np.ndarray) -> dict[str, float]:
    """CIDEr-D of decoded captions against each test clip's description in every template, and the F1 of their
    facts (clauses, `fact_f1`: a fact may be stated in any template's words)."""
    refs = descriptions(data, test)
    cider, _ = cider_d({r: decoded[r] for r in refs}, refs)
    f1 = [fact_f1(decoded[r], texts) for r, texts in refs.items()]
    return {"caption_cider": cider, "caption_fact_f1": float(np.mean(f1))}


def ball_count(text: str) -> str | None:
    """The ball count a first-template description states ("there are three balls"), None if it states none."""
    found = re.search(r"\bthere are (\w+) balls\b", text)
    return found.group(1) if found else None


def selective(model: VLJepa, data: VLData, decoder, name: str = "light", embedded: list[Tensor] | None = None) -> dict:
    """Decodes per second against caption quality on the long clips, for uniform, Ward and online decoding: with
    `decoder` (rows' "decoder": `name`), and with each chosen window's own reference as a perfect decoder would
    write it ("reference": how well a policy's choice of windows can do, whatever the decoder). Quality is CIDEr-D
    and, for the fact that holds over a whole scene, the share of windows whose caption states the right ball count
    ("fact_right"; a long clip's scenes differ in their count, so a stale decode after a cut states the wrong one).
    `embedded`: the streams' predicted caption embeddings where the caller already has them."""
    if embedded is None:
        embedded = [predicted(model, s, [""] * len(s)) for s in data.streams]
    if [len(e) for e in embedded] != [len(s) for s in data.streams]:
        raise ValueError("selective: the embeddings given are not those of data.streams (another count of windows)")
    streams, refs = [e.numpy() for e in embedded], data.stream_references
    rate = data.meta["fps"] / data.meta["stride"]
    used = selective_curves(streams, refs, lambda s, windows: decoder(embedded[s][windows]), window_rate=rate,
                            fact=ball_count)
    perfect = selective_curves(streams, refs, lambda s, windows: [refs[s][w][0] for w in windows], window_rate=rate,
                               fact=ball_count)
    out: dict = {"selective": [{**r, "decoder": name} for r in used] + [{**r, "decoder": "reference"}
                                                                      for r in perfect]}
    for policy in ("ward", "change"):
        for quality, suffix in (("cider", ""), ("fact_right", "_count")):
            out[f"selective_fewer_decodes_{policy}{suffix}"] = fewer_decodes(used, policy, quality=quality)
            out[f"selective_fewer_decodes_{policy}{suffix}_reference"] = fewer_decodes(perfect, policy,
                                                                                      quality=quality)
    return out


def light_decoder(model: VLJepa, data: VLData, decoder_dir, steps: int = 800, seed: int = 0, run=None):
    """The light caption decoder (vl/decoder.py) of this model, trained in `decoder_dir` on the training clips'
    caption embeddings against their first-template descriptions (loaded when it is there, unless it is older than
    `run`'s checkpoint: then trained again): embeddings → captions."""
    from .decoder import train_decoder

    kept = Path(decoder_dir) / "checkpoint.safetensors"
    if run is not None and kept.exists() and \
            kept.stat().st_mtime_ns < (Path(run) / "checkpoint.safetensors").stat().st_mtime_ns:
        shutil.rmtree(decoder_dir)  # trained on an earlier checkpoint's embeddings
    seen = [t for t in data.items("train", questions=False) if t.template == 0]
    learned = train_decoder(predicted(model, data.features[[t.clip for t in seen]], [""] * len(seen)),
                            [t.answer for t in seen], decoder_dir, steps=steps, seed=seed)
    longest = max(len(learned.tokenizer.split(t.answer)) for t in seen)
    return lambda embeddings: learned(embeddings, longest + 1)


def evaluate_vl(model: VLJepa, data: VLData, seed: int = 0, decoder_dir=None, decoder_steps: int = 800,
                run=None) -> dict:
    """Every evaluation above on the test clips (and selective decoding where the data holds long clips). With
    `decoder_dir`, a light caption decoder (vl/decoder.py) is trained there on the training clips' caption
    embeddings (or loaded), scored beside the nearest caption, and does the selective decoding."""
    model.eval()
    test = np.nonzero(data.test)[0]
    captions = predicted(model, data.features[test], [""] * len(test))
    decoder = NearestCaption(model, data)
    if decoder_dir is not None:
        decode = light_decoder(model, data, decoder_dir, decoder_steps, seed, run)
        decoder_scores = {f"{k}_decoder": v for k, v in captioning(data, decode(captions), test).items()}
    else:
        decoder_scores, decode = {}, decoder
    row = {int(clip): r for r, clip in enumerate(test)}

    def choose(clips: list[int], prompts: list[str]) -> list[int]:
        return (captions[[row[c] for c in clips]] @ targets(model, prompts).T).argmax(1).tolist()

    out = {**retrieval(model, data, captions, test), **attribute_swaps(model, data, captions, test, seed),
           **captioning(data, decoder(captions), test), **decoder_scores, **classification(data, test, choose)}
    asked = data.items("test", questions=True)
    if asked:
        out.update(vqa(model, data, asked))
    if data.streams is not None:
        out.update(selective(model, data, decode, "light" if decoder_dir is not None else "nearest"))
    return out


@torch.no_grad()
def best_candidate(model: TokenCaptioner, features: Tensor, queries: list[str], candidates: list[list[str]],
                   batch: int = 1024) -> list[int]:
    """The token captioner's pick among each row's candidates: the one of lowest perplexity (the highest mean
    log-likelihood per word, the end included). Rows go in groups of about `batch` candidates."""
    picks, start = [], 0
    while start < len(candidates):
        stop, size = start, 0
        while stop < len(candidates) and (stop == start or size + len(candidates[stop]) <= batch):
            size += len(candidates[stop])
            stop += 1
        flat = model.candidate_log_likelihood(features[start:stop], queries[start:stop], candidates[start:stop])
        at = 0
        for cands in candidates[start:stop]:
            picks.append(int(flat[at:at + len(cands)].argmax()))
            at += len(cands)
        start = stop
    return picks


def evaluate_tokens(model: TokenCaptioner, data: VLData) -> dict:
    """The token captioner on the same test clips: classification and VQA by lowest perplexity among the same
    prompts and choices, captioning by greedy generation."""
    model.eval()
    test = np.nonzero(data.test)[0]

    def choose(clips: list[int], prompts: list[str]) -> list[int]:
        return best_candidate(model, data.features[clips], [""] * len(clips), [prompts] * len(clips))

    out = classification(data, test, choose)
    asked = data.items("test", questions=True)
    if asked:
        out.update(vqa_scores(asked, best_candidate(model, data.features[[t.clip for t in asked]],
                                                    [t.query for t in asked], [list(t.choices) for t in asked])))
    longest = max(len(model.tokenizer.split(t.answer)) for t in data.items("train", questions=False))
    decoded = []
    for s in range(0, len(test), 256):
        decoded += model.generate(data.features[test[s:s + 256]], [""] * len(test[s:s + 256]), longest + 1)
    out.update(captioning(data, decoded, test))
    return out


def evaluate_run(run, decoder_steps: int = 800) -> dict:
    """`evaluate_vl` of a `vl train` run (`evaluate_tokens` for the token captioner), with the attribute-swap test
    also on the same model before training (its heads at their initial weights), as SugarCrepe++ compares; written
    to RUN/eval.json."""
    import json

    from .train import build_model, load_vl

    model, cfg, data = load_vl(run)
    if cfg.model.kind == "tokens":
        scores = evaluate_tokens(model, data)
        (Path(run) / "eval.json").write_text(json.dumps(scores, indent=2))
        return scores
    scores = evaluate_vl(model, data, seed=cfg.train.seed, decoder_dir=Path(run) / "decoder",
                         decoder_steps=decoder_steps, run=run)
    test = np.nonzero(data.test)[0]
    untrained = build_model(cfg, data).eval()
    before = attribute_swaps(untrained, data, predicted(untrained, data.features[test], [""] * len(test)), test,
                             cfg.train.seed)
    scores["swap_accuracy_before"] = before.get("swap_accuracy")
    (Path(run) / "eval.json").write_text(json.dumps(scores, indent=2))
    return scores

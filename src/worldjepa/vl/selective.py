"""Selective decoding: caption a stream of predicted embeddings only where its meaning changes (VL-JEPA §selective).

A long clip is seen through sliding windows; the model predicts one caption embedding per window. Decoding every
window (or uniformly every k-th) spends the decoder where nothing changed. The paper instead segments the stream
by agglomerative Ward clustering in which only time-adjacent segments may merge, and decodes once per segment (at
its middle window; uniform decoding's blocks are decoded at their middle too); an online alternative decodes
whenever the embedding has moved more than a threshold (cosine distance) from the last decoded one, and each window
keeps the latest decode. Every window gets a caption, scored by CIDEr-D against that window's own references,
against decodes per second.
"""

from __future__ import annotations

import numpy as np

from .metrics import cider_d


def ward_segments(stream: np.ndarray, segments: int) -> tuple[np.ndarray, list[int]]:
    """Labels [T] of `segments` contiguous segments of a stream [T, d] (Ward, time-adjacent merges only) and the
    window decoded for each (its middle)."""
    try:
        from scipy.sparse import diags
        from sklearn.cluster import AgglomerativeClustering
    except ImportError:
        raise ImportError("selective decoding's Ward clustering needs scikit-learn: pip install 'worldjepa[vl]'") from None
    T = len(stream)
    segments = min(segments, T)
    if segments == T:
        return np.arange(T), list(range(T))
    chain = diags([np.ones(T - 1), np.ones(T - 1)], [-1, 1], shape=(T, T))
    raw = AgglomerativeClustering(n_clusters=segments, linkage="ward", connectivity=chain).fit_predict(stream)
    # relabel by order of appearance (each cluster is one contiguous run under the chain connectivity)
    order = {c: i for i, c in enumerate(dict.fromkeys(raw.tolist()))}
    labels = np.array([order[c] for c in raw])
    decodes = [int(np.nonzero(labels == s)[0].mean().round()) for s in range(segments)]
    return labels, decodes


def uniform_segments(T: int, every: int) -> tuple[np.ndarray, list[int]]:
    """Blocks of `every` windows, each decoded at its middle window (as Ward's segments are, for a fair match)."""
    labels = np.arange(T) // every
    return labels, [int(np.nonzero(labels == s)[0].mean().round()) for s in range(int(labels[-1]) + 1)]


def change_segments(stream: np.ndarray, threshold: float) -> tuple[np.ndarray, list[int]]:
    """Online: decode the first window, then any window whose cosine distance from the last decoded one exceeds
    `threshold`; each window keeps the latest decode's caption."""
    unit = stream / np.linalg.norm(stream, axis=1, keepdims=True).clip(1e-12)
    decodes, labels = [0], np.zeros(len(stream), dtype=int)
    for t in range(1, len(stream)):
        if 1.0 - float(unit[t] @ unit[decodes[-1]]) > threshold:
            decodes.append(t)
        labels[t] = len(decodes) - 1
    return labels, decodes


def stream_score(captions: list[list[str]], labels: list[np.ndarray], references: list[list[list[str]]]) -> float:
    """Mean CIDEr-D over every window of every stream of the caption its segment decoded (captions[s][segment])."""
    candidates, refs = {}, {}
    for s, (caps, lab) in enumerate(zip(captions, labels)):
        for w, segment in enumerate(lab):
            candidates[(s, w)], refs[(s, w)] = caps[segment], references[s][w]
    return cider_d(candidates, refs)[0]


def stream_fact_share(captions: list[list[str]], labels: list[np.ndarray], references: list[list[list[str]]],
                      fact) -> float:
    """Share of the windows whose caption (its segment's decode) states the fact `fact(text)` that the window's
    first reference states (a fact of None is never right)."""
    right = [fact(caps[segment]) is not None and fact(caps[segment]) == fact(references[s][w][0])
             for s, (caps, lab) in enumerate(zip(captions, labels)) for w, segment in enumerate(lab)]
    return float(np.mean(right))


def selective_curves(streams: list[np.ndarray], references: list[list[list[str]]], decode, window_rate: float,
                     everies=(1, 2, 3, 4, 6, 9), segment_shares=(0.5, 0.33, 0.25, 0.17, 0.11, 0.08),
                     thresholds=(0.02, 0.05, 0.1, 0.2, 0.3), fact=None) -> list[dict]:
    """Quality against decodes per second for each policy: `decode(stream_index, windows) -> captions` decodes the
    given windows of a stream (counted), `window_rate` windows per second of video. With `fact` (text → a fact or
    None), each row also holds "fact_right", the `stream_fact_share` of that fact."""
    rows = []

    def run(policy: str, setting, segmenter) -> None:
        labels, captions, decoded = [], [], 0
        for s, stream in enumerate(streams):
            lab, chosen = segmenter(stream)
            labels.append(lab)
            captions.append(decode(s, chosen))
            decoded += len(chosen)
        seconds = sum(len(st) for st in streams) / window_rate
        rows.append({"policy": policy, "setting": setting, "decodes_per_s": decoded / seconds,
                     "cider": stream_score(captions, labels, references)})
        if fact is not None:
            rows[-1]["fact_right"] = stream_fact_share(captions, labels, references, fact)

    for every in everies:
        run("uniform", every, lambda st, e=every: uniform_segments(len(st), e))
    for share in segment_shares:
        run("ward", share, lambda st, f=share: ward_segments(st, max(1, round(f * len(st)))))
    for threshold in thresholds:
        run("change", threshold, lambda st, h=threshold: change_segments(st, h))
    return rows


def fewer_decodes(rows: list[dict], policy: str = "ward", rate: float = 1.0, quality: str = "cider") -> float | None:
    """The paper's comparison: uniform decoding at the setting nearest `rate` decodes per second sets the quality
    (`quality`: "cider" or "fact_right"); the lowest rate at which `policy` reaches it, as a ratio (how many times
    fewer decodes; None if no setting of the policy reaches it)."""
    uniform = min((r for r in rows if r["policy"] == "uniform"), key=lambda r: abs(r["decodes_per_s"] - rate))
    reaching = [r["decodes_per_s"] for r in rows if r["policy"] == policy and r[quality] >= uniform[quality]]
    return uniform["decodes_per_s"] / min(reaching) if reaching else None


def scene_changes(streams: list[np.ndarray], scenes: list[np.ndarray], within: int = 1) -> dict[str, float]:
    """Does a stream of embeddings [T, d] mark where its scene changes (`scenes` [T]: each window's scene)? The mean
    cosine distance between consecutive windows across a change and within a scene, and the share of changes that
    Ward segments (as many as the stream has scenes) put a boundary within `within` windows of."""
    across, inside, found, changes = [], [], 0, 0
    for stream, scene in zip(streams, scenes):
        unit = stream / np.linalg.norm(stream, axis=1, keepdims=True).clip(1e-12)
        step = 1.0 - (unit[1:] * unit[:-1]).sum(1)
        changed = scene[1:] != scene[:-1]
        across += step[changed].tolist()
        inside += step[~changed].tolist()
        labels, _ = ward_segments(stream, len(set(scene.tolist())))
        bounds = np.nonzero(labels[1:] != labels[:-1])[0]
        for t in np.nonzero(changed)[0]:
            found += bool(len(bounds)) and bool(np.abs(bounds - t).min() <= within)
            changes += 1
    return {"step_across_change": float(np.mean(across)) if across else float("nan"),
            "step_within_scene": float(np.mean(inside)) if inside else float("nan"),
            "ward_finds_changes": found / changes if changes else float("nan")}

"""Surprise: how badly a model predicted what came next, over time, and the violation-of-expectation test.

A clip is read through a sliding window of the model's clip length. In each window the model sees all but
the last `stride` frames and predicts the representation of those; surprise is the mean absolute error
of that prediction against the representation of what really came (L1, the pretraining loss), and its
time is the first frame of the predicted slab. For a JEPA the prediction is the pretraining predictor's
output for a mask that covers the last tubelet slab entirely, from the context encoder's tokens of the
rest; the target is the teacher's (EMA) tokens of the whole window, level-normalised as in training.

The VoE score of a clip is its mean surprise over time; a pair (or quadruplet) is judged right when the
impossible side's score is the larger (ties count one half), so chance is 50%. The peak surprise over time
is scored too (a violation is one moment; the mean also weighs everything else the clip shows).

A reference that learns nothing: `PixelCopy` predicts the last slab as a copy of the frame before it, in
pixels. It says whether a violation is visible at all in the frames, and a JEPA that scores below it has
not learned the dynamics the violation breaks.

`SurpriseTask` is the suite's task (eval/tasks.py): for each violation of eval/voe.py, pairs of clips twice
the model's clip length → both models' surprise → pair and quadruplet accuracy, and surprise.png (the
mean surprise of possible and impossible clips around the event).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from torch import Tensor

from ..data.batches import to_tensor
from ..device import autocast
from ..plots import pyplot, save_figure
from ..ssl.losses import level_norm
from .tasks import Row, RunKind, fmt
from .voe import VIOLATIONS, voe_pairs

if TYPE_CHECKING:
    from .suite import EvalContext

PredictTarget = Callable[[np.ndarray], tuple[Tensor, Tensor]]  # windows [B, F, ...] → (pred, target)


def sliding_surprise(clips: np.ndarray, window: int, stride: int, predict_target: PredictTarget,
                     batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """clips [B, T, ...] → (surprise [B, n], times [n]): the error of predicting frames [s + F − stride,
    s + F) from frames [s, s + F − stride), for windows s = 0, stride, … that fit in the clip."""
    B, T = clips.shape[:2]
    if T < window:
        raise ValueError(f"clips of {T} frames are shorter than the model's {window}-frame window")
    starts = list(range(0, T - window + 1, stride))
    out = np.zeros((B, len(starts)))
    for j, s in enumerate(starts):
        for i in range(0, B, batch):
            pred, target = predict_target(clips[i:i + batch, s:s + window])
            out[i:i + batch, j] = (pred.float() - target.float()).abs().flatten(1).mean(1).numpy()
    return out, np.array(starts) + window - stride


class JEPASurprise:
    """`PredictTarget` of a pretrained masked-prediction objective (ssl/objective.py)."""

    def __init__(self, objective, precision: str = "bf16"):
        self.objective, self.precision = objective.eval(), precision
        self.device = next(objective.parameters()).device
        masks = objective.cfg.masks
        # a causal mask type was trained for exactly this; otherwise the one trained on the largest blocks
        # is the nearest to "the whole last slab is hidden"
        causal = [i for i, m in enumerate(masks) if m.causal]
        self.mask_type = causal[0] if causal else int(np.argmax([m.spatial_scale[1] for m in masks]))
        if objective.cfg.masking == "ijepa":  # I-JEPA's masks use its one mask token
            self.mask_type = 0

    @torch.no_grad()
    def __call__(self, windows: np.ndarray) -> tuple[Tensor, Tensor]:
        obj = self.objective
        enc, levels = obj.encoder, obj.levels
        obs = to_tensor(windows).to(self.device)
        with autocast(self.device, self.precision):
            tokens = enc.tokenize(obs)
            pos = tokens.positions
            last = pos[:, 0] == pos[:, 0].max()
            B = obs.shape[0]
            ctx = torch.nonzero(~last).squeeze(1).expand(B, -1)
            tgt = torch.nonzero(last).squeeze(1).expand(B, -1)
            source = obj.teacher if obj.teacher is not None else enc
            target = level_norm(source(obs, all_levels=levels > 1).float(), levels)[:, tgt[0]]
            z = enc.encode_tokens(tokens, keep=ctx, all_levels=levels > 1)
            pred, _ = obj.predict(z, tokens, ctx, tgt, self.mask_type)
        return pred.float().cpu(), target.cpu()


class PixelCopy:
    """`PredictTarget` of the no-learning reference: the last `stride` frames predicted as copies of the
    frame before them; pixels in [0, 1]."""

    def __init__(self, stride: int):
        self.stride = stride

    def __call__(self, windows: np.ndarray) -> tuple[Tensor, Tensor]:
        x = torch.from_numpy(np.ascontiguousarray(windows)).float() / 255.0
        last = x[:, -self.stride:]
        return x[:, -self.stride - 1:-self.stride].expand_as(last), last


def pair_accuracy(possible: np.ndarray, impossible: np.ndarray) -> float:
    """Share of pairs whose impossible clip scores higher (ties one half); scores [N]."""
    return float(np.mean((impossible > possible) + 0.5 * (impossible == possible)))


def voe_scores(pairs, predict_target: PredictTarget, window: int, stride: int) -> dict:
    """Surprise of every clip of a `VoEPairs` and two accuracies, each clip scored by its mean surprise
    over time (additive in what is visible, so the controls balance it):

    - pair: the impossible clip's score beats its possible twin's;
    - quadruplet (IntPhys's relative test): possible + its control against impossible + its control,
      the two sides holding the same visible content (eval/voe.py).
    """
    s = {}
    for name in ("possible", "impossible", "possible_control", "impossible_control"):
        s[name], times = sliding_surprise(getattr(pairs, name), window, stride, predict_target)
    rel = times[None, :] - pairs.event[:, None]  # frames from the event to the predicted slab's start
    offsets = np.unique(rel)
    curve = {name: [float(s[name][rel == o].mean()) for o in offsets] for name in ("possible", "impossible")}
    mean, peak = accuracies({k: v.mean(1) for k, v in s.items()}), accuracies({k: v.max(1) for k, v in s.items()})
    return {
        "pair_accuracy": mean["pair"],
        "quadruplet_accuracy": mean["quadruplet"],
        "peak_pair_accuracy": peak["pair"],
        "peak_quadruplet_accuracy": peak["quadruplet"],
        "pairs": int(len(pairs.event)),
        "curve_offsets": offsets.tolist(),
        "curve": curve,
    }


def accuracies(score: dict[str, np.ndarray]) -> dict[str, float]:
    """Pair and quadruplet accuracy of per-clip scores."""
    return {"pair": pair_accuracy(score["possible"], score["impossible"]),
            "quadruplet": pair_accuracy(score["possible"] + score["possible_control"],
                                        score["impossible"] + score["impossible_control"])}


class SurpriseTask:
    """Violation of expectation with the pretraining predictor, beside `PixelCopy` and chance (0.50)."""

    name = "surprise"
    kind: RunKind = "pretrain"
    needs_labels = False

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        from ..pretrain import load_objective

        device, d, tubelet, seed = ctx.model_device, ctx.cfg.data, ctx.cfg.model.tubelet_size, ctx.cfg.train.seed
        objective, cfg = load_objective(ctx.checkpoint)
        model = JEPASurprise(objective.to(device))
        frames = 2 * d.frames
        results = {}
        for kind in VIOLATIONS:
            # a hidden ball must come back while the frames before it went out of sight (two at least, to
            # show its motion) are still in the context of the window that predicts its return
            pairs = voe_pairs(kind, d.world, d.image_size, ctx.size.voe_pairs, frames=frames, seed=seed,
                              events=(d.frames, d.frames + 4), max_hidden=d.frames - tubelet - 2)
            results[kind] = voe_scores(pairs, model, d.frames, tubelet)
            reference = voe_scores(pairs, PixelCopy(tubelet), d.frames, tubelet)
            results[kind]["pixel_copy"] = {k: v for k, v in reference.items() if k.endswith("accuracy")}
        surprise_figure(results, ctx.out / "surprise.png")
        causal = any(m.causal for m in cfg.objective.masks)
        return {**results, "mask": "the predictor's causal mask type" if causal else
                "the predictor's largest mask type (the model has no causal one)", "clip_frames": frames}

    def rows(self, result: dict[str, Any]) -> list[Row]:
        rows = []
        for kind in VIOLATIONS:
            v = result[kind]
            ref = v.get("pixel_copy")
            for prefix, label in (("", "mean"), ("peak_", "peak")):
                if f"{prefix}pair_accuracy" not in v:
                    continue  # results written before peak scores existed
                pixels = (f"; pixel copy {fmt(ref[prefix + 'pair_accuracy'], 2)} / "
                          f"{fmt(ref[prefix + 'quadruplet_accuracy'], 2)}" if ref else "")
                rows.append(Row(self.name, f"{kind}: pair / quadruplet accuracy ({label} over time)",
                                f"{fmt(v[prefix + 'pair_accuracy'], 2)} / {fmt(v[prefix + 'quadruplet_accuracy'], 2)}",
                                f"chance 0.50{pixels}"))
        return rows


def surprise_figure(results: dict[str, dict], path: Path) -> Path:
    """One panel per violation: mean surprise of the possible and impossible clips against frames from the event."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(3.2 * len(results), 2.9), squeeze=False)
    for ax, (kind, r) in zip(axes[0], results.items()):
        for name, colour in (("possible", "tab:blue"), ("impossible", "tab:red")):
            ax.plot(r["curve_offsets"], r["curve"][name], marker="o", color=colour, label=name)
        ax.axvline(0, color="k", lw=0.8, ls="--")
        ax.set_title(f"{kind}: pair {r['pair_accuracy']:.0%}, quad {r['quadruplet_accuracy']:.0%}", fontsize=9)
        ax.set_xlabel("frames after the event")
    axes[0, 0].set_ylabel("surprise (L1 of the prediction)")
    axes[0, 0].legend(fontsize=8)
    return save_figure(fig, path)

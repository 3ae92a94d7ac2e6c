"""Action anticipation in miniature (the Ego4D / EPIC-KITCHENS analogue): from the frames seen so far,
which events happen within the next `horizon` frames?

Events of the built-in world: ball k bounces off one of the four walls (K·4 classes) or balls i and j
collide (K(K−1)/2 classes). A sample is the model's clip length of frames; its labels are the events
of the `horizon` frames that follow (several can happen: a multi-label task). Scores are EPIC-KITCHENS'
class-mean Recall@5 and mAP over classes (metrics.py), for a linear probe (ridge on the clip's
moment-pooled features, eval/state_probe.py) and the attentive probe (eval/attentive.py) on the tokens of
the last two tubelet steps. Chance: Recall@5 = 5 / classes; mAP ≈ mean class frequency.
`AnticipationTask` is the suite's task (eval/tasks.py); raw pixels through the linear probe are its
reference beside chance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..config import WorldConfig
from ..data.batches import seed_for
from ..worlds.balls import WALLS, BallWorld
from .attentive import fit_attentive
from .metrics import class_mean_recall_at_k, mean_average_precision
from .probes import fit_ridge
from .state_probe import moment_pool, pixel_grid
from .tasks import Row, RunKind, fmt

if TYPE_CHECKING:
    from .suite import EvalContext

ANTICIPATION_STREAM = 7_780


def event_names(balls: int) -> list[str]:
    walls = [f"ball {k} hits the {wall} wall" for k in range(balls) for wall in WALLS]
    pairs = [f"balls {i} and {j} collide" for i in range(balls) for j in range(i + 1, balls)]
    return walls + pairs


@dataclass
class AnticipationData:
    frames: np.ndarray  # [N, F, S, S, 3] what the model sees
    labels: np.ndarray  # [N, classes] bool: events in the `horizon` frames after
    names: list[str]


def event_labels(walls: np.ndarray, collisions: np.ndarray, seen: int, horizon: int) -> np.ndarray:
    """walls [N, T, K, 4], collisions [N, T, K, K] → [N, K·4 + K(K−1)/2] bool: the events of frames
    seen … seen + horizon − 1 (an event of frame t happens between frames t − 1 and t)."""
    N, _, K, _ = walls.shape
    wall = walls[:, seen:seen + horizon].any(1).reshape(N, K * 4)
    i, j = np.triu_indices(K, k=1)
    return np.concatenate([wall, collisions[:, seen:seen + horizon].any(1)[:, i, j]], 1)


def anticipation_clips(world: WorldConfig, image_size: int, n: int, frames: int, horizon: int, seed: int,
                       split: int) -> AnticipationData:
    clips = BallWorld(world, image_size).generate(n, frames + horizon, seed_for(seed, ANTICIPATION_STREAM, split))
    labels = event_labels(clips.walls, clips.collisions, frames, horizon)
    return AnticipationData(clips.frames[:, :frames], labels, event_names(world.num_balls))


def chance(labels: np.ndarray, k: int = 5) -> dict[str, float]:
    present = labels.any(0)
    return {"recall@5": min(1.0, k / labels.shape[1]), "mAP": float(labels.mean(0)[present].mean())}


def last_steps_tokens(grid: torch.Tensor, steps: int = 2) -> torch.Tensor:
    """[B, T', H', W', D] → the tokens of the last `steps` tubelet steps, [B, steps·H'·W', D]."""
    return grid[:, -steps:].flatten(1, 3)


class AnticipationTask:
    """The events of the next `size.anticipation_horizon` frames from the clip seen so far: linear and
    attentive probes on frozen features (cached), the linear probe on pixels, and chance."""

    name = "anticipation"
    kind: RunKind = "pretrain"
    needs_labels = False

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        (patch, tubelet), h = ctx.grid, ctx.size.anticipation_horizon
        n, m, seed = ctx.size.probe_clips, ctx.size.test_clips, ctx.cfg.train.seed
        train, test = ctx.held_out(anticipation_clips, h)
        y_train = torch.as_tensor(train.labels, dtype=torch.float32)

        def scores(pred) -> dict[str, float]:
            return {"recall@5": class_mean_recall_at_k(pred, test.labels, 5),
                    "mAP": mean_average_precision(pred, test.labels)}

        f_train = ctx.features("anticipation-train", f"{n}:{h}", train.frames)
        f_test = ctx.features("anticipation-test", f"{m}:{h}", test.frames)
        linear = fit_ridge(moment_pool(f_train).flatten(1), y_train).predict(moment_pool(f_test).flatten(1)).numpy()
        g_train, g_test = (pixel_grid(f, patch, tubelet) for f in (train.frames, test.frames))
        pixels = fit_ridge(moment_pool(g_train).flatten(1), y_train).predict(moment_pool(g_test).flatten(1)).numpy()
        result = {"linear": scores(linear), "pixels_linear": scores(pixels), "chance": chance(test.labels),
                  "classes": len(train.names), "horizon_frames": h, "positive_rate": float(test.labels.mean()),
                  "clips": {"train": n, "test": m}}
        if ctx.size.attentive_epochs:
            probe = fit_attentive(last_steps_tokens(f_train), y_train, "multilabel", epochs=ctx.size.attentive_epochs,
                                  seed=seed, grid=(min(2, f_train.shape[1]), *f_train.shape[2:4]))
            result["attentive"] = scores(probe.predict(last_steps_tokens(f_test)).numpy())
            result["attentive_choice"] = {"lr": probe.lr, "weight_decay": probe.weight_decay}
        return result

    def rows(self, result: dict[str, Any]) -> list[Row]:
        rows = []
        for metric in ("recall@5", "mAP"):
            attentive = f" / {fmt(result['attentive'][metric])}" if "attentive" in result else ""
            rows.append(Row(self.name, f"{metric} linear{' / attentive' if attentive else ''}",
                            f"{fmt(result['linear'][metric])}{attentive}",
                            f"pixels {fmt(result['pixels_linear'][metric])}, chance {fmt(result['chance'][metric])}"))
        return rows

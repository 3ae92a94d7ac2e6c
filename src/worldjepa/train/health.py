"""Health verdicts from the numbers every training log carries (train/monitors.py), for the trainer's
live watch and for `worldjepa doctor`.

Verdicts, judged on the median of the last quarter of the logged health records:

    full collapse            every latent is (nearly) the same vector: spread ≈ 0, or effective rank ≈ 1
    partial collapse         one shared direction dominates the latents, or they span very few dimensions
                             (neither is judged for a frozen encoder, `health/frozen`: training cannot collapse it)
    no better than copying   the predictor's error is not clearly below that of copying the nearest visible
                             (or current) latent, or of predicting the batch's mean latent
    predictor ignores actions  (world models) giving a sample another sample's actions barely moves its
                             prediction, compared with how far the latent moves in one step
    healthy                  none of the above

`HealthWatch` runs the same checks while training and returns a warning the first time a verdict appears.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any


FULL_STD_RATIO, FULL_COSINE, FULL_RANK = 0.05, 0.995, 1.5  # spread under 5% of the magnitude; parallel; one direction
PARTIAL_STD_RATIO, PARTIAL_COSINE = 0.2, 0.9  # a shared vector carries > 96% of the energy; near-parallel latents
PARTIAL_RANK_FRACTION = 0.03  # effective rank under 3% of the width
COPY_MARGIN = 0.97  # the predictor must beat the best trivial baseline by at least 3%
ACTION_EFFECT = 0.2  # other actions move the prediction < 20% of one real step's change (measured in docs/reliability.md)
WATCH_AFTER = 0.4  # the online watch starts after this share of the run: a fresh network's tokens are
# near-parallel, its predictor worse than copying and its action gates (AdaLN-zero) still closed, which is
# not yet a fault (measured: the demo's world model ignores actions until step ~80 of 300, then does not)


@dataclass
class Finding:
    verdict: str
    evidence: str
    advice: str


@dataclass
class Diagnosis:
    findings: list[Finding] = field(default_factory=list)
    steps: tuple[int, int] = (0, 0)  # the logged steps judged
    numbers: dict[str, float] = field(default_factory=dict)  # the medians the verdicts rest on
    source: str = "the training log"

    @property
    def healthy(self) -> bool:
        return not self.findings

    @property
    def verdicts(self) -> list[str]:
        return [f.verdict for f in self.findings] or ["healthy"]

    def text(self) -> str:
        lines = [f"diagnosis from {self.source}, steps {self.steps[0]}–{self.steps[1]}: {', '.join(self.verdicts)}"]
        for f in self.findings:
            lines += [f"  {f.verdict}: {f.evidence}", f"    what to change: {f.advice}"]
        lines.append("  numbers: " + _summary(self.numbers))
        return "\n".join(lines)


def health_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if "health/std_ratio" in r]


def diagnose(records: list[dict[str, Any]], window: int | None = None) -> Diagnosis:
    """Diagnose from log records (those without health numbers are ignored), on the medians of the last
    `window` health records (default: the last quarter)."""
    health = health_records(records)
    if not health:
        raise ValueError("the log has no health numbers (health/...): it was written before the doctor existed, "
                         "or train.log_every is larger than the run; train again to get them")
    window = health[-(window or max(1, len(health) // 4)):]
    keys = {k for r in window for k in r if k.startswith("health/")}
    n = {k[len("health/"):]: statistics.median(r[k] for r in window if k in r) for k in sorted(keys)}
    d = Diagnosis(steps=(window[0]["step"], window[-1]["step"]), numbers=n)
    width = int(n.get("width", 0))
    spread = (f"latent spread is {n['std_ratio']:.1%} of their magnitude, effective rank {n['rankme']:.1f}"
              + (f" of {width}" if width else "") + f", mean cosine between latents {n['cosine']:.3f}")
    if n.get("frozen"):
        pass  # a frozen encoder's latents (patch-form world models) are what they are: training cannot collapse them
    elif n["std_ratio"] < FULL_STD_RATIO or n["cosine"] > FULL_COSINE or n["rankme"] < FULL_RANK:
        d.findings.append(Finding("full collapse", spread, _COLLAPSE_ADVICE))
    elif (n["std_ratio"] < PARTIAL_STD_RATIO or n["cosine"] > PARTIAL_COSINE
          or (width and n["rankme"] < PARTIAL_RANK_FRACTION * width)):
        d.findings.append(Finding("partial collapse", spread, _COLLAPSE_ADVICE))
    if {"predict", "copy", "mean"} <= n.keys():
        best, name = min((n["copy"], "copying (the nearest visible latent; for world models the current one)"),
                         (n["mean"], "predicting the batch mean"))
        if n["predict"] >= COPY_MARGIN * best:
            d.findings.append(Finding(
                "no better than copying",
                f"predictor error {n['predict']:.4f} vs {best:.4f} by {name} "
                f"(copy {n['copy']:.4f}, mean {n['mean']:.4f})",
                "train longer or with a larger predictor (model.predictor_depth / predictor_width); if the "
                "latents are also collapsing, fix that first: a trivial target is trivially copied"))
    if "action_effect" in n and n["action_effect"] < ACTION_EFFECT:
        d.findings.append(Finding(
            "predictor ignores actions",
            f"another sample's actions move the prediction by {n['action_effect']:.1%} of one real step's change",
            "check that actions line up with frames (actions[t] moves frame t to t+1) and vary in the data; "
            "add rollout steps (objective.rollout_steps) or action-conditioning capacity"))
    return d


class HealthWatch:
    """Online: fed each log record, returns a warning the first time a verdict appears."""

    def __init__(self, total_steps: int):
        self.total_steps = total_steps
        self.records: deque[dict[str, Any]] = deque(maxlen=3)  # all a verdict needs: no growth over a run
        self.warned: set[str] = set()

    def update(self, record: dict[str, Any]) -> str | None:
        if "health/std_ratio" not in record:
            return None
        self.records.append(record)
        if record["step"] < WATCH_AFTER * self.total_steps:
            return None
        d = diagnose(list(self.records), window=3)  # medians of three logged steps: one odd batch does not warn
        new = [f for f in d.findings if f.verdict not in self.warned]
        if not new:
            return None
        self.warned.update(f.verdict for f in new)
        return "; ".join(f"{f.verdict} at step {record['step']}: {f.evidence} ({f.advice})" for f in new)


_COLLAPSE_ADVICE = ("keep a regulariser on: the EMA teacher with momentum close to 1 (objective.ema, e.g. "
                    "[0.99, 0.999]) or objective.regularizer=sigreg with sigreg_weight > 0; lower optim.lr")


def _summary(n: dict[str, float]) -> str:
    parts = [f"latent spread {n['std_ratio']:.1%} of magnitude, effective rank {n['rankme']:.1f}, "
             f"mean cosine {n['cosine']:.3f}"]
    if {"predict", "copy", "mean"} <= n.keys():
        parts.append(f"predictor error {n['predict']:.4f} (copy {n['copy']:.4f}, mean {n['mean']:.4f})")
    if "action_effect" in n:
        parts.append(f"action effect {n['action_effect']:.1%} of a step")
    horizon = sorted((int(k.split("_")[1]), v) for k, v in n.items() if k.startswith("rollout_"))
    if horizon:
        parts.append("open-loop error by horizon " + " ".join(f"{h}:{v:.4f}" for h, v in horizon))
    return "; ".join(parts)

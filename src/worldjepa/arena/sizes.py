"""Equal budgets: the arena sizes each baseline to the JEPA model's trainable parameter count, within a band.

The autoregressive model grows by transformer depth (at the JEPA predictor's width), the diffusion model by its
U-Net's base width (levels [c, 2c, 4c], its noise and action embedding 4c wide: the width goes where the frames
are small; at two-rooms' count it generates 320 × 2 frames in 14.7 s in bf16, levels [c, 2c, 2c] in 20.4 s);
whichever size lands closest to the JEPA count is taken, and a count outside the band stops the arena before any
training, saying what was reached.
"""

from __future__ import annotations

import dataclasses

from ..config import WorldModelConfig
from ..data.episodes import StoreMeta
from ..dynamics.model import build_objective

BAND = 0.10


def trainable(cfg: WorldModelConfig, meta: StoreMeta) -> int:
    return sum(p.numel() for p in build_objective(cfg, meta).trainable().parameters() if p.requires_grad)


def with_model(cfg: WorldModelConfig, **changes) -> WorldModelConfig:
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, **changes))


def candidates(cfg: WorldModelConfig, form: str) -> list[WorldModelConfig]:
    if form == "autoregressive":
        return [with_model(cfg, form=form, predictor_depth=d) for d in range(1, 25)]
    if form == "diffusion":
        return [with_model(cfg, form=form, unet_channels=[c, 2 * c, 4 * c]) for c in range(2, 161)]
    raise ValueError(f"no sizing rule for model.form={form}")


def matched(cfg: WorldModelConfig, meta: StoreMeta, form: str, band: float = BAND) -> tuple[WorldModelConfig, int, int]:
    """(config of `form` closest in trainable parameters to `cfg`'s model, its count, the target count)."""
    target = trainable(cfg, meta)
    sized = [(abs(trainable(c, meta) - target), c) for c in candidates(cfg, form)]
    gap, best = min(sized, key=lambda item: item[0])
    count = trainable(best, meta)
    check_band(form, count, target, band)
    return best, count, target


def check_band(form: str, count: int, target: int, band: float = BAND) -> None:
    if abs(count - target) > band * target:
        raise ValueError(f"the {form} baseline has {count:,} trainable parameters, {100 * (count / target - 1):+.1f}% "
                         f"from the JEPA model's {target:,}: outside the ±{100 * band:.0f}% band that makes the "
                         f"comparison fair; change the JEPA model's size or the baseline's (model.predictor_width, "
                         f"model.codes, model.tokenizer_channels)")

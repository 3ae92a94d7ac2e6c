"""Masked latent prediction: the I-JEPA / V-JEPA / V-JEPA 2 / V-JEPA 2.1 pretraining objective.

For each modality in the batch (clips, stills):

    tokens = tokenizer(obs)
    h      = level_norm(teacher(obs, all levels))            no gradient (EMA regulariser)
           | level_norm(encoder(obs, all levels))            with gradient (SIGReg regulariser)
    for each mask type (short-range, long-range, ...):
        z          = encoder(tokens[context], all levels)
        ẑ_t, ẑ_c   = predictor(z, context positions, target positions, mask type)
        L_predict += |ẑ_t − h[targets]|,  L_ctx += |ẑ_c − h[context]| / √d_min
    L = mean over mask types of (L_predict + λ_t · L_ctx)    [+ w · SIGReg(last level of h)]

Clip and still losses are mixed by the batch's image share, as gradient averaging over video and image
ranks does in the official multi-GPU setup. The recipe switches (context loss, levels, tokenizers,
masking, loss form) select V-JEPA 2.1 or its predecessors; the trainer does not know which.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import ObjectiveConfig
from ..data.batches import Batch, seed_for
from ..distributed import global_rows
from ..nn.encoder import Encoder, gather_tokens
from ..nn.predictor import MaskedPredictor
from ..nn.tokenizers import IMAGE, VIDEO, Tokens
from ..train.monitors import spread
from ..train.objective import Losses
from .losses import context_loss, lambda_at, level_norm, masked_loss
from .masks import IJEPAMask, Masks, MultiBlockMask, distance_to_masked
from .sigreg import sigreg
from .teacher import EMATeacher, momentum_at


class MaskedLatentPrediction(nn.Module):
    def __init__(self, encoder: Encoder, predictor: MaskedPredictor, cfg: ObjectiveConfig,
                 video_grid: tuple[int, int, int], image_grid: tuple[int, int, int], total_steps: int,
                 seed: int = 0):
        super().__init__()
        self.encoder, self.predictor, self.cfg = encoder, predictor, cfg
        self.total_steps, self.seed = total_steps, seed
        self.levels = encoder.num_levels
        self.teacher = EMATeacher(encoder) if cfg.regularizer == "ema" else None
        self.video_masks = [MultiBlockMask(video_grid, m, i, cfg.min_context) for i, m in enumerate(cfg.masks)]
        if cfg.masking == "ijepa":
            self.image_masks = [IJEPAMask(image_grid, min_context=cfg.min_context)]
        else:
            self.image_masks = [MultiBlockMask(image_grid, m, i, cfg.min_context) for i, m in enumerate(cfg.image_masks)]
        start, end = cfg.lambda_warmup
        if start < 0:
            start, end = int(0.05 * total_steps), int(0.10 * total_steps)
        self.lambda_warmup = (start, max(end, start))  # start = end: λ at full weight from `start` on

    def trainable(self) -> nn.ModuleDict:
        """The modules the optimizer updates (the teacher follows by EMA)."""
        return nn.ModuleDict({"encoder": self.encoder, "predictor": self.predictor})

    def loss(self, batch: Batch, step: int) -> Losses:
        parts: dict[str, float] = {}
        total = None
        weights = {VIDEO: batch.video.shape[0] if batch.video is not None else 0,
                   IMAGE: batch.image.shape[0] if batch.image is not None else 0}
        for modality, obs in ((VIDEO, batch.video), (IMAGE, batch.image)):
            if obs is None:
                continue
            loss, named = self._modality_loss(obs, modality, step)
            share = weights[modality] / sum(weights.values())
            total = loss * share if total is None else total + loss * share
            prefix = "video" if modality == VIDEO else "image"
            parts.update({f"{prefix}/{k}": v for k, v in named.items()})
        if total is None:
            raise ValueError("empty batch: neither clips nor images")
        parts["loss"] = float(total.detach())
        return Losses(total, parts)

    def predict(self, z: Tensor, tokens: Tokens, context: Tensor, targets: Tensor, mask_type: int
                ) -> tuple[Tensor, Tensor]:
        """The predictor on context latents z at the `context` token indices, for the `targets` ones. Its RoPE
        positions are the encoder's (interpolated onto the pretraining grid with `rope_grid`, as V-JEPA 2.1's
        predictor does)."""
        pos = self.encoder.rope_positions(tokens.positions, tokens.grid)
        return self.predictor(z, pos[context], pos[targets], mask_type, tokens.modality)

    def _targets(self, obs: Tensor) -> tuple[Tokens, Tensor, Tensor]:
        """(tokens, raw target features [B, N, levels·D], level-normalised targets): the teacher's when
        there is one (no gradient), else the encoder's own."""
        all_levels = self.levels > 1
        tokens = self.encoder.tokenize(obs)
        if self.teacher is not None:
            with torch.no_grad():
                raw = self.teacher(obs, all_levels=all_levels)
        else:
            raw = self.encoder.encode_tokens(tokens, all_levels=all_levels)
        return tokens, raw, level_norm(raw.float(), self.levels)

    def _step_masks(self, batch_size: int, modality: int, step: int) -> list[Masks]:
        """This step's masks, one per mask type: a pure function of (seed, step, modality). In a run of several
        processes they are drawn for the global batch and each rank keeps its rows, as one process would draw."""
        generator = torch.Generator().manual_seed(seed_for(self.seed, step, modality, 3))
        samplers = self.video_masks if modality == VIDEO else self.image_masks
        rows, mine = global_rows(batch_size, stills=modality == IMAGE)
        return [sampler.sample(rows, generator).rows(mine) for sampler in samplers]

    def _modality_loss(self, obs: Tensor, modality: int, step: int) -> tuple[Tensor, dict[str, float]]:
        cfg, all_levels = self.cfg, self.levels > 1
        tokens, raw, target = self._targets(obs)
        masks = self._step_masks(obs.shape[0], modality, step)
        lam = lambda_at(step, cfg.lambda_video if modality == VIDEO else cfg.lambda_image, self.lambda_warmup)
        pos = tokens.positions
        l_pred = l_ctx = torch.zeros((), device=obs.device)
        for m in masks:
            groups = m.targets.shape[1]  # I-JEPA: one predictor pass per target block
            z = self.encoder.encode_tokens(tokens, keep=m.context, all_levels=all_levels)
            context, targets = m.context.repeat_interleave(groups, 0), m.targets.flatten(0, 1)
            z = z.repeat_interleave(groups, 0)
            h = target.repeat_interleave(groups, 0) if groups > 1 else target
            pred_t, pred_c = self.predict(z, tokens, context, targets, m.mask_type)
            l_pred = l_pred + masked_loss(pred_t.float(), gather_tokens(h, targets), cfg.loss)
            if cfg.context_loss:
                dist = distance_to_masked(pos, m.context, m.masked).repeat_interleave(groups, 0)
                l_ctx = l_ctx + context_loss(pred_c.float(), gather_tokens(h, context), dist, cfg.loss)
        l_pred, l_ctx = l_pred / len(masks), l_ctx / len(masks)
        loss = l_pred + lam * l_ctx
        named = {"predict": float(l_pred.detach()), "context": float(l_ctx.detach()), "lambda": lam}
        if cfg.regularizer == "sigreg":
            last = raw[..., -self.encoder.dim:]
            reg = sigreg(last, cfg.sigreg_slices, seed=seed_for(self.seed, step, modality, 4))
            loss = loss + cfg.sigreg_weight * reg
            named["sigreg"] = float(reg.detach())
        return loss, named

    @torch.no_grad()
    def monitors(self, batch: Batch, step: int) -> dict[str, float]:
        """Health numbers at a log step (train/monitors.py; read by `worldjepa doctor`): the spread of the
        targets' last level, and this step's masks (every mask type) predicted three ways: by the
        predictor, by copying the target of the nearest visible token, by the batch's mean target.
        Errors are the training loss's form on all levels, averaged over mask types."""
        modality, obs = (VIDEO, batch.video) if batch.video is not None else (IMAGE, batch.image)
        all_levels = self.levels > 1
        tokens, raw, target = self._targets(obs)
        mean = target.mean((0, 1), keepdim=True)
        masks = self._step_masks(obs.shape[0], modality, step)  # the step's own masks
        pos, errors = tokens.positions, torch.zeros(3)
        for m in masks:
            context, targets = m.context, m.targets[:, 0]  # I-JEPA: the first target block of each sample
            z = self.encoder.encode_tokens(tokens, keep=context, all_levels=all_levels)
            pred, _ = self.predict(z, tokens, context, targets, m.mask_type)
            truth = gather_tokens(target, targets)
            nearest = torch.cdist(pos[targets], pos[context]).argmin(-1)  # [B, Nt] into the context
            copy = gather_tokens(gather_tokens(target, context), nearest)
            errors += torch.tensor([float(masked_loss(x, truth, self.cfg.loss))
                                    for x in (pred.float(), copy, mean.expand_as(truth))]) / len(masks)
        health = {f"health/{k}": v for k, v in spread(raw[..., -self.encoder.dim:]).items()}
        health.update(zip(("health/predict", "health/copy", "health/mean"), errors.tolist()))
        return health

    @torch.no_grad()
    def after_step(self, step: int) -> dict[str, float]:
        """Called after each optimizer step: move the teacher towards the encoder."""
        if self.teacher is None:
            return {}
        m = momentum_at(step, self.total_steps, *self.cfg.ema)
        self.teacher.update(self.encoder, m)
        return {"momentum": m}

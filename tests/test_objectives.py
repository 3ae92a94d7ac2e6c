"""Both training objectives assemble their loss as their docstrings write it: recomputed here term by term
from the objectives' own modules with the formulas written out (no call into the objectives' loss code)."""

import numpy as np
import pytest
import torch
from conftest import SMALL_WM

from worldjepa import config
from worldjepa.data.batches import Batch, to_tensor
from worldjepa.data.episodes import StoreMeta
from worldjepa.dynamics.model import FrozenPatchEncoder, build_objective as build_world_model
from worldjepa.dynamics.objective import WorldModelObjective
from worldjepa.dynamics.patch import PatchActionPredictor
from worldjepa.nn.encoder import Encoder, ViTSize
from worldjepa.nn.tokenizers import IMAGE, VIDEO
from worldjepa.pretrain import build_objective, build_source
from worldjepa.ssl.sigreg import sigreg


def _by_hand_masked_prediction(objective, obs, modality, step, lam):
    """mean over mask types of [ mean |ẑ_M − h_M| + λ · mean |ẑ_C − h_C| / √d_min ], h the teacher's
    levels, each LayerNorm'ed (no affine) on its own; d_min the grid distance to the nearest masked token."""
    enc, levels = objective.encoder, objective.levels
    tokens = enc.tokenize(obs)
    raw = objective.teacher(obs, all_levels=True).float()
    h = torch.cat([torch.nn.functional.layer_norm(c, c.shape[-1:]) for c in raw.chunk(levels, dim=-1)], dim=-1)
    pos = tokens.positions.float()
    masks = objective._step_masks(obs.shape[0], modality, step)  # the step's masks, as the loss draws them
    predict, context = [], []
    for m in masks:
        z = enc.encode_tokens(tokens, keep=m.context, all_levels=True)
        pred_t, pred_c = objective.predictor(z, pos[m.context], pos[m.targets[:, 0]], m.mask_type, tokens.modality)
        h_t = torch.stack([h[b, m.targets[b, 0]] for b in range(len(h))])
        h_c = torch.stack([h[b, m.context[b]] for b in range(len(h))])
        masked_pos = [pos[m.masked[b]] for b in range(len(h))]
        d_min = torch.stack([torch.cdist(pos[m.context[b]], masked_pos[b]).min(-1).values for b in range(len(h))])
        predict.append((pred_t.float() - h_t).abs().mean())
        context.append(((pred_c.float() - h_c).abs() / d_min.sqrt()[..., None]).mean())
    return torch.stack(predict).mean() + lam * torch.stack(context).mean()


def test_masked_prediction_loss_is_assembled_as_written(small_overrides):
    """V-JEPA 2.1 with clips and stills in one batch, at a step in the middle of λ's warm-up."""
    cfg = config.load("tiny-cpu", small_overrides + ["data.image_fraction=0.5", "train.steps=100",
                                                     "objective.lambda_warmup=[4, 12]"])
    objective = build_objective(cfg)
    torch.manual_seed(1)
    for p in objective.teacher.parameters():  # a teacher unlike the student, so that the targets are its own
        p.data.add_(0.05 * torch.randn_like(p))
    batch, step = build_source(cfg).batch(7, 0), 7
    lam_video = 0.5 * (7 - 4) / (12 - 4)  # λ ramps 0 → 0.5 (clips) / 0.7 (stills) between steps 4 and 12
    lam_image = 0.7 * (7 - 4) / (12 - 4)
    with torch.no_grad():
        losses = objective.loss(batch, step)
        video = _by_hand_masked_prediction(objective, batch.video, VIDEO, step, lam_video)
        image = _by_hand_masked_prediction(objective, batch.image, IMAGE, step, lam_image)
    n_video, n_image = batch.video.shape[0], batch.image.shape[0]
    expected = (n_video * video + n_image * image) / (n_video + n_image)  # mixed by the batch's image share
    assert n_video == n_image == 2
    assert float(losses.total) == pytest.approx(float(expected), rel=1e-5)
    assert losses.parts["video/lambda"] == pytest.approx(lam_video) and losses.parts["image/lambda"] == pytest.approx(lam_image)


def _window(meta, episodes=4, window=3):
    """A batch of world-model windows: random frames, action chunks and proprio."""
    g = np.random.default_rng(0)
    frames = g.integers(0, 255, (episodes, window, meta.image_size, meta.image_size, 3), dtype=np.uint8)
    actions = torch.as_tensor(g.uniform(-1, 1, (episodes, window - 1, 2 * meta.action_dim)), dtype=torch.float32)
    proprio = torch.as_tensor(g.normal(size=(episodes, window, meta.proprio_dim)), dtype=torch.float32)
    return Batch(video=to_tensor(frames), actions=actions, proprio=proprio)


def _feed_back_with_held_proprio(predictor, z, actions, proprio, steps):
    """The rollout from z_1 written as a plain loop: the sequence grows by its own last prediction, every
    step reading the first frame's proprio."""
    seq, held = z[:, :1], proprio[:, :1].expand(-1, steps, -1)
    for n in range(1, steps + 1):
        seq = torch.cat([seq, predictor(seq, actions[:, :n], held[:, :n])[:, -1:]], dim=1)
    return seq[:, 1:]


META = StoreMeta(world="two-rooms", image_size=32, action_dim=2, action_low=[-1, -1], action_high=[1, 1], proprio_dim=2)


def test_compact_world_model_loss_is_teacher_forcing_plus_rollout_plus_sigreg():
    """L = mean (ẑ^tf − z_2..T)² + w_ro · mean (ẑ^ro − z_2..R+1)² + λ · mean_t SIGReg(z_t)."""
    cfg = config.load_world_model("wm-two-rooms", SMALL_WM + ["model.use_proprio=true", "objective.rollout_weight=0.7",
                                                              "objective.sigreg_weight=0.3", "train.seed=5"])
    objective = build_world_model(cfg, META)
    for block in objective.predictor.blocks:  # gates open: the predictor reads actions and proprio
        torch.nn.init.normal_(block.modulation[1].weight, std=0.3)
    objective.eval()  # BatchNorm on running statistics: the same encoding in both computations
    batch, step = _window(META), 9
    with torch.no_grad():
        losses = objective.loss(batch, step)
        z = objective.encoder(batch.video.flatten(0, 1)).unflatten(0, (4, 3))
        tf = objective.predictor(z[:, :-1], batch.actions, batch.proprio[:, :-1])
        ro = _feed_back_with_held_proprio(objective.predictor, z, batch.actions, batch.proprio, 2)
        reg = torch.stack([sigreg(z[:, t], 256, seed=5 * 1_000_003 + step * 31 + t) for t in range(3)]).mean()
    l_tf, l_ro = (tf - z[:, 1:]).pow(2).mean(), (ro - z[:, 1:3]).pow(2).mean()
    assert float(losses.total) == pytest.approx(float(l_tf + 0.7 * l_ro + 0.3 * reg), rel=1e-5)
    assert losses.parts["teacher_forcing"] == pytest.approx(float(l_tf), rel=1e-5)
    assert losses.parts["rollout"] == pytest.approx(float(l_ro), rel=1e-4)
    assert losses.parts["sigreg"] == pytest.approx(float(reg), rel=1e-5)


def test_patch_world_model_loss_is_l1_on_layernormed_frozen_features():
    """V-JEPA 2-AC form: targets are the frozen ViT's patch tokens of each frame fed as a 2-frame tubelet
    through the video tokenizer, LayerNorm'ed; predictions are LayerNorm'ed too (`normalize_reps`) before
    the loss and before being fed back; the loss is L1 teacher forcing + rollout, no SIGReg, and no
    gradient reaches the encoder."""
    cfg = config.load_world_model("wm-two-rooms", SMALL_WM + ["objective.loss=l1", "objective.rollout_weight=0.5",
                                                              "model.use_proprio=true"])
    torch.manual_seed(0)
    vit = Encoder(ViTSize(2, 48, 2), patch_size=8, tubelet_size=2, levels=1)
    predictor = PatchActionPredictor(48, (4, 4), 4, width=32, depth=2, heads=2, proprio_dim=2)
    objective = WorldModelObjective(FrozenPatchEncoder(vit), predictor, cfg.objective, True, use_proprio=True).train()
    batch = _window(META)
    losses = objective.loss(batch, step=0)
    losses.total.backward()
    with torch.no_grad():
        frames = batch.video.flatten(0, 1)
        raw = vit(torch.stack([frames, frames], dim=1))  # [B·T, 2, 3, S, S]: one tubelet of the frame twice
        z = ((raw - raw.mean(-1, keepdim=True)) / (raw.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt())
        z = z.unflatten(0, (4, 3))
        tf = predictor(z[:, :-1], batch.actions, batch.proprio[:, :-1])
        ro = _feed_back_with_held_proprio(predictor, z, batch.actions, batch.proprio, 2)
    for pred in (tf, ro):  # each predicted token has mean 0 and variance 1 over its channels
        torch.testing.assert_close(pred.mean(-1), torch.zeros(pred.shape[:-1]), rtol=0, atol=1e-5)
        torch.testing.assert_close(pred.var(-1, unbiased=False), torch.ones(pred.shape[:-1]), rtol=0, atol=1e-2)  # ε = 1e-5
    expected = (tf - z[:, 1:]).abs().mean() + 0.5 * (ro - z[:, 1:3]).abs().mean()
    assert float(losses.total.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert "sigreg" not in losses.parts
    assert all(p.grad is None for p in vit.parameters()) and predictor.out.weight.grad.abs().sum() > 0


def test_patch_loss_weighted_toward_changing_tokens_and_predicting_the_change():
    """`objective.token_weights=change`: each target token's L1 is weighted by its mean |change| over the
    step, normalised to mean 1 over the frame (formula written out here); `model.predict_change`: the
    prediction is LN(z_k + Δ), so with a zero output head the predictor copies the (LayerNorm'ed) frame."""
    cfg = config.load_world_model("wm-two-rooms", SMALL_WM + ["objective.loss=l1", "objective.rollout_weight=0.5",
                                                              "model.use_proprio=true"])
    cfg.objective.token_weights = "change"
    torch.manual_seed(0)
    vit = Encoder(ViTSize(2, 48, 2), patch_size=8, tubelet_size=2, levels=1)
    predictor = PatchActionPredictor(48, (4, 4), 4, width=32, depth=2, heads=2, proprio_dim=2, predict_change=True)
    objective = WorldModelObjective(FrozenPatchEncoder(vit), predictor, cfg.objective, True, use_proprio=True).train()
    batch = _window(META)
    losses = objective.loss(batch, step=0)
    with torch.no_grad():
        z = objective.encode_frames(batch.video)
        tf = predictor(z[:, :-1], batch.actions, batch.proprio[:, :-1])
        ro = _feed_back_with_held_proprio(predictor, z, batch.actions, batch.proprio, 2)
        w = torch.empty(z.shape[0], z.shape[1] - 1, z.shape[2], 1)
        for b in range(z.shape[0]):
            for t in range(z.shape[1] - 1):
                c = (z[b, t + 1] - z[b, t]).abs().mean(-1)  # [N]
                w[b, t, :, 0] = c / (c.mean() + 1e-6)
    assert w.mean() == pytest.approx(1.0, abs=1e-4) and w.max() > 1.2 * w.min()  # the weights do differ
    expected = (w * (tf - z[:, 1:]).abs()).mean() + 0.5 * (w[:, :2] * (ro - z[:, 1:3]).abs()).mean()
    assert float(losses.total.detach()) == pytest.approx(float(expected), rel=1e-5)
    uniform = (tf - z[:, 1:]).abs().mean() + 0.5 * (ro - z[:, 1:3]).abs().mean()
    assert abs(float(expected) - float(uniform)) > 1e-4  # weighting changes the loss
    torch.nn.init.zeros_(predictor.out.weight)
    torch.nn.init.zeros_(predictor.out.bias)
    with torch.no_grad():
        copied = torch.nn.functional.layer_norm(z[:, :-1], z.shape[-1:])
        torch.testing.assert_close(predictor(z[:, :-1], batch.actions, batch.proprio[:, :-1]), copied,
                                   rtol=0, atol=1e-5)
        rolled = predictor.rollout(z[:, 0], batch.actions, batch.proprio[:, :1].expand(-1, 2, -1))
        torch.testing.assert_close(rolled, torch.nn.functional.layer_norm(z[:, :1], z.shape[-1:]).expand_as(rolled),
                                   rtol=0, atol=1e-5)


def test_patch_only_options_are_refused_for_the_compact_form():
    for key in ("model.predict_change=true", "objective.token_weights=change"):
        with pytest.raises(config.ConfigError, match="model.form=patch"):
            config.load_world_model("wm-two-rooms", SMALL_WM + [key])

"""One way to roll a world model forward (dynamics/unroll.py): the training loss, planning and navigation
predict the same latents for the same frames, actions and proprio, under the one proprio rule (the
observed frame's proprio held over the horizon), in both predictor forms."""

import numpy as np
import pytest
import torch

from worldjepa.config import load_world_model
from worldjepa.data.batches import Batch, to_tensor
from worldjepa.data.episodes import StoreMeta
from worldjepa.dynamics.model import FrozenPatchEncoder, JEPAWorldModel, build_objective
from worldjepa.dynamics.objective import WorldModelObjective, latent_distance
from worldjepa.dynamics.patch import PatchActionPredictor
from worldjepa.dynamics.unroll import feed_back, unroll
from worldjepa.eval.navigation import open_loop
from worldjepa.nn.encoder import Encoder, ViTSize
from worldjepa.worlds.collect import rollouts
from worldjepa.worlds.two_rooms import TwoRooms

FRAMESKIP, T = 2, 4  # a window of 4 frames, 3 action chunks of 2 primitive actions
META = StoreMeta(world="two-rooms", image_size=32, action_dim=2, action_low=[-1.0, -1.0], action_high=[1.0, 1.0],
                 proprio_dim=2)


def _objective(form: str) -> WorldModelObjective:
    from conftest import SMALL_WM

    cfg = load_world_model("wm-two-rooms", SMALL_WM + ["model.use_proprio=true", f"data.window={T}",
                                                         f"data.frameskip={FRAMESKIP}", f"objective.rollout_steps={T - 1}"])
    torch.manual_seed(0)
    if form == "compact":
        objective = build_objective(cfg, META)
        for block in objective.predictor.blocks:  # open AdaLN-zero's gates, or actions and proprio would not matter yet
            torch.nn.init.normal_(block.modulation[1].weight, std=0.3)
    else:  # V-JEPA 2-AC: a frozen ViT's LayerNorm'ed patch tokens (a random one will do for equality)
        vit = Encoder(ViTSize(2, 48, 2), patch_size=8, tubelet_size=2, levels=1)
        predictor = PatchActionPredictor(48, (4, 4), 2 * FRAMESKIP, width=32, depth=2, heads=2, proprio_dim=2)
        torch.nn.init.normal_(predictor.state.weight, std=1.0)  # a proprio token that matters at initialisation
        objective = WorldModelObjective(FrozenPatchEncoder(vit), predictor, cfg.objective, True, use_proprio=True)
    return objective.eval()


def _window(episodes: int = 6):
    """Real two-rooms frames [N, T, 32, 32, 3], action chunks [N, T-1, 4] and proprio [N, T, 2]."""
    data = list(rollouts(TwoRooms(image_size=32), episodes, (T - 1) * FRAMESKIP, seed=3))
    frames = np.stack([d[1][::FRAMESKIP] for d in data])
    chunks = torch.as_tensor(np.stack([d[2] for d in data]), dtype=torch.float32).reshape(episodes, T - 1, -1)
    proprio = torch.as_tensor(np.stack([d[3][::FRAMESKIP] for d in data]), dtype=torch.float32)
    return frames, chunks, proprio


@pytest.mark.parametrize("form", ["compact", "patch"])
def test_training_planning_and_navigation_predict_the_same_latents(form):
    objective = _objective(form)
    frames, chunks, proprio = _window()
    model = JEPAWorldModel(objective, 32, -np.ones(4), np.ones(4), precision="fp32", frameskip=FRAMESKIP)
    batch = Batch(video=to_tensor(frames), actions=chunks, proprio=proprio)
    with torch.no_grad():
        z = objective.encode_frames(batch.video)
        _, training = objective.predict(z, chunks, proprio, T - 1)  # what the rollout loss compares
        planning = model.rollout(model.encode(frames[:, 0]), chunks[:, None], proprio[:, 0])[:, 0]
    navigation = open_loop(model, frames[:, 0], chunks, proprio[:, 0])
    assert training.shape == planning.shape == navigation.shape == (6, T - 1, *z.shape[2:])
    torch.testing.assert_close(planning, training, rtol=0, atol=2e-5)
    torch.testing.assert_close(navigation, planning, rtol=0, atol=0)  # the same call, the same numbers

    # the loss's rollout term is the distance of exactly these predictions to the frames they predict
    losses = objective.loss(batch, step=0)
    expected = float(latent_distance(planning, z[:, 1:], objective.cfg.loss))
    assert losses.parts["rollout"] == pytest.approx(expected, rel=1e-5)

    # the rule: the first frame's proprio held at every step (an independent loop over the predictor) ...
    held = proprio[:, :1].expand(-1, T - 1, -1)
    with torch.no_grad():
        by_hand = feed_back(objective.predictor, z[:, 0], chunks, held)
        with_truth = feed_back(objective.predictor, z[:, 0], chunks, proprio[:, :-1])
    torch.testing.assert_close(training, by_hand, rtol=0, atol=2e-5)
    # ... which is not what feeding the true future proprio gives: the rule is visible in the predictions
    assert (with_truth - by_hand)[:, 1:].abs().max() > 100 * 2e-5
    assert torch.equal(with_truth[:, 0], by_hand[:, 0])  # the first step reads the observed proprio either way


def test_unroll_needs_the_observed_proprio_of_a_model_that_reads_it():
    objective = _objective("compact")
    z0, actions = torch.randn(3, 32), torch.randn(3, 2, 4)
    with pytest.raises(ValueError, match="reads proprio"):
        unroll(objective.predictor, z0, actions)
    with pytest.raises(ValueError, match=r"proprio must be \[B=3, 2\]"):
        unroll(objective.predictor, z0, actions, torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"actions must be \[B=3, horizon, A\]"):
        unroll(objective.predictor, z0, torch.randn(2, 2, 4), torch.zeros(3, 2))


@pytest.mark.parametrize("form", ["compact", "patch"])
def test_gradients_flow_through_the_cached_rollout(form):
    """The training rollout and the gradient planner differentiate through each form's cached rollout
    (keys and values of earlier steps kept): its values and gradients are those of the plain loop."""
    objective = _objective(form)
    z0 = torch.randn(4, 32) if form == "compact" else torch.randn(4, 16, 48)
    proprio = torch.randn(4, 3, 2)
    actions = torch.randn(4, 3, 4, requires_grad=True)
    fast = objective.predictor.rollout(z0, actions, proprio)
    fast.pow(2).sum().backward()
    cached = actions.grad.clone()
    actions.grad = None
    slow = feed_back(objective.predictor, z0, actions, proprio)
    slow.pow(2).sum().backward()
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(cached, actions.grad, rtol=1e-4, atol=1e-5)
    assert cached.abs().max() > 1e-5  # and not zero: the actions do reach the predictions

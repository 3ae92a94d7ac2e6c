"""Action-conditioned predictors: causality, AdaLN-zero, energies, and a trained model that responds to actions."""

import numpy as np
import pytest
import torch

from conftest import SMALL_WM
from worldjepa.config import ConfigError, load_world_model
from worldjepa.doctor import diagnose_run
from worldjepa.data.episodes import EpisodeStore
from worldjepa.dynamics.compact import ActionPredictor
from worldjepa.dynamics.energy import latent_energy
from worldjepa.dynamics.model import load_world_model as load_run, train_world_model
from worldjepa.dynamics.patch import PatchActionPredictor, block_causal_mask
from worldjepa.planning.evaluate import evaluate_planning
from worldjepa.worlds.collect import collect
from worldjepa.worlds.two_rooms import TwoRooms


def test_block_causal_mask_formula():
    m = block_causal_mask(3, 2)
    step = torch.tensor([0, 0, 1, 1, 2, 2])
    assert torch.equal(m, step[:, None] >= step[None, :])
    assert m[0, 1] and not m[1, 2] and m[5, 0]  # full inside a step, nothing from later steps


@pytest.mark.parametrize("form", ["patch", "compact"])
def test_changing_step_t_plus_1_leaves_earlier_outputs_unchanged(form):
    torch.manual_seed(0)
    B, T, N, D, A, P = 2, 4, 6, 24, 3, 2
    if form == "patch":
        pred = PatchActionPredictor(D, (2, 3), A, width=48, depth=2, heads=2, proprio_dim=P)
        z = torch.randn(B, T, N, D)
    else:
        pred = ActionPredictor(D, A, width=48, depth=2, heads=2, proprio_dim=P)
        for block in pred.blocks:  # leave AdaLN-zero's identity start, or the actions would not matter yet
            torch.nn.init.normal_(block.modulation[1].weight, std=0.5)
        z = torch.randn(B, T, D)
    a, s = torch.randn(B, T, A), torch.randn(B, T, P)
    out = pred(z, a, s)
    t = 1
    z2, a2, s2 = z.clone(), a.clone(), s.clone()
    z2[:, t + 1:] += torch.randn_like(z2[:, t + 1:])
    a2[:, t + 1:] += 1.0
    s2[:, t + 1:] -= 1.0
    out2 = pred(z2, a2, s2)
    torch.testing.assert_close(out2[:, :t + 1], out[:, :t + 1], rtol=0, atol=1e-6)
    assert (out2[:, t + 1:] - out[:, t + 1:]).abs().max() > 1e-3
    a3 = a.clone()
    a3[:, t] += 1.0  # the action of step t does change the prediction made at step t
    assert (pred(z, a3, s)[:, t] - out[:, t]).abs().max() > 1e-4


def test_adaln_zero_starts_as_identity_blocks():
    torch.manual_seed(0)
    pred = ActionPredictor(16, 4, width=32, depth=3, heads=2)
    z = torch.randn(2, 3, 16)
    expected = pred.out(pred.norm(pred.inp(z)))  # every block is the identity at initialisation
    torch.testing.assert_close(pred(z, torch.randn(2, 3, 4)), expected)


def test_latent_energy_formula():
    z_pred = torch.tensor([[[[1.0, 2.0], [0.0, 0.0]], [[3.0, 0.0], [1.0, 1.0]]]])  # [B=1, C=2, H=2, L=2]
    goal = torch.tensor([[1.0, 1.0]])
    w = torch.tensor([0.25, 1.0])
    e = latent_energy(z_pred, goal, "l2", w)
    assert torch.allclose(e, torch.tensor([[0.25 * 1 + 1.0 * 2, 0.25 * 5 + 0.0]]))
    e1 = latent_energy(z_pred, goal, "l1", w)
    assert torch.allclose(e1, torch.tensor([[0.25 * 0.5 + 1.0 * 1.0, 0.25 * 1.5 + 0.0]]))


@pytest.fixture(scope="module")
def trained_two_rooms(tmp_path_factory):
    root = tmp_path_factory.mktemp("wm")
    collect(TwoRooms(image_size=32), "two-rooms", root / "data", episodes=120, steps=20, expert_share=0.0,
            progress=False)
    cfg = load_world_model("wm-two-rooms", SMALL_WM + ["train.steps=300"])
    train_world_model(cfg, root / "data", root / "run", progress=False)
    return root


def test_trained_predictor_responds_to_actions(trained_two_rooms):
    """Held-out states, two opposite action chunks: the prediction for each lies nearer the encoding of
    the frame that action really leads to than the encoding of the other outcome."""
    model, cfg, _ = load_run(trained_two_rooms / "run")
    world = TwoRooms(image_size=32)
    rng = np.random.default_rng(123)
    starts = np.stack([np.array([rng.uniform(0.15, 0.35), rng.uniform(0.2, 0.8)]) for _ in range(40)])
    chunk = rng.uniform(-1, 1, (40, 2))
    right = []
    for sign in (1.0, -1.0):
        ends = []
        for p, a in zip(starts, chunk):
            world.reset(options={"state": p})
            for _ in range(cfg.data.frameskip):
                world.step(sign * a)
            ends.append(world.render())
        right.append(model.encode(np.stack(ends)))
    z0 = model.encode(np.stack([world.render_state(p) for p in starts]))
    acts = torch.tensor(np.stack([np.tile(chunk, 2), np.tile(-chunk, 2)], 1), dtype=torch.float32)[:, :, None]
    pred = model.rollout(z0, acts)[:, :, 0]  # [40, 2 actions, L]
    d_own = torch.stack([(pred[:, 0] - right[0]).norm(dim=-1), (pred[:, 1] - right[1]).norm(dim=-1)])
    d_other = torch.stack([(pred[:, 0] - right[1]).norm(dim=-1), (pred[:, 1] - right[0]).norm(dim=-1)])
    accuracy = (d_own < d_other).float().mean()
    assert accuracy >= 0.9, accuracy
    assert (pred[:, 0] - pred[:, 1]).norm(dim=-1).mean() > 0.3 * (right[0] - right[1]).norm(dim=-1).mean()


def test_doctor_sees_a_predictor_that_ignores_shuffled_actions(trained_two_rooms, tmp_path):
    """The same store with every episode's actions taken from another episode: actions then carry no
    information about the next frame, the predictor learns to ignore them, and the doctor says so; the
    model trained on the true actions is not flagged."""
    import shutil

    data = trained_two_rooms / "data"
    shuffled = tmp_path / "shuffled"
    shutil.copytree(data, shuffled)
    files = sorted((shuffled / "episodes").glob("*.npz"))
    actions = [np.load(f)["action"] for f in files]
    for i, f in enumerate(files):
        with np.load(f) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["action"] = actions[(i + 1) % len(files)]
        np.savez_compressed(f, **arrays)
    cfg = load_world_model("wm-two-rooms", SMALL_WM + ["train.steps=300"])
    train_world_model(cfg, shuffled, tmp_path / "run", progress=False)
    honest, ignoring = diagnose_run(trained_two_rooms / "run"), diagnose_run(tmp_path / "run")
    print(f"true actions: {honest.text()}\nshuffled actions: {ignoring.text()}")  # figures for docs/reliability.md
    assert "predictor ignores actions" in ignoring.verdicts, ignoring.text()
    assert "predictor ignores actions" not in honest.verdicts, honest.text()
    assert honest.numbers["action_effect"] > 5 * ignoring.numbers["action_effect"]


def test_plan_overrides_reach_the_models_energy(trained_two_rooms):
    """Energy settings live in the model: an override of them must change the energy it computes."""
    model, cfg, _ = load_run(trained_two_rooms / "run", {"weights": "ramp", "precision": "fp32"})
    assert cfg.plan.weights == "ramp" and model.precision == "fp32"
    z_pred, z_goal = torch.randn(2, 3, 4, 8), torch.randn(2, 8)
    per_step = (z_pred - z_goal[:, None, None]).pow(2).sum(-1)
    torch.testing.assert_close(model.energy(z_pred, z_goal), (per_step * torch.linspace(0.1, 1.0, 4)).sum(-1))
    with pytest.raises(ConfigError, match="plan.elites"):
        load_run(trained_two_rooms / "run", {"samples": 4, "elites": 8})


def test_world_model_input_errors_name_what_is_expected(trained_two_rooms):
    model, _, _ = load_run(trained_two_rooms / "run")
    with pytest.raises(ValueError, match=r"shape \[B, 32, 32, 3\].*trained on 32x32"):
        model.encode(np.zeros((1, 64, 64, 3), np.uint8))  # a goal image of the wrong size
    z = model.encode(np.zeros((1, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match=r"actions must be \[B, candidates, horizon, 4\]"):
        model.rollout(z, torch.zeros(1, 3, 2, 5))  # an action of the wrong dimension


def test_cached_rollout_equals_feeding_predictions_back():
    torch.manual_seed(0)
    pred = ActionPredictor(12, 3, width=32, depth=2, heads=2, proprio_dim=2)
    for block in pred.blocks:
        torch.nn.init.normal_(block.modulation[1].weight, std=0.3)
    z0, actions, proprio = torch.randn(4, 12), torch.randn(4, 5, 3), torch.randn(4, 5, 2)
    seq = z0[:, None]
    for h in range(5):
        seq = torch.cat([seq, pred(seq, actions[:, :h + 1], proprio[:, :h + 1])[:, -1:]], dim=1)
    torch.testing.assert_close(pred.rollout(z0, actions, proprio), seq[:, 1:], rtol=1e-4, atol=1e-5)


def test_planner_episodes_are_added_to_a_store_and_train(trained_two_rooms, tmp_path):
    """`collect --planner`: episodes driven by the run's own MPC land after the store's last index, replay
    exactly in the world, keep their bounds; a store of another world is refused; `train-wm --init`
    starts from the run's weights (a model of another shape is refused by name) and the store with the
    planner's episodes trains."""
    import shutil

    from worldjepa.data.episodes import StoreMeta, write_meta
    from worldjepa.dynamics.model import build_objective, init_weights
    from worldjepa.planning.explore import collect_with_planner
    from worldjepa.train.checkpoint import load_checkpoint

    run, store = trained_two_rooms / "run", tmp_path / "data"
    shutil.copytree(trained_two_rooms / "data", store)
    before = len(EpisodeStore(store))
    fast = {"samples": 24, "elites": 6, "iterations": 3, "budget": 12}
    done = collect_with_planner(run, store, episodes=3, seed=5, explore=0.2, plan_overrides=fast, batch=2,
                                progress=False)
    assert done["first_index"] == before
    data = EpisodeStore(store)
    assert len(data) == before + 3
    for e in data.episodes[before:]:
        assert e["action"].shape == (12, 2) and np.abs(e["action"]).max() <= 1.0
        world = TwoRooms(image_size=32)
        world.reset(options={"state": e["state"][0]})
        for a, s in zip(e["action"], e["state"][1:]):
            world.step(a)
            np.testing.assert_allclose(world.get_state(), s, atol=1e-12)
    other = tmp_path / "other"
    write_meta(other, StoreMeta(world="push", image_size=32, action_dim=2, action_low=[-1, -1], action_high=[1, 1]))
    with pytest.raises(ValueError, match="world='push'"):
        collect_with_planner(run, other, episodes=1, plan_overrides=fast, progress=False)

    cfg = load_world_model("wm-two-rooms", SMALL_WM + ["train.steps=2"])
    objective = build_objective(cfg, data.meta)
    init_weights(objective, run)
    tensors, _ = load_checkpoint(run / "checkpoint.safetensors")
    for name, value in objective.state_dict().items():
        torch.testing.assert_close(value, tensors[f"objective.{name}"])
    bigger = load_world_model("wm-two-rooms", SMALL_WM + ["model.predictor_depth=3"])
    with pytest.raises(ValueError, match="another architecture"):
        init_weights(build_objective(bigger, data.meta), run)
    summary = train_world_model(cfg, store, tmp_path / "tuned", progress=False, init=run)
    assert summary["episodes"] == before + 3
    model, tuned_cfg, _ = load_run(tmp_path / "tuned")  # the recorded init does not upset loading
    assert tuned_cfg.train.steps == 2


def test_an_ensemble_of_identical_members_plans_exactly_like_one(trained_two_rooms, tmp_path):
    """Identical members agree everywhere (zero spread, mean = each), so whatever the disagreement weight,
    the ensemble's plans and episodes are the single model's."""
    run = trained_two_rooms / "run"
    small = {"samples": 16, "iterations": 2, "elites": 4, "budget": 6, "disagreement": 2.0}
    one = evaluate_planning(run, tmp_path / "one", episodes=2, plan_overrides=small, record=0, progress=False)
    two = evaluate_planning(run, tmp_path / "two", episodes=2, plan_overrides=small, record=0, progress=False,
                            ensemble=[run])
    assert two["ensemble"] == [str(run), str(run)] and "ensemble" not in one
    for key in ("success_rate", "final_distance_mean", "steps_mean"):
        assert one[key] == two[key], key
    with pytest.raises(ConfigError, match="plan.disagreement"):
        load_run(run, {"disagreement": -1.0})


def test_the_proprio_anchor_adds_its_weighted_read_out_error(trained_two_rooms):
    """objective.proprio_anchor = μ adds μ · mean ‖W z + b − p‖² (a linear read-out of the store's proprio
    from every frame's latent) to the loss and nothing else; a store without proprio and the patch form refuse it."""
    from worldjepa.data.episodes import EpisodeBatches
    from worldjepa.dynamics.model import build_objective

    store = EpisodeStore(trained_two_rooms / "data")
    batch = EpisodeBatches(store, 3, 2, 8, seed=0).batch(0)
    plain = build_objective(load_world_model("wm-two-rooms", SMALL_WM), store.meta)
    anchored = build_objective(load_world_model("wm-two-rooms", SMALL_WM + ["objective.proprio_anchor=0.5"]), store.meta)
    anchored.load_state_dict(plain.state_dict(), strict=False)  # the same encoder and predictor; only the read-out is new
    with torch.no_grad():
        base, withit = plain.loss(batch, 0), anchored.loss(batch, 0)
        z = anchored.encode_frames(batch.video).float()
        by_hand = ((z @ anchored.anchor.weight.T + anchored.anchor.bias - batch.proprio.float()) ** 2).mean()
    assert withit.parts["proprio_anchor"] == pytest.approx(float(by_hand), rel=1e-5)
    assert float(withit.total - base.total) == pytest.approx(0.5 * float(by_hand), rel=1e-4)
    assert batch.proprio.shape[-1] == TwoRooms.proprio_dim and float(by_hand) > 0

    blind = store.meta.__class__(**{**store.meta.__dict__, "proprio_dim": 0})
    with pytest.raises(ValueError, match="needs proprio in the episode store"):
        build_objective(load_world_model("wm-two-rooms", SMALL_WM + ["objective.proprio_anchor=0.5"]), blind)
    with pytest.raises(ValueError, match="the patch form's encoder is frozen"):
        build_objective(load_world_model("wm-two-rooms-patch", ["objective.proprio_anchor=0.5", "image_size=32",
                                                                "model.encoder_run=nowhere"]), store.meta)

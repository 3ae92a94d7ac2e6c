"""The arena's robustness and surprise measurements (worldjepa/arena/surprise.py, worlds/corrupt.py): impossible
episodes differ from their pairs only at the event, the exact model of two-rooms is surprised exactly there,
the sign test matches its definition, corruptions change frames and nothing else, and a pixel model's cost
in another model's embedding is that model's distance."""

import itertools

import numpy as np
import pytest
import torch

from worldjepa.arena.surprise import impossible_pairs, surprise, surprise_test
from worldjepa.data.batches import to_tensor, to_uint8
from worldjepa.dynamics.generative import EmbeddedCost
from worldjepa.eval.metrics import fisher_greater, sign_test
from worldjepa.planning.oracle import ExactTwoRoomsModel
from worldjepa.worlds import make_world
from worldjepa.worlds.corrupt import PALETTE, Corruption, CorruptedWorld

SKIP = 2


@pytest.fixture(scope="module")
def store(two_rooms_store):
    return two_rooms_store


@pytest.fixture(scope="module")
def world():
    return make_world("two-rooms", image_size=32)


@pytest.mark.parametrize("kind", ["teleport", "vanish"])
def test_impossible_episodes_differ_from_their_pairs_only_at_the_event(store, world, kind):
    pairs = impossible_pairs(world, store, range(12), kind, length=7, frameskip=SKIP, event=3, seed=0)
    assert pairs.possible.shape == pairs.impossible.shape == (12, 7, 32, 32, 3)
    # the possible episode is the recording: its frames are the stored ones
    for p in pairs.possible:
        assert any(np.array_equal(p, e["obs"][s:s + 13:SKIP]) for e in store.episodes for s in range(9))
    assert np.array_equal(pairs.possible[:, :3], pairs.impossible[:, :3])  # identical before the event
    assert all(not np.array_equal(a, b) for a, b in zip(pairs.possible[:, 3], pairs.impossible[:, 3]))
    if kind == "vanish":  # from the event on, the same scene with the agent gone
        empty = world.render_vanished(None)
        assert (pairs.impossible[:, 3:] == empty).all()
        return
    # a teleport breaks only the transition into the event: afterwards the world's physics, by the same actions
    exact = ExactTwoRoomsModel(world, SKIP)
    s_pos, s_imp = (surprise(exact, f, pairs.actions) for f in (pairs.possible, pairs.impossible))
    assert s_pos.max() < 2e-4 and np.delete(s_imp, 2, axis=1).max() < 2e-4
    assert s_imp[:, 2].min() > 0.05  # the jump: at least 0.3 from where the agent would have been, less its move


def test_the_exact_model_tells_every_teleport_from_its_pair(store, world):
    pairs = impossible_pairs(world, store, range(12), "teleport", length=5, frameskip=SKIP, event=2, seed=3)
    result = surprise_test(ExactTwoRoomsModel(world, SKIP), pairs)
    assert result["paired_accuracy"] == 1.0 and result["sign_test_p"] == pytest.approx(0.5 ** 12)
    assert result["surprise_at_event"]["impossible"] > 100 * result["surprise_at_event"]["possible"]


def test_impossible_pairs_refuse_bad_requests(store, world):
    with pytest.raises(ValueError, match="one of"):
        impossible_pairs(world, store, range(2), "explode", 5, SKIP, 2)
    with pytest.raises(ValueError, match="event must fall"):
        impossible_pairs(world, store, range(2), "teleport", 5, SKIP, 5)
    with pytest.raises(ValueError, match="long enough"):
        impossible_pairs(world, store, range(2), "teleport", 15, SKIP, 2)


def test_sign_test_is_the_binomial_tail_by_enumeration():
    rng = np.random.default_rng(0)
    for n in range(1, 9):
        d = rng.choice([-1.0, 0.0, 2.0], size=n)
        nonzero = d[d != 0]
        k = int((nonzero > 0).sum())
        patterns = list(itertools.product([0, 1], repeat=len(nonzero)))
        expected = sum(sum(p) >= k for p in patterns) / len(patterns)
        assert sign_test(d) == pytest.approx(expected)
    assert sign_test([0.0, 0.0]) == 1.0


def test_fisher_test_is_the_share_of_deals_by_enumeration():
    """Deal the hits over the two groups' trials in every way: the share giving group a at least its hits."""
    for hits_a, n_a, hits_b, n_b in [(5, 6, 1, 5), (2, 4, 2, 4), (0, 3, 3, 4), (3, 3, 0, 3), (1, 5, 0, 2)]:
        deals = list(itertools.combinations(range(n_a + n_b), hits_a + hits_b))
        expected = sum(sum(i < n_a for i in deal) >= hits_a for deal in deals) / len(deals)
        assert fisher_greater(hits_a, n_a, hits_b, n_b) == pytest.approx(expected)
    assert fisher_greater(22, 30, 2, 30) < 1e-7 and fisher_greater(5, 30, 1, 30) > 0.05


def test_a_clean_corruption_changes_nothing_and_noise_has_its_spread():
    frame = np.full((2, 64, 64, 3), 128, np.uint8)
    assert Corruption().apply(frame, 0, 1) is frame
    noisy = Corruption(noise=0.05).apply(frame, 0, 1).astype(np.float32)
    assert noisy.std() == pytest.approx(0.05 * 255, rel=0.03) and abs(noisy.mean() - 128) < 0.5
    again = Corruption(noise=0.05).apply(frame, 0, 1)
    assert np.array_equal(again, noisy.astype(np.uint8))  # a pure function of (frame, step, seed)
    assert not np.array_equal(Corruption(noise=0.05).apply(frame, 1, 1), again)  # fresh noise at the next step
    steps = Corruption(noise=0.05).apply(frame, np.array([0, 1]), 1)  # a time step per frame
    assert np.array_equal(steps[0], again[0]) and not np.array_equal(steps[1], again[1])


def test_distractors_are_squares_that_drift_and_stay_in_the_frame():
    c = Corruption(distractors=1, size=0.125, speed=0.05)
    blank = np.zeros((64, 64, 3), np.uint8)
    seen = []
    for t in range(200):
        frame = c.apply(blank, t, 7)
        painted = frame.any(-1)
        assert painted.sum() == 64  # one 8 × 8 square, whole: it bounces off the borders, never leaves
        rows, cols = np.nonzero(painted)
        assert rows.max() - rows.min() == cols.max() - cols.min() == 7
        assert tuple(frame[rows[0], cols[0]]) in PALETTE
        seen.append((rows.min(), cols.min()))
    assert len(set(seen)) > 50  # it moves
    steps = np.abs(np.diff(np.array(seen), axis=0)).max()
    assert steps <= 4  # by about speed × size per step (3.2 pixels), no jumps
    with pytest.raises(ValueError, match="corruption is"):
        Corruption.parse("blur=2")
    assert Corruption.parse("noise=0.1,distractors=2") == Corruption(noise=0.1, distractors=2)
    assert Corruption.parse("clean").name == "clean"


def test_a_corrupted_world_changes_what_is_seen_not_what_happens(world):
    clean, seen = make_world("two-rooms", image_size=32), CorruptedWorld(make_world("two-rooms", image_size=32),
                                                                         Corruption(noise=0.1, distractors=2), seed=4)
    start = np.array([0.2, 0.3])
    o1, i1 = clean.reset(options={"state": start})
    o2, i2 = seen.reset(options={"state": start})
    assert not np.array_equal(o1, o2)
    for a in np.random.default_rng(0).uniform(-1, 1, (10, 2)).astype(np.float32):
        o1, _, _, _, i1 = clean.step(a)
        o2, _, _, _, i2 = seen.step(a)
        assert np.array_equal(i1["state"], i2["state"]) and not np.array_equal(o1, o2)
    assert seen.success_radius == clean.success_radius


class PositionOfFrames(ExactTwoRoomsModel):
    """The exact model's agent position, read off normalised frames [N, 3, S, S] (a generative model's latents)."""

    def encode(self, obs):
        return super().encode(to_uint8(obs) if isinstance(obs, torch.Tensor) else obs)


class FramePlanner:
    """A pixel world model stand-in whose rollouts are given frames."""

    image_size, proprio_dim = 32, 0

    def __init__(self, frames):
        self.frames = frames

    def rollout(self, z0, actions, proprio0=None):
        return self.frames

    def energy(self, z_pred, z_goal):
        raise AssertionError("the embedded cost must not use the pixel energy")


def test_the_embedded_cost_is_the_distance_in_the_embedding(world):
    positions = np.array([[[0.2, 0.3], [0.7, 0.6]], [[0.15, 0.8], [0.8, 0.2]]])  # [B=2, C=2] final positions
    frames = to_tensor(np.stack([[world.render_state(p) for p in row] for row in positions]))[:, :, None]
    goal = np.array([[0.25, 0.35], [0.8, 0.25]])
    cost = EmbeddedCost(FramePlanner(frames), PositionOfFrames(world, SKIP, path_weight=0.0))
    energy = cost.energy(frames, to_tensor(np.stack([world.render_state(g) for g in goal])))
    expected = ((positions - goal[:, None]) ** 2).sum(-1)
    assert torch.allclose(energy, torch.as_tensor(expected, dtype=torch.float32), rtol=0.01, atol=1e-3)
    assert cost.rollout(None, None) is frames  # everything else is the pixel model's


# -- push-t: the same events, staged by the gym-pusht world ------------------------------------------------------

def _agent_centre(frame: np.ndarray) -> np.ndarray | None:
    """Centre (pixels) of the agent's RoyalBlue disc in a push-t frame; None when no pixel of it is drawn."""
    r, g, b = (frame[..., i].astype(int) for i in range(3))
    ys, xs = np.nonzero((b > 150) & (b - r > 80) & (b - g > 50))
    return np.array([xs.mean(), ys.mean()]) if len(xs) else None


@pytest.fixture(scope="module")
def push_t(tmp_path_factory):
    pytest.importorskip("gym_pusht")
    from worldjepa.data.episodes import EpisodeStore
    from worldjepa.worlds.collect import collect

    world = make_world("push-t", image_size=64)
    out = tmp_path_factory.mktemp("push-t")
    collect(world, "push-t", out, episodes=8, steps=30, expert_share=1.0, seed=0, progress=False)
    return world, EpisodeStore(out)


@pytest.mark.parametrize("kind", ["teleport", "vanish"])
def test_push_t_impossible_episodes_differ_from_their_pairs_only_at_the_event(push_t, kind):
    world, store = push_t
    skip, event = 5, 2
    pairs = impossible_pairs(world, store, range(8), kind, length=5, frameskip=skip, event=event, seed=1)
    assert np.array_equal(pairs.possible[:, :event], pairs.impossible[:, :event])
    assert all(not np.array_equal(a, b) for a, b in zip(pairs.possible[:, event], pairs.impossible[:, event]))
    for possible, impossible in zip(pairs.possible, pairs.impossible):
        centres = [_agent_centre(f) for f in impossible]
        if kind == "vanish":  # the agent is gone from the event on; every pixel away from it is the recording's
            assert all(c is not None for c in centres[:event]) and all(c is None for c in centres[event:])
            for p, i in zip(possible[event:], impossible[event:]):
                ys, xs = np.nonzero((p != i).any(-1))
                agent = _agent_centre(p)
                assert np.hypot(xs - agent[0], ys - agent[1]).max() <= 15 / 512 * 64 + 2
        else:  # the agent jumps at the event, farther than it moves in any possible step before or after
            moves = [np.linalg.norm(b - a) for a, b in zip(centres, centres[1:])]
            assert int(np.argmax(moves)) == event - 1 and moves[event - 1] > 0.2 * 64


def test_push_t_judged_state_is_what_a_frame_shows(push_t, store):
    from worldjepa.arena.horizon import judged_state

    world, pushed = push_t
    episode = pushed.episodes[0]
    # positions (arena / 512) without the agent's velocity, which proprio carries and no single frame holds
    assert np.allclose(judged_state(episode, world), episode["state"][:, :4] / 512, atol=1e-6)
    assert np.allclose(judged_state(episode, world)[:, :2], episode["proprio"][:, :2], atol=1e-6)
    two_rooms = store.episodes[0]
    assert np.array_equal(judged_state(two_rooms, make_world("two-rooms", image_size=32)), two_rooms["proprio"])
    with pytest.raises(ValueError, match="these episodes have none"):
        judged_state({"proprio": episode["proprio"]}, world)


def test_push_t_pictures_of_states_are_the_recorded_frames(push_t):
    """A picture drawn from a state alone matches the environment's own frame, contacts included (gym-pusht
    draws the last physics step's contact points; before the fix, 92 of these 248 frames showed stale ones)."""
    world, store = push_t
    moved = 0
    for episode in store.episodes:
        for t, (frame, state) in enumerate(zip(episode["obs"], episode["state"])):
            drawn = world.render_state(state).astype(int)
            if t:
                assert np.array_equal(drawn, frame)
            else:  # the frame at reset shows the contacts of gym-pusht's own reset step, taken at a random state
                # before the start is written over it: a few pixels where the agent touches something
                assert np.abs(drawn - frame).max() <= 8 and (drawn != frame).any(-1).sum() <= 8
        moved += np.linalg.norm(episode["state"][-1, 2:4] - episode["state"][0, 2:4]) > 5
    assert moved >= 2  # the expert pushed the block: frames with contacts were compared

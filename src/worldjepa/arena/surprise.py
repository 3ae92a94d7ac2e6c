"""Surprise on impossible transitions: LeWM's violation-of-expectation test, for every paradigm.

From a held-out recorded episode, two episodes that share everything up to an event: the possible one is the
recording itself; in the impossible one, at the event the agent either teleports (jumps to a random place at least
`min_jump` away, then moves on from there by the same recorded actions under the world's own physics) or vanishes
(every later frame drawn without it). A world stages them with its `teleport` and `render_vanished` (two-rooms and
push-t have both; a world without one is not given that test). A model's surprise at a step is its energy between
what it predicts one step ahead from the real previous frame and the real next frame, in its own latent space (a
JEPA's latents; the frames themselves for a generative model). The test: is the surprise at the event higher in the
impossible episode than in its pair, how often (the paired accuracy), and how likely is that by chance (a one-sided
exact sign test over the pairs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.episodes import EpisodeStore
from ..eval.metrics import sign_test
from ..eval.surprise import pair_accuracy

KINDS = {"teleport": "teleport", "vanish": "render_vanished"}  # each event, and what a world needs to stage it


@dataclass
class Pairs:
    possible: np.ndarray  # [N, T+1, S, S, 3] uint8, one frame every `frameskip` primitive steps
    impossible: np.ndarray  # the same, broken at frame `event`
    actions: np.ndarray  # [N, T, frameskip·A] the action chunks between the frames (the same for both)
    event: int  # index of the first frame that differs: the transition event-1 → event is impossible
    kind: str


def impossible_pairs(world, store: EpisodeStore, episodes, kind: str, length: int, frameskip: int, event: int,
                     seed: int = 0, min_jump: float = 0.3) -> Pairs:
    """One pair per episode (a window of `length` frames at a random start): `kind` is "teleport" or "vanish"."""
    if kind not in KINDS:
        raise ValueError(f"an impossible event is one of {tuple(KINDS)}, got {kind!r}")
    if not 1 <= event < length:
        raise ValueError(f"the event must fall on a frame after the first and within the window (1..{length - 1}), "
                         f"got {event}")
    if not hasattr(world, KINDS[kind]):
        raise ValueError(f"{type(world).__name__} cannot stage a {kind}: the test needs the world's {KINDS[kind]}() "
                         "(worlds/two_rooms.py and worlds/push_t.py have both)")
    rng = np.random.default_rng(seed)
    span = (length - 1) * frameskip
    possible, impossible, chunks = [], [], []
    for e in episodes:
        ep = store.episodes[e]
        if "state" not in ep:
            raise ValueError(f"episode {e} of {store.root} has no recorded states: collect it with `worldjepa collect`")
        if len(ep["action"]) < span:
            continue
        start = int(rng.integers(len(ep["action"]) - span + 1))
        states = ep["state"][start:start + span + 1]
        actions = ep["action"][start:start + span]
        frames = ep["obs"][start:start + span + 1:frameskip]  # the recording itself
        at = event * frameskip
        if kind == "teleport":
            jumped = _teleported(world, states[at], actions[at:], rng, min_jump)
            after = [world.render_state(s) for s in jumped[::frameskip]]
        else:
            after = [world.render_vanished(s) for s in states[at::frameskip]]
        possible.append(frames)
        impossible.append(np.concatenate([frames[:event], np.stack(after)]))
        chunks.append(actions.reshape(length - 1, -1))
    if not possible:
        raise ValueError(f"no episode is long enough for windows of {length} frames at frame-skip {frameskip}")
    return Pairs(np.stack(possible), np.stack(impossible), np.stack(chunks).astype(np.float32), event, kind)


def _teleported(world, state: np.ndarray, actions: np.ndarray, rng: np.random.Generator,
                min_jump: float) -> np.ndarray:
    """States from the world's teleport of `state` (its agent at least `min_jump` away), moved on by `actions`
    under the world's physics."""
    _, info = world.reset(options={"state": world.teleport(state, rng, min_jump)})
    out = [info["state"]]
    for a in actions:
        out.append(world.step(a)[4]["state"])
    return np.stack(out)


@torch.no_grad()
def surprise(model, frames: np.ndarray, actions: np.ndarray, seed: int = 0) -> np.ndarray:
    """[N, T]: the model's energy between its one-step prediction from frame t and its encoding of frame t+1.
    A sampling model draws the same noise for every call with the same seed (pairs are compared like for like)."""
    N, T = actions.shape[:2]
    z = torch.cat([model.encode(f) for f in frames]).unflatten(0, (N, T + 1)).float()  # [N, T+1, *L]
    torch.manual_seed(seed)
    predicted = model.rollout(z[:, :-1].flatten(0, 1), torch.as_tensor(actions).flatten(0, 1)[:, None, None])
    return model.energy(predicted, z[:, 1:].flatten(0, 1))[:, 0].unflatten(0, (N, T)).cpu().numpy()


def surprise_test(model, pairs: Pairs, seed: int = 0) -> dict:
    """The paired comparison at the event, and the mean surprise per step of both episodes of each pair."""
    possible = surprise(model, pairs.possible, pairs.actions, seed)
    impossible = surprise(model, pairs.impossible, pairs.actions, seed)
    at = pairs.event - 1  # the transition into the event frame
    diff = impossible[:, at] - possible[:, at]
    return {"kind": pairs.kind, "pairs": len(diff), "event_step": pairs.event,
            "paired_accuracy": pair_accuracy(possible[:, at], impossible[:, at]), "sign_test_p": sign_test(diff),
            "surprise_at_event": {"possible": float(possible[:, at].mean()),
                                  "impossible": float(impossible[:, at].mean())},
            "per_step": {"possible": possible.mean(0).tolist(), "impossible": impossible.mean(0).tolist()}}

"""Violation-of-expectation clips: IntPhys-style quadruplets of two possible and two impossible clips,
on the built-in world.

Each quadruplet shares everything up to an event frame t; from t on, the impossible clips break one
law for one ball (the physics of the intuitive-physics tests of IntPhys and of V-JEPA's study of them):

- permanence: a wide occluder stands in the box; the ball goes behind it at t and never comes out
  (the possible clip's ball re-emerges within `max_hidden` frames: a model only remembers what its
  context window holds, and a ball hidden for longer than that would return as a surprise to any model);
- continuity: the ball jumps 0.25–0.35 box widths at t (teleports), then moves on under the same physics;
- solidity: two balls on the same depth layer pass through each other at t instead of bouncing (balls
  on different layers pass in front of each other, which is possible: apparent size tells the layers
  apart). The walls of this world are the picture's borders, so a ball passing through one would
  leave the picture, which tests disappearance again; another solid ball keeps everything in view;
- gravity: from t on, gravity points up for every ball.

A model could call "vanishing" clips unsurprising merely because a scene with one ball fewer is
easier to predict. IntPhys removes that confound with controls that hold the same visible content on
each side, and so do we: for permanence, the possible side adds the clip without the ball at all and
the impossible side the clip where it appears from behind the occluder at t (frame by frame, the two
sides then show exactly the same things); for the others, whose content does not change, each clip's
time reversal (elastic bounces and free fall run backwards are still possible; a teleport, two balls
passing through each other or upward gravity run backwards are still violations).

Events are searched for in generated clips (a ball that passes fully behind the occluder, a floor
collision in the window of event frames, ...), deterministically from a seed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..config import WorldConfig
from ..data.batches import seed_for
from ..worlds.balls import BallWorld

VIOLATIONS = ("permanence", "continuity", "solidity", "gravity")
VOE_STREAM = 7_779
OFF_SCREEN = -10.0  # a position that renders nothing
WIDE_OCCLUDER = 0.3  # box widths: wide enough to hide the largest ball completely


@dataclass
class VoEPairs:
    kind: str
    possible: np.ndarray  # [N, T, S, S, 3] uint8
    impossible: np.ndarray  # [N, T, S, S, 3]
    possible_control: np.ndarray  # [N, T, S, S, 3]: the possible side's content control (see above)
    impossible_control: np.ndarray  # [N, T, S, S, 3]
    event: np.ndarray  # [N] frame of the violation (for permanence, where the ball goes out of sight)


def _candidates(kind: str, P, V, collisions, radii, occluder, events: range, max_hidden: int):
    """(clip, ball, frame) triples where `kind`'s violation can be staged."""
    B, T, K, _ = P.shape
    out = []
    for b in range(B):
        for k in range(K):
            r = radii[b, k]
            if kind == "permanence":
                centre = occluder[b] + WIDE_OCCLUDER / 2
                hidden = np.abs(P[b, :, k, 0] - centre) <= WIDE_OCCLUDER / 2 - r
                for t in events:
                    if hidden[t] and not hidden[t - 1] and (~hidden[t + 1:t + 1 + max_hidden]).any():
                        out.append((b, k, t))
                        break
            elif kind == "solidity":  # (b, k, t) with k = the pair's first ball; the pair is found again later
                for t in events:
                    if collisions[b, t, k, k + 1:].any() and not collisions[b, t - 2:t, k].any():
                        out.append((b, k, t))
                        break
            else:  # continuity, gravity: any ball, any event frame
                out.append((b, k, events[b % len(events)]))
    return out


def voe_pairs(kind: str, world: WorldConfig, image_size: int, n: int, frames: int = 16, seed: int = 0,
              events: tuple[int, int] = (8, 12), max_hidden: int = 4) -> VoEPairs:
    """`n` pairs of `frames`-frame clips; event frames in [events[0], events[1]); for permanence the
    possible clip's ball is out of sight for at most `max_hidden` frames."""
    if kind not in VIOLATIONS:
        raise ValueError(f"unknown violation {kind!r}; choose one of {VIOLATIONS}")
    w = BallWorld(dataclasses.replace(world, occluder=0.0), image_size)
    rng = np.random.default_rng(seed_for(seed, VOE_STREAM, VIOLATIONS.index(kind)))
    chosen, pool = [], 4 * n
    for attempt in range(20):
        pos, vel, radii, layers = w._initial_state(rng, pool)
        occluder = rng.uniform(0.05, 0.95 - WIDE_OCCLUDER, size=pool) if kind == "permanence" else np.full(pool, np.nan)
        P, V, _, collisions = w.simulate(pos, vel, radii, layers, frames)
        for b, k, t in _candidates(kind, P, V, collisions, radii, occluder, range(*events), max_hidden):
            if kind == "solidity":
                k = (k, k + 1 + int(np.argmax(collisions[b, t, k, k + 1:])))
            chosen.append((P[b], V[b], radii[b], layers[b], occluder[b], k, t))
            if len(chosen) == n:
                break
        if len(chosen) == n:
            break
    if len(chosen) < n:
        raise RuntimeError(f"found only {len(chosen)} of {n} {kind} events in generated clips; ask for fewer pairs")
    sets = {"possible": [], "impossible": [], "possible_control": [], "impossible_control": []}
    event = []
    for P, V, r, layers, occ, k, t in chosen:
        Q = P.copy()
        if kind == "permanence":
            Q[t:, k] = OFF_SCREEN
        elif kind == "continuity":
            angle = rng.uniform(0, 2 * np.pi)
            jump = rng.uniform(0.25, 0.35) * np.array([np.cos(angle), np.sin(angle)])
            start = P[t - 1].copy()
            start[k] = np.clip(P[t, k] + jump, r[k], 1 - r[k])
            Q[t:] = w.simulate(start[None], V[t - 1][None], r[None], layers[None], frames - t + 1)[0][0, 1:]
            Q[t, k] = start[k]  # the jump itself lands exactly there
        elif kind == "solidity":  # from frame t − 1 on, one ball of the pair is on a layer of its own
            ghost = layers.copy()
            ghost[k[1]] = layers.max() + 1.0  # no layer-mate: collides with nothing
            Q[t - 1:] = w.simulate(P[t - 1][None], V[t - 1][None], r[None], ghost[None], frames - t + 1)[0][0]
        else:  # gravity
            Q[t - 1:] = w.simulate(P[t - 1][None], V[t - 1][None], r[None], layers[None], frames - t + 1,
                                   gravity=-world.gravity)[0][0]
        if kind == "permanence":
            absent, appears = P.copy(), P.copy()
            absent[:, k] = OFF_SCREEN
            appears[:t, k] = OFF_SCREEN  # absent until t, then out from behind the occluder
            controls = (absent, appears)
        else:
            controls = (P[::-1].copy(), Q[::-1].copy())
        paths = np.stack([P, Q, *controls]).astype(np.float32)
        rgb, _ = w.render(paths, np.stack([r] * 4), np.stack([layers] * 4), np.full(4, occ, np.float32),
                          occluder_width=WIDE_OCCLUDER)
        for name, clip in zip(sets, rgb):
            sets[name].append(clip)
        event.append(t)
    return VoEPairs(kind, **{name: np.stack(clips) for name, clips in sets.items()}, event=np.array(event))

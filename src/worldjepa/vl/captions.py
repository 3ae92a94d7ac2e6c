"""Text from ground truth: captions and multiple-choice questions about the built-in worlds' clips (VL-JEPA's data).

Every text is generated from what the simulator recorded (worlds/balls.py), never read off the pixels, so it is
right by construction. In the ball world: wall bounces (which ball, which wall), ball-ball collisions, a ball going
behind the occluder and out again, and states (how many balls, which way a ball moves, which is nearest); in
two-rooms, the agent passing the door into the other room, or staying in one. Each fact has `PARAPHRASES` templates;
the last is held out of training (`held_out`), so that classification and retrieval can be tested on wordings the
model never saw. Questions carry their candidate answers (`choices`, the right one included) for multiple-choice
VQA, and "what happens next" asks about the frames after the clip (the clip is the first `frames` frames of a
longer simulation).

Colours are named by ball index, as the world paints them (PALETTE order), so a caption names a ball the
frames show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..worlds.balls import OCCLUDER_WIDTH, WALLS, Clips

COLOURS = ("red", "green", "blue", "yellow", "purple", "cyan", "orange", "white")  # PALETTE's order
NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight")

# paraphrases per fact; the last one of each is held out of training
CAPTIONS: dict[str, tuple[str, ...]] = {
    "wall": ("the {c} ball bounces off the {w} wall", "the {c} ball hits the {w} wall",
             "a {c} ball rebounds from the {w} wall", "the {w} wall is struck by the {c} ball"),
    "collision": ("the {a} and {b} balls collide", "the {a} ball bumps into the {b} ball",
                  "a collision between the {a} ball and the {b} ball", "the {a} ball and the {b} ball strike each other"),
    "occlusion": ("the {c} ball goes behind the bar and comes out again",
                  "the {c} ball passes behind the occluder and reappears",
                  "the {c} ball is hidden by the bar for a while", "the bar hides the {c} ball, which then emerges"),
    "count": ("there are {n} balls", "{n} balls are in the box", "the box holds {n} balls",
              "a scene with {n} balls"),
    "direction": ("the {c} ball moves to the {d}", "the {c} ball travels {d}ward", "the {c} ball drifts to the {d}",
                  "the {c} ball heads {d}"),
    # two-rooms (the agent's path between the rooms)
    "door": ("the agent passes through the door into the {r} room", "the agent goes through the door to the {r} room",
             "the agent crosses into the {r} room", "the agent enters the {r} room by the door"),
    "stays": ("the agent stays in the {r} room", "the agent remains in the {r} room",
              "the agent moves about the {r} room", "the agent never leaves the {r} room"),
    "nearest": ("the {c} ball is the nearest", "the {c} ball is closest to the camera",
                "the {c} ball is in front of the others", "no ball is nearer than the {c} one"),
}
QUESTIONS: dict[str, tuple[str, ...]] = {
    "count": ("how many balls are there?", "how many balls are in the box?", "count the balls.",
              "what is the number of balls?"),
    "exists": ("is there a {c} ball?", "does the box contain a {c} ball?", "can you see a {c} ball?",
               "is a {c} ball present?"),
    "which_wall": ("which ball bounces off the {w} wall first?", "which ball hits the {w} wall first?",
                   "what ball is first to reach the {w} wall?", "the {w} wall is hit first by which ball?"),
    "order": ("which happens first: {x} or {y}?", "what comes first, {x} or {y}?", "which is earlier: {x} or {y}?",
              "of {x} and {y}, which happens first?"),
    "hidden": ("where is the {c} ball at the end?", "where is the {c} ball in the last frame?",
               "at the end, where is the {c} ball?", "where has the {c} ball gone by the end?"),
    "room": ("which room is the agent in at the end?", "where does the agent end up?",
             "in which room does the agent finish?", "which room does the agent end in?"),
    "next": ("what happens next?", "what will happen next?", "what is the next event?", "what comes next?"),
}
PARAPHRASES = 4  # templates of every text; the last is held out of training
assert all(len(t) == PARAPHRASES for table in (CAPTIONS, QUESTIONS) for t in table.values())


def held_out(template: int) -> bool:
    return template % PARAPHRASES == PARAPHRASES - 1


@dataclass(frozen=True)
class Event:
    """Something that happened at frame `t`: a wall bounce (ball, wall), a collision (ball, ball) or an occlusion
    (ball; `t` is when it went behind the bar, `until` when it came out)."""

    t: int
    kind: str  # "wall" | "collision" | "occlusion"
    balls: tuple[int, ...]
    wall: str = ""
    until: int = -1

    def phrase(self, template: int = 0) -> str:
        names = [COLOURS[k] for k in self.balls]
        if self.kind == "collision":
            return fill(CAPTIONS, "collision", template, a=names[0], b=names[1])
        return fill(CAPTIONS, self.kind, template, c=names[0], w=self.wall)


def fill(table: dict[str, tuple[str, ...]], kind: str, template: int, **slots) -> str:
    text = table[kind][template % len(table[kind])].format(**slots)
    return re.sub(r"\ba ([aeiou])", r"an \1", text)


def first_alone(found: list[Event], kind: str) -> Event | None:
    """The first event of `kind`, if no other event of that kind happens in the same frame (else None)."""
    of_kind = [e for e in found if e.kind == kind]
    if not of_kind or (len(of_kind) > 1 and of_kind[1].t == of_kind[0].t):
        return None
    return of_kind[0]


@dataclass
class ClipFacts:
    """What one clip shows, read off the simulator: its balls, its events in order, and its states."""

    balls: int
    events: list[Event]  # within the clip, by time
    after: list[Event]  # in the frames after the clip (for "what happens next")
    direction: dict[int, str]  # ball → "left" | "right" where it moved clearly sideways over the clip
    nearest: int | None  # the one ball on the nearest layer, None when several share it
    hidden_at_end: list[int]  # balls wholly behind the bar in the clip's last frame
    occluder: bool = False


def hidden(clips: Clips, b: int, width: float = OCCLUDER_WIDTH) -> np.ndarray:
    """[T, K] bool: ball k wholly behind the bar of clip b at frame t (the bar stands in front of every layer)."""
    left = float(clips.occluder[b])
    if not np.isfinite(left):
        return np.zeros(clips.positions.shape[1:3], dtype=bool)
    x, r = clips.positions[b, :, :, 0], clips.radii[b][None]
    return (x - r >= left) & (x + r <= left + width)


def events(clips: Clips, b: int, start: int, stop: int, width: float = OCCLUDER_WIDTH,
           behind: np.ndarray | None = None) -> list[Event]:
    """The events of clip b that end in frames [start, stop): a bounce or collision at t happened between frames
    t − 1 and t, a ball goes behind the bar at t when it was in view at t − 1. By time (ties: walls, then
    collisions, then occlusions)."""
    out = []
    for t, k, w in zip(*np.nonzero(clips.walls[b, start:stop])):
        out.append(Event(int(t) + start, "wall", (int(k),), WALLS[int(w)]))
    for t, i, j in zip(*np.nonzero(clips.collisions[b, start:stop])):
        if i < j:
            out.append(Event(int(t) + start, "collision", (int(i), int(j))))
    behind = hidden(clips, b, width) if behind is None else behind  # [T, K], computed once by clip_facts
    for k in range(behind.shape[1]):
        series = behind[:, k]
        for t in range(max(1, start), stop):
            if series[t] and not series[t - 1]:  # went behind at t; it counts if it comes out again by `stop`
                out_at = next((u for u in range(t + 1, stop) if not series[u]), -1)
                if out_at != -1:
                    out.append(Event(t, "occlusion", (k,), until=out_at))
    rank = {"wall": 0, "collision": 1, "occlusion": 2}
    return sorted(out, key=lambda e: (e.t, rank[e.kind], e.balls, e.wall))


def clip_facts(clips: Clips, b: int, frames: int, start: int = 0, min_shift: float = 0.15) -> ClipFacts:
    """The facts of frames [start, start + frames) of clip b (the frames after them are its future)."""
    K, stop = clips.positions.shape[2], start + frames
    dx = clips.positions[b, stop - 1, :, 0] - clips.positions[b, start, :, 0]
    direction = {k: ("right" if dx[k] > 0 else "left") for k in range(K) if abs(dx[k]) >= min_shift}
    layers = clips.layers[b]
    nearest = int(np.argmin(layers)) if (layers == layers.min()).sum() == 1 else None
    behind = hidden(clips, b)
    # within the window: what happened between its frames (from start + 1); after it: from the next transition on
    return ClipFacts(balls=K, events=events(clips, b, start + 1, stop, behind=behind),
                     after=events(clips, b, stop, clips.positions.shape[1], behind=behind),
                     direction=direction, nearest=nearest,
                     hidden_at_end=[k for k in range(K) if behind[stop - 1, k]],
                     occluder=bool(np.isfinite(clips.occluder[b])))


@dataclass(frozen=True)
class Text:
    """One text about one clip: a caption (no query) or a question with its answer and candidate answers."""

    clip: int
    kind: str  # the fact: a key of CAPTIONS (captions) or of QUESTIONS (questions)
    template: int
    answer: str  # the caption itself, or the question's answer
    query: str = ""
    choices: tuple[str, ...] = ()

    @property
    def held_out(self) -> bool:
        return held_out(self.template)


def captions(facts: ClipFacts, clip: int, template: int) -> list[Text]:
    """Every caption the facts support, in paraphrase `template`: the clip's first event of each kind, its ball
    count, the balls that clearly moved sideways and the nearest ball."""
    out = []
    for kind in ("wall", "collision", "occlusion"):
        first = next((e for e in facts.events if e.kind == kind), None)
        if first is not None:
            out.append(Text(clip, kind, template, first.phrase(template)))
    out.append(Text(clip, "count", template, fill(CAPTIONS, "count", template, n=NUMBERS[facts.balls])))
    for k, d in sorted(facts.direction.items())[:1]:
        out.append(Text(clip, "direction", template, fill(CAPTIONS, "direction", template, c=COLOURS[k], d=d)))
    if facts.nearest is not None:
        out.append(Text(clip, "nearest", template, fill(CAPTIONS, "nearest", template, c=COLOURS[facts.nearest])))
    return out


def questions(facts: ClipFacts, clip: int, template: int, rng: np.random.Generator) -> list[Text]:
    """The multiple-choice questions the facts answer, in paraphrase `template`; `rng` picks which colour an
    existence question asks about (half of them absent) and the distractor events of an ordering question."""
    K = facts.balls

    def ask(kind: str, answer: str, choices, **slots) -> Text:
        return Text(clip, kind, template, answer, fill(QUESTIONS, kind, template, **slots), tuple(choices))

    out = [ask("count", NUMBERS[K], NUMBERS[1:])]
    colour = int(rng.integers(0, K)) if rng.random() < 0.5 or K == len(COLOURS) else int(rng.integers(K, len(COLOURS)))
    out.append(ask("exists", "yes" if colour < K else "no", ("yes", "no"), c=COLOURS[colour]))
    balls = [f"the {c} ball" for c in COLOURS[:K]]
    walls = [e for e in facts.events if e.kind == "wall"]
    for wall in WALLS:
        first = next((e for e in walls if e.wall == wall), None)
        if first is not None and sum(e.t == first.t for e in walls if e.wall == wall) == 1 and K > 1:
            out.append(ask("which_wall", f"the {COLOURS[first.balls[0]]} ball", balls, w=wall))
            break
    # the first time of each event phrase, where no other event shares that frame
    firsts = [e for i, e in enumerate(facts.events) if all(e.phrase(0) != o.phrase(0) for o in facts.events[:i])]
    distinct = [e for e in firsts if sum(o.t == e.t for o in firsts) == 1]
    if len(distinct) >= 2:
        i, j = sorted(rng.choice(len(distinct), size=2, replace=False))
        x, y = distinct[i].phrase(0), distinct[j].phrase(0)
        first, second = (x, y) if rng.random() < 0.5 else (y, x)
        out.append(ask("order", x, (first, second), x=first, y=second))
    if facts.occluder:  # about a hidden ball when there is one, else about any
        k = facts.hidden_at_end[0] if facts.hidden_at_end else int(rng.integers(0, K))
        out.append(ask("hidden", "behind the bar" if facts.hidden_at_end else "in view", ("behind the bar", "in view"),
                       c=COLOURS[k]))
    if facts.after and (len(facts.after) == 1 or facts.after[1].t > facts.after[0].t):
        # the first event after the clip (alone in its frame), among three other events of the same balls' world
        right = facts.after[0].phrase(0)
        others = [Event(0, "wall", (k,), w) for k in range(K) for w in WALLS]
        others += [Event(0, "collision", (i, j)) for i in range(K) for j in range(i + 1, K)]
        others += [Event(0, "occlusion", (k,)) for k in range(K) if facts.occluder]
        wrong = sorted({e.phrase(0) for e in others} - {right})
        picked = [wrong[i] for i in rng.choice(len(wrong), size=min(3, len(wrong)), replace=False)]
        out.append(ask("next", right, sorted([right, *picked])))
    return out


def two_rooms_texts(positions: np.ndarray, clip: int, template: int) -> list[Text]:
    """The caption and the question of a two-rooms clip from the agent's positions [T, 2]: the first door passage
    (into which room) or the room it stayed in, and which room it ends in."""
    from ..worlds.two_rooms import room

    rooms = room(positions)
    names = ("left", "right")
    crossed = np.nonzero(rooms[1:] != rooms[:-1])[0]
    if len(crossed):
        caption = Text(clip, "door", template, fill(CAPTIONS, "door", template, r=names[rooms[crossed[0] + 1]]))
    else:
        caption = Text(clip, "stays", template, fill(CAPTIONS, "stays", template, r=names[rooms[0]]))
    question = Text(clip, "room", template, f"the {names[rooms[-1]]} room", fill(QUESTIONS, "room", template),
                    ("the left room", "the right room"))
    return [caption, question]

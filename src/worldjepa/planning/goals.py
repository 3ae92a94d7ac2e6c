"""Tasks the way the field defines them: goals taken from recorded episodes.

stable-worldmodel's Push-T protocol, for one: start at a step of a dataset trajectory, the goal is the
observation `offset` expert steps later on the same trajectory, and success is judged against that frame's
state. A world whose state can be set starts from the recorded state at a random step; one whose state cannot
be set starts from its episode's reset seed (recorded by `worldjepa collect`) at step 0, and its goal is the
frame `offset` steps in.
"""

from __future__ import annotations

import numpy as np

from ..data.episodes import EpisodeStore
from ..worlds.acting import ActingWorld, Task


def dataset_tasks(store: EpisodeStore, world: ActingWorld, count: int, offset: int, rng: np.random.Generator
                  ) -> list[Task]:
    """`count` tasks from the episodes of `store`, goals `offset` recorded steps after their starts."""
    if offset < 1:
        raise ValueError(f"the goal offset must be at least 1 step, got {offset}")
    if store.meta.image_size != world.image_size:
        raise ValueError(f"the goal store holds {store.meta.image_size}px frames, the world renders "
                         f"{world.image_size}px: collect the goals at the model's image size")
    long = [e for e in store.episodes if len(e["action"]) >= offset]
    if not long:
        raise ValueError(f"no episode of {store.folder} has {offset} steps for a goal that far ahead (the longest "
                         f"has {max(len(e['action']) for e in store.episodes)}): lower --goal-offset")
    if not world.settable and any("seed" not in e for e in long):
        raise ValueError(f"{store.folder} has episodes without their reset seed, and this world's start cannot be "
                         f"set otherwise: collect the goal episodes again with this worldjepa")
    tasks = []
    for _ in range(count):
        e = long[int(rng.integers(len(long)))]
        if world.settable and e.get("state") is not None and e["state"].size:
            t = int(rng.integers(len(e["action"]) - offset + 1))
            tasks.append(Task(e["state"][t], e["state"][t + offset], e["obs"][t + offset],
                              actions=e["action"][t:t + offset]))
        else:
            tasks.append(Task(None, None, e["obs"][offset], seed=int(e["seed"]), actions=e["action"][:offset]))
    return tasks

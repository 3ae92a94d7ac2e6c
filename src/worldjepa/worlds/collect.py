"""Offline data: run policies in a world and write the episodes to an episode store.

Two behaviours, mixed per episode: the world's scripted expert heading for a random goal with Gaussian
action noise, and a smooth random walk (each action = 0.8 · previous + 0.6 · noise, clipped), which
covers the state space and the contacts an expert avoids.
"""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..data.episodes import StoreMeta, write_episode, write_meta
from .acting import ActingWorld


def random_walk(rng: np.random.Generator, action_dim: int, momentum: float = 0.8, scale: float = 0.6):
    previous = np.zeros(action_dim)

    def policy(state, goal):
        nonlocal previous
        previous = np.clip(momentum * previous + scale * rng.standard_normal(action_dim), -1.0, 1.0)
        return previous.astype(np.float32)

    return policy


def rollouts(world: ActingWorld, episodes: int, steps: int, expert_share: float = 0.5, noise: float = 0.3,
             seed: int = 0, first: int = 0):
    """Yield (index, frames [steps+1, S, S, 3], actions [steps, A], proprio [steps+1, P], states [steps+1, ...],
    reset seed) for episodes first … first+episodes−1; episode i depends only on (seed, i). The reset seed
    gives the start again where the world's state cannot be set (planning goals from the data)."""
    for index in range(first, first + episodes):
        yield rollout(world, index, steps, expert_share, noise, seed)


def rollout(world: ActingWorld, index: int, steps: int, expert_share: float = 0.5, noise: float = 0.3,
            seed: int = 0):
    """Episode `index` of the collection `seed`, as one item of `rollouts`."""
    rng = np.random.default_rng([seed, index])
    task = world.sample_task(rng)
    reset_seed = int(rng.integers(2**31))
    obs, info = world.reset(seed=reset_seed, options={"state": task.start})
    use_expert = rng.random() < expert_share
    policy = world.expert(rng, noise) if use_expert else random_walk(rng, int(world.action_space.shape[0]))
    frames, actions, proprio, states = [obs], [], [info["proprio"]], [info["state"]]
    for _ in range(steps):
        action = policy(info["state"], task.goal)
        obs, _, _, _, info = world.step(action)
        frames.append(obs)
        actions.append(action)
        proprio.append(info["proprio"])
        states.append(info["state"])
    return index, np.stack(frames), np.stack(actions), np.stack(proprio), np.stack(states), reset_seed


def store_meta(world: ActingWorld, world_name: str, extra: dict) -> StoreMeta:
    """The episode-store metadata of `world`'s episodes (image size, action space, proprio size)."""
    space = world.action_space
    return StoreMeta(world=world_name, image_size=world.image_size, action_dim=int(space.shape[0]),
                     action_low=space.low.tolist(), action_high=space.high.tolist(), proprio_dim=world.proprio_dim,
                     extra=extra)


def collect(world: ActingWorld, world_name: str, out: str | Path, episodes: int, steps: int | None = None,
            expert_share: float = 0.5, noise: float = 0.3, seed: int = 0, progress: bool = True,
            workers: int = 1) -> StoreMeta:
    """Write `episodes` episodes of `steps` steps (default: the world's episode budget) to `out`.

    Episodes already in `out` from the same collection (the same meta.json) are kept, so an interrupted
    collection resumes: episode i depends only on (seed, i). `workers` > 1 runs the episodes in that many
    processes, each building its own `make_world(world_name)`; the store is the same as with one."""
    if episodes < 1:
        raise ValueError(f"--episodes must be at least 1, got {episodes}")
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    steps = steps or world.max_episode_steps
    meta = store_meta(world, world_name, {"steps_per_episode": steps, "expert_share": expert_share, "noise": noise,
                                          "seed": seed})
    out = Path(out)
    have = {int(p.stem) for p in (out / "episodes").glob("[0-9]*.npz") if p.stem.isdigit()}
    differs = have and _meta_differs(out, meta)
    if differs:
        raise ValueError(f"{out} already holds {len(have)} episodes of another collection ({differs}): write to "
                         "another folder, or delete it to collect again")
    write_meta(out, meta)
    todo = [i for i in range(episodes) if i not in have]
    bar = tqdm(total=episodes, initial=episodes - len(todo), desc=f"collect {world_name}", disable=not progress,
               unit="ep")
    if workers == 1 or len(todo) < 2:
        for index in todo:
            _write(out, rollout(world, index, steps, expert_share, noise, seed))
            bar.update()
    else:
        _collect_in_processes(world_name, world.image_size, out, todo, steps, expert_share, noise, seed, workers, bar)
    bar.close()
    return meta


def _meta_differs(out: Path, meta: StoreMeta) -> str:
    """What differs between the collection already in `out` and `meta` ('' when nothing does)."""
    try:
        have = json.loads((out / "meta.json").read_text())
    except (OSError, ValueError):
        return "its meta.json is missing or unreadable"
    want = json.loads(json.dumps(meta.to_json()))  # as it reads back
    keys = sorted(k for k in have.keys() | want.keys() if have.get(k) != want.get(k))
    return ", ".join(f"{k}: {have.get(k)!r} there, {want.get(k)!r} asked" for k in keys)


def _write(out: Path, episode) -> None:
    index, frames, actions, proprio, states, reset_seed = episode
    write_episode(out, index, frames, actions, proprio, states, seed=reset_seed)


def _collect_in_processes(world_name: str, image_size: int, out: Path, todo: list[int], steps: int,
                          expert_share: float, noise: float, seed: int, workers: int, bar) -> None:
    # chunks of a few episodes: progress moves steadily and the processes finish together
    size = max(1, min(25, len(todo) // (4 * workers)))
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    # spawn, not fork: the parent may hold torch threads or a renderer's context that a fork would copy broken;
    # each process builds its world once (an unknown name fails there and is raised here)
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                               initargs=(world_name, image_size))
    try:
        jobs = [pool.submit(_collect_chunk, str(out), chunk, steps, expert_share, noise, seed) for chunk in chunks]
        for job in as_completed(jobs):
            bar.update(job.result())
    except BrokenProcessPool as err:
        raise RuntimeError(f"a collecting process died or could not build make_world({world_name!r}) ({err}); the "
                           "episodes written are kept and a rerun resumes. Processes are spawned: call "
                           "collect(workers>1) from a script under `if __name__ == '__main__':` with a world name "
                           "make_world knows, or use workers=1") from err
    finally:  # on an error or ^C the chunks not started are dropped; the episodes written stay for a resume
        pool.shutdown(cancel_futures=True)


_worker_world: ActingWorld | None = None  # the world of a collecting process


def _start_worker(world_name: str, image_size: int) -> None:
    from . import make_world

    global _worker_world
    _worker_world = make_world(world_name, image_size=image_size)


def _collect_chunk(out: str, indices: list[int], steps: int, expert_share: float, noise: float, seed: int) -> int:
    for index in indices:
        _write(Path(out), rollout(_worker_world, index, steps, expert_share, noise, seed))
    return len(indices)

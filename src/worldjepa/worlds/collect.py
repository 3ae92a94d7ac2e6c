"""Offline data: run policies in a world and write the episodes to an episode store.

Two behaviours, mixed per episode: the world's scripted expert heading for a random goal with Gaussian
action noise, and a smooth random walk (each action = 0.8 · previous + 0.6 · noise, clipped), which
covers the state space and the contacts an expert avoids.
"""

from __future__ import annotations

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
        yield index, np.stack(frames), np.stack(actions), np.stack(proprio), np.stack(states), reset_seed


def store_meta(world: ActingWorld, world_name: str, extra: dict) -> StoreMeta:
    """The episode-store metadata of `world`'s episodes (image size, action space, proprio size)."""
    space = world.action_space
    return StoreMeta(world=world_name, image_size=world.image_size, action_dim=int(space.shape[0]),
                     action_low=space.low.tolist(), action_high=space.high.tolist(), proprio_dim=world.proprio_dim,
                     extra=extra)


def collect(world: ActingWorld, world_name: str, out: str | Path, episodes: int, steps: int | None = None,
            expert_share: float = 0.5, noise: float = 0.3, seed: int = 0, progress: bool = True) -> StoreMeta:
    """Write `episodes` episodes of `steps` steps (default: the world's episode budget) to `out`."""
    if episodes < 1:
        raise ValueError(f"--episodes must be at least 1, got {episodes}")
    steps = steps or world.max_episode_steps
    meta = store_meta(world, world_name, {"steps_per_episode": steps, "expert_share": expert_share, "noise": noise,
                                          "seed": seed})
    write_meta(out, meta)
    episodes_iter = rollouts(world, episodes, steps, expert_share, noise, seed)
    for index, frames, actions, proprio, states, reset_seed in tqdm(episodes_iter, total=episodes,
                                                                    desc=f"collect {world_name}",
                                                                    disable=not progress, unit="ep"):
        write_episode(out, index, frames, actions, proprio, states, seed=reset_seed)
    return meta

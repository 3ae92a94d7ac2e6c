"""Open-loop rollout error against horizon, in the world's state units, for any world model.

From the first frame of a held-out window, a model rolls out the window's recorded action chunks with no
further observation; a state reader (arena/readers.py), trained on the same model's encodings of real frames,
reads the state off each prediction; the error at horizon h is the distance between that and the recorded
state h steps later. The same windows, actions and state units for every paradigm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..data.batches import to_tensor
from ..data.episodes import EpisodeStore
from ..worlds.corrupt import Corruption
from .readers import FRAME_READERS, Reader, fit_reader, latent_reader


@dataclass
class Windows:
    frames: Tensor  # [N, L, 3, S, S] normalised
    actions: Tensor  # [N, L-1, k·A] action chunks
    states: Tensor  # [N, L, P] the recorded state a frame shows (`judged_state`): what the errors are measured in
    proprio: Tensor  # [N, L, Q] the store's proprio: what a model that reads proprio is given


def judged_state(record: dict[str, np.ndarray], world=None) -> np.ndarray:
    """What a reader reads off a frame and the errors are measured in: the world's `visible_state` of the recorded
    states where it names one (push-t: positions, not the agent's velocity, which no single frame shows), else
    the store's proprio (two-rooms: the agent's position)."""
    if world is not None and hasattr(world, "visible_state"):
        if "state" not in record:
            raise ValueError(f"{type(world).__name__} is judged on its recorded states, and these episodes have none: "
                             "collect them with `worldjepa collect`")
        return world.visible_state(record["state"])
    return record["proprio"]


def held_out_windows(store: EpisodeStore, episodes: range | list[int], length: int, frameskip: int,
                     per_episode: int = 4, seed: int = 0, corruption: Corruption | None = None,
                     world=None) -> Windows:
    """Up to `per_episode` windows of `length` frames from each of the given episodes, starts drawn by `seed`;
    with `corruption`, their frames as a noisy camera would see them (worlds/corrupt.py; the same starts)."""
    rng = np.random.default_rng(seed)
    picked = []
    for e in episodes:
        last = len(store.episodes[e]["action"]) - (length - 1) * frameskip
        if last < 0:
            continue
        for start in sorted(rng.choice(last + 1, size=min(per_episode, last + 1), replace=False)):
            window = store.window(e, int(start), length, frameskip)
            if corruption is not None:
                window["obs"] = corruption.apply(window["obs"], start + frameskip * np.arange(length), e)
            picked.append(window)
    if not picked:
        raise ValueError(f"no held-out episode is long enough for windows of {length} frames at frame-skip {frameskip}")
    return Windows(to_tensor(np.stack([w["obs"] for w in picked])),
                   torch.from_numpy(np.stack([w["action"] for w in picked])).float(),
                   torch.from_numpy(np.stack([judged_state(w, world) for w in picked])).float(),
                   torch.from_numpy(np.stack([w["proprio"] for w in picked])).float())


def encode_all(model, frames: Tensor, chunk: int = 256) -> Tensor:
    """The model's latents of frames [N, 3, S, S]."""
    return torch.cat([model.encode(frames[i:i + chunk]).cpu() for i in range(0, len(frames), chunk)])


def episode_frames(store: EpisodeStore, episodes: range | list[int], world=None) -> tuple[Tensor, Tensor]:
    """Every frame [N, 3, S, S] (normalised) of the given episodes and its recorded state [N, P] (`judged_state`)."""
    frames = np.concatenate([store.episodes[e]["obs"] for e in episodes])
    states = np.concatenate([judged_state(store.episodes[e], world) for e in episodes])
    return to_tensor(frames), torch.from_numpy(states).float()


def train_reader(model, store: EpisodeStore, train: range | list[int], test: range | list[int], steps: int = 1500,
                 seed: int = 0, world=None, frame_reader: str = "conv") -> Reader:
    """A reader of the state (`judged_state`) from `model`'s latents of the real frames of the `train` episodes,
    judged on every frame of the `test` episodes; convolutional (`frame_reader`: "conv" or "keypoints") when the
    latents are frames."""
    if frame_reader not in FRAME_READERS:
        raise ValueError(f"a frame reader is one of {', '.join(FRAME_READERS)}, got {frame_reader!r}")
    (f_train, s_train), (f_test, s_test) = episode_frames(store, train, world), episode_frames(store, test, world)
    x_train, x_test = encode_all(model, f_train), encode_all(model, f_test)
    state_dim = s_train.shape[-1]
    module = FRAME_READERS[frame_reader](state_dim) if x_train.dim() == 4 and x_train.shape[1] == 3 else \
        latent_reader(state_dim)
    return fit_reader(module, (x_train, s_train), (x_test, s_test), steps=steps, seed=seed)


@torch.no_grad()
def rollout_errors(model, reader: Reader, windows: Windows, chunk: int = 64) -> np.ndarray:
    """Mean distance [H] between the state read off the model's open-loop prediction h steps ahead and the
    recorded state (h = 1..H, H = window length − 1)."""
    errors = []
    for i in range(0, len(windows.frames), chunk):
        frames, actions = windows.frames[i:i + chunk], windows.actions[i:i + chunk]
        z0 = model.encode(frames[:, 0])
        proprio = windows.proprio[i:i + chunk, 0] if getattr(model, "proprio_dim", 0) else None
        predicted = model.rollout(z0, actions[:, None], proprio)[:, 0].cpu()  # [B, H, *L]
        read = reader.read(predicted.flatten(0, 1)).unflatten(0, predicted.shape[:2])  # [B, H, P]
        errors.append((read - windows.states[i:i + chunk, 1:]).norm(dim=-1))
    return torch.cat(errors).mean(0).numpy()

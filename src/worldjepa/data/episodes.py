"""The episode store: trajectories on disk, and training windows read from them.

On-disk format (version 1), one folder:

    meta.json              {"format": "worldjepa-episodes", "version": 1, "world": NAME,
                            "image_size": S, "action_dim": A, "action_low": [A], "action_high": [A],
                            "proprio_dim": P, ...}   (extra keys are kept and ignored)
    episodes/NNNNNN.npz    one episode of T steps, arrays:
                              obs      uint8   [T+1, S, S, 3]   RGB observations o_0 .. o_T
                              action   float32 [T, A]           a_t taken in o_t, leading to o_t+1
                              proprio  float32 [T+1, P]         (P may be 0)
                              state    float   [T+1, ...]       optional: the world's state, for goals
                              seed     int64   []               optional: the reset seed of the start

A user's own robot data trains the same way once written in this layout (`write_episode` does it), or read in
place from a LeRobotDataset v3 folder (data/lerobot.py; `worldjepa export --format lerobot` writes one).

A training window of length L with frame-skip k takes observations o_s, o_s+k, .., o_s+(L-1)k and, for
each of the L−1 transitions, the k primitive actions in between concatenated into one chunk of k·A
values (action chunking, as LeWM and DINO-WM do). Files that cannot be read are skipped with a warning
and counted; a store where nothing can be read is an error.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import DataConfig
from .batches import Batch, Share, seed_for, split_counts, to_tensor
from .lerobot import is_lerobot, read_lerobot

FORMAT, VERSION = "worldjepa-episodes", 1


@dataclass
class StoreMeta:
    world: str
    image_size: int
    action_dim: int
    action_low: list[float]
    action_high: list[float]
    proprio_dim: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "meta.json") -> "StoreMeta":
        """Inverse of `to_json`; unknown keys go to `extra`, a missing one is a clear error."""
        missing = sorted({"world", "image_size", "action_dim", "action_low", "action_high"} - data.keys())
        if missing:
            raise ValueError(f"{where} lacks the keys {missing}")
        known = {"world", "image_size", "action_dim", "action_low", "action_high", "proprio_dim"}
        extra = {k: v for k, v in data.items() if k not in known | {"format", "version"}}
        return cls(**{k: data[k] for k in known if k in data}, extra=extra)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "world": self.world, "image_size": self.image_size,
                "action_dim": self.action_dim, "action_low": list(map(float, self.action_low)),
                "action_high": list(map(float, self.action_high)), "proprio_dim": self.proprio_dim, **self.extra}


def write_meta(folder: str | Path, meta: StoreMeta) -> None:
    folder = Path(folder)
    (folder / "episodes").mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").write_text(json.dumps(meta.to_json(), indent=2))


def write_episode(folder: str | Path, index: int, obs: np.ndarray, action: np.ndarray,
                  proprio: np.ndarray | None = None, state: np.ndarray | None = None, seed: int | None = None) -> Path:
    """Write one episode (shapes as in the module doc) atomically: a temporary file, then a rename. `seed`: the
    world's reset seed of its start, which gives the start again where the state cannot be set."""
    obs, action = np.asarray(obs), np.asarray(action, np.float32)
    if obs.dtype != np.uint8 or obs.ndim != 4 or obs.shape[-1] != 3:
        raise ValueError(f"obs must be uint8 [T+1, H, W, 3], got {obs.dtype} {obs.shape}")
    if action.ndim != 2 or action.shape[0] != obs.shape[0] - 1:
        raise ValueError(f"action must be [T, A] with T = {obs.shape[0] - 1} (one fewer than observations), "
                         f"got {action.shape}")
    arrays = {"obs": obs, "action": action,
              "proprio": np.zeros((obs.shape[0], 0), np.float32) if proprio is None else np.asarray(proprio, np.float32)}
    if state is not None:
        arrays["state"] = np.asarray(state)
    if seed is not None:
        arrays["seed"] = np.asarray(seed, np.int64)
    path = Path(folder) / "episodes" / f"{index:06d}.npz"
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return path


def read_meta(folder: str | Path) -> StoreMeta:
    folder = Path(folder)
    path = folder / "meta.json"
    if not folder.is_dir():
        raise FileNotFoundError(f"episode store {folder} does not exist (make one with `worldjepa collect`)")
    if not path.exists():
        raise FileNotFoundError(f"{folder} is not an episode store: it has no meta.json (see docs/episodes.md "
                                "for the format, or make one with `worldjepa collect`)")
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(f"{path}: expected format {FORMAT!r} version {VERSION}, got "
                         f"{data.get('format')!r} version {data.get('version')}")
    return StoreMeta.from_json(data, str(path))


class EpisodeStore:
    """All readable episodes of a store, held in memory (uint8 frames). A LeRobotDataset v3 folder is read the
    same way, in place (data/lerobot.py: its frames resized to `image_size`)."""

    def __init__(self, folder: str | Path, limit: int | None = None, image_size: int | None = None):
        self.folder = Path(folder)
        if is_lerobot(self.folder):
            meta, self.episodes, self.skipped = read_lerobot(self.folder, image_size, limit=limit)
            self.meta = StoreMeta.from_json(meta, str(self.folder))
            return
        self.meta = read_meta(self.folder)
        files = sorted((self.folder / "episodes").glob("*.npz"))
        files = [f for f in files if not f.name.endswith(".tmp.npz")][:limit]
        self.episodes: list[dict[str, np.ndarray]] = []
        self.skipped: list[str] = []
        for f in files:
            try:
                self.episodes.append(self._load(f))
            except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
                self.skipped.append(f.name)
                warnings.warn(f"skipping unreadable episode {f}: {err}", stacklevel=2)
        if self.skipped:
            warnings.warn(f"{len(self.skipped)} of {len(files)} episode files in {self.folder} were unreadable "
                          "and skipped", stacklevel=2)
        if not self.episodes:
            raise ValueError(f"no readable episodes in {self.folder / 'episodes'}")

    def _load(self, path: Path) -> dict[str, np.ndarray]:
        with np.load(path) as z:
            ep = {k: z[k] for k in z.files}
        m = self.meta
        obs, act = ep["obs"], ep["action"]
        if obs.ndim != 4 or obs.shape[1:] != (m.image_size, m.image_size, 3) or obs.dtype != np.uint8:
            raise ValueError(f"obs {obs.dtype} {obs.shape}, expected uint8 [T+1, {m.image_size}, {m.image_size}, 3]")
        if act.shape != (obs.shape[0] - 1, m.action_dim):
            raise ValueError(f"action {act.shape}, expected [{obs.shape[0] - 1}, {m.action_dim}]")
        ep.setdefault("proprio", np.zeros((obs.shape[0], 0), np.float32))
        return ep

    def __len__(self) -> int:
        return len(self.episodes)

    @property
    def steps(self) -> int:
        return sum(len(e["action"]) for e in self.episodes)

    def window_index(self, length: int, frameskip: int) -> np.ndarray:
        """[W, 2] (episode, start) of every window that fits."""
        span = (length - 1) * frameskip
        pairs = [(i, s) for i, e in enumerate(self.episodes) for s in range(len(e["action"]) - span + 1)]
        if not pairs:
            longest = max(len(e["action"]) for e in self.episodes)
            raise ValueError(f"no episode is long enough for windows of {length} frames at frame-skip {frameskip} "
                             f"({span} steps; the longest episode has {longest})")
        return np.asarray(pairs, np.int64)

    def window(self, episode: int, start: int, length: int, frameskip: int) -> dict[str, np.ndarray]:
        e = self.episodes[episode]
        frames = start + frameskip * np.arange(length)
        acts = e["action"][start:start + (length - 1) * frameskip].reshape(length - 1, frameskip * self.meta.action_dim)
        out = {"obs": e["obs"][frames], "action": acts, "proprio": e["proprio"][frames]}
        if "state" in e:
            out["state"] = e["state"][frames]
        return out


class EpisodeBatches:
    """Training windows as a pure function of the step: `batch(step, micro)` → Batch with
    video [B, L, 3, S, S], actions [B, L−1, k·A], proprio [B, L, P] (and `states` for evaluation)."""

    def __init__(self, store: EpisodeStore, length: int, frameskip: int, batch_size: int, seed: int = 0):
        self.store, self.length, self.frameskip = store, length, frameskip
        self.batch_size, self.seed = batch_size, seed
        self.index = store.window_index(length, frameskip)

    def batch(self, step: int, micro: int = 0) -> Batch:
        return self.batch_part(step, micro)

    def batch_part(self, step: int, micro: int = 0, rows: Share = Share()) -> Batch:
        """A process's rows of the batch, reading only its own windows."""
        rng = np.random.default_rng(seed_for(self.seed, step, micro, 7))
        picks = self.index[rng.integers(len(self.index), size=self.batch_size)]
        picks = picks[rows.clips(self.batch_size)]
        return self.collate([self.store.window(int(e), int(s), self.length, self.frameskip) for e, s in picks])

    def collate(self, windows: list[dict[str, np.ndarray]]) -> Batch:
        obs = np.stack([w["obs"] for w in windows])
        return Batch(video=to_tensor(obs),
                     actions=torch.from_numpy(np.stack([w["action"] for w in windows])).float(),
                     proprio=torch.from_numpy(np.stack([w["proprio"] for w in windows])).float(),
                     skipped=tuple(self.store.skipped))


class EpisodeClips:
    """Pretraining batches from the frames of an episode store (`data.source=episodes`): clips of
    `data.frames` observations `data.frame_step` apart from random episodes and starts, stills single
    observations; the actions are not used. This is how an encoder is pretrained on a world's own frames
    before a patch-form world model is trained on it, frozen."""

    def __init__(self, cfg: DataConfig, seed: int = 0):
        self.cfg, self.seed = cfg, seed
        self.store = EpisodeStore(cfg.path, image_size=cfg.image_size)
        size = self.store.meta.image_size
        if size != cfg.image_size:
            raise ValueError(f"the episode store {cfg.path} holds {size}x{size} frames but data.image_size="
                             f"{cfg.image_size}: set data.image_size={size}")
        self.clips = self.store.window_index(cfg.frames, cfg.frame_step)
        self.stills = self.store.window_index(1, 1)
        self.num_videos, self.num_images = split_counts(cfg.batch_size, cfg.image_fraction)

    def batch(self, step: int, micro: int = 0) -> Batch:
        rng = np.random.default_rng(seed_for(self.seed, step, micro, 3))
        c, episodes = self.cfg, self.store.episodes
        video = image = None
        if self.num_videos:
            picks = self.clips[rng.integers(len(self.clips), size=self.num_videos)]
            offsets = c.frame_step * np.arange(c.frames)
            video = to_tensor(np.stack([episodes[e]["obs"][s + offsets] for e, s in picks]))
        if self.num_images:
            picks = self.stills[rng.integers(len(self.stills), size=self.num_images)]
            image = to_tensor(np.stack([episodes[e]["obs"][s] for e, s in picks]))
        return Batch(video, image, skipped=tuple(self.store.skipped))

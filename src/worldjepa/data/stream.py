"""Streaming shards: a corpus read as it arrives, from a web server, object storage or local files, so that it
never has to fit on one disk (`data.source=stream`).

    data.path=https://host/corpus/shard-{000000..000127}.tar
    data.path="pipe:aws s3 cp s3://bucket/shard-{000000..000127}.tar -"     (any command writing a shard to stdout)
    data.path=DIR (its *.tar) | LIST.txt (one shard address a line)

The shards are `worldjepa shard`'s (data/shards.py), read front to back as tar streams. Each process takes its own
shards: with P processes and L lanes (L = data.workers, or 1), the shards of an epoch, shuffled by the run's seed,
go round-robin to the P × L (process, lane) pairs, and step s is built from lane s mod L, so each loader worker
reads one lane. A lane cuts one clip (at a random start) or one still from each sample as it arrives and keeps
them in a shuffle buffer of `data.shuffle_buffer`, from which batches are drawn. Everything is seeded by
(seed, epoch, process, lane): resuming at step s replays each lane's stream to where it was (the reading, not the
training), so a resumed run sees the batches an uninterrupted one would. The order depends on the number of
processes and of workers. A member that cannot be read, or a shard that cannot be opened, is skipped and counted.
Local shards read faster and at random (`data.source=shards`); this reader is for corpora that are elsewhere.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
import time
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..config import DataConfig
from .batches import Batch, Share, apply_boxes, crop_boxes, seed_for, split_counts, to_tensor
from .video import MediaError


def expand(spec: str) -> list[str]:
    """The shard addresses of a `data.path`: brace ranges expanded (`shard-{000..011}.tar`, widths kept), a
    folder's *.tar, or a .txt file's lines."""
    if not spec.startswith("pipe:") and "://" not in spec:
        path = Path(spec)
        if path.is_dir():
            found = [str(p) for p in sorted(path.rglob("*.tar"))]
            if not found:
                raise FileNotFoundError(f"no .tar shards in {path}: write them with `worldjepa shard SRC --out {path}`")
            return found
        if path.suffix == ".txt" and path.is_file():  # one address (or range) a line: clips and stills together
            return [a for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
                    for a in expand(line.strip())]
    match = re.search(r"\{(\d+)\.\.(\d+)\}", spec)
    if not match:
        return [spec]
    first, last = match.group(1), match.group(2)
    if int(last) < int(first):
        raise ValueError(f"data.path: the range {{{first}..{last}}} runs backwards")
    return [a for i in range(int(first), int(last) + 1)
            for a in expand(spec[:match.start()] + str(i).zfill(len(first)) + spec[match.end():])]


def open_stream(address: str) -> BinaryIO:
    """A readable stream of one shard: an http(s) URL, `pipe:COMMAND` (its stdout) or a local file."""
    if address.startswith("pipe:"):
        process = subprocess.Popen(address[5:], shell=True, stdout=subprocess.PIPE)
        return process.stdout
    if re.match(r"^[a-z][a-z0-9+.-]*://", address):
        return urllib.request.urlopen(address, timeout=60)
    return open(address, "rb")


def shard_samples(address: str, broken: list[str], tries: int = 3) -> Iterator[tuple[np.ndarray, dict]]:
    """(frames, meta) of each sample of one shard, in the order they arrive; unreadable members (and a shard that
    cannot be opened or ends early) are appended to `broken` and skipped. A shard that fails before its first
    sample (a network error) is tried again, `tries` times in all, a second and then two apart."""
    for attempt in range(tries):
        yielded = 0
        try:
            for sample in _read_shard(address, broken):
                yielded += 1
                yield sample
            return
        except FileNotFoundError as err:
            _note(broken, f"{address} ({err})")
            return
        except (OSError, tarfile.TarError) as err:
            if yielded or attempt == tries - 1:
                _note(broken, f"{address} ({err})")
                return
            time.sleep(2 ** attempt)


def _read_shard(address: str, broken: list[str]) -> Iterator[tuple[np.ndarray, dict]]:
    pending: dict[str, dict] = {}
    dead: set[str] = set()  # keys with a broken member: the other member goes too, uncounted
    with open_stream(address) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, _, ext = member.name.rpartition(".")
            if key in dead:
                continue
            try:
                data = tar.extractfile(member).read()
                item = pending.setdefault(key, {})
                if ext == "npy":
                    frames = np.load(io.BytesIO(data), allow_pickle=False)
                    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
                        raise ValueError(f"not a frame array: {frames.dtype} {frames.shape}")
                    item["frames"] = frames
                elif ext == "json":
                    item["meta"] = json.loads(data)
            except ValueError as err:  # the member's bytes arrived but are not what a shard holds
                _note(broken, f"{address}:{member.name} ({err})")
                pending.pop(key, None)
                dead.add(key)
                continue
            if "frames" in pending.get(key, {}) and "meta" in pending[key]:
                item = pending.pop(key)
                yield item["frames"], item["meta"]
    for key, item in pending.items():  # a frame array without its json (or the reverse): its kind is unknown
        _note(broken, f"{address}:{key} (no {'json' if 'frames' in item else 'npy'} beside it)")


def _note(broken: list[str], entry: str) -> None:
    if entry not in broken:  # a stream read again (next epoch, a replay) meets the same broken members
        broken.append(entry)


@dataclass
class _Lane:
    """One (process, lane)'s reading position: the samples it has cut and not yet drawn, and where it is."""

    rng: np.random.Generator
    clip_samples: Iterator | None  # None: this process trains on no clips (or no stills)
    still_samples: Iterator | None
    position: int = 0  # batches built so far
    clips: list = field(default_factory=list)
    stills: list = field(default_factory=list)


def is_still_shard(address: str) -> bool:
    """`worldjepa shard` writes stills into their own shards, `stills-*.tar`, beside the clips' `shard-*.tar`."""
    return re.split(r"[/\\ ]", address.rstrip("/ -"))[-1].startswith("stills-")


class StreamBatches:
    """Pretraining batches from streamed shards (`data.source=stream`); see the module's docstring."""

    replays = True  # resuming reads each lane's stream again up to where it was (train/feed.py, doctor.py)

    def __init__(self, cfg: DataConfig, seed: int = 0, accumulate: int = 1):
        self.cfg, self.seed, self.accumulate = cfg, seed, accumulate
        addresses = expand(cfg.path)
        self.still_shards = [a for a in addresses if is_still_shard(a)]
        self.clip_shards = [a for a in addresses if not is_still_shard(a)]
        self.lanes = max(1, cfg.workers)
        self.num_videos, self.num_images = split_counts(cfg.batch_size, cfg.image_fraction)
        for kind, shards, count in (("clip", self.clip_shards, self.num_videos),
                                    ("still", self.still_shards, self.num_images)):
            if count and not shards:
                raise MediaError(f"data.path names no {kind} shards ({'shard' if kind == 'clip' else 'stills'}-*.tar, "
                                 f"as `worldjepa shard` names them) but the batch holds {count} {kind}s: add them to "
                                 f"data.path, or set data.image_fraction={'1.0' if kind == 'clip' else '0.0'}")
        self.broken: list[str] = []
        self._warned = 0
        self._lanes: dict[int, _Lane] = {}

    def batch(self, step: int, micro: int = 0) -> Batch:
        return self.batch_part(step, micro)

    def batch_part(self, step: int, micro: int = 0, rows: Share = Share()) -> Batch:
        """This process's batch of (step, micro): its own clips and stills, from its own shards. A lane's batches
        come in the order of its steps and their micro-batches; asked for a later one (a resumed run), the lane
        reads on to it, for an earlier one it starts again."""
        lane, k = step % self.lanes, (step // self.lanes) * self.accumulate + micro
        clips, stills = _count(rows.clips(self.num_videos)), _count(rows.stills(self.num_images))
        state = self._lanes.get(lane)
        if state is None or state.position > k:
            state = self._lanes[lane] = self._start(lane, rows, clips > 0, stills > 0)
        while state.position < k:  # replay: the same draws, nothing kept
            self._draw(state, clips, stills, keep=False)
        batch = self._draw(state, clips, stills)
        if len(self.broken) > self._warned:
            self._warned = len(self.broken)
            warnings.warn(f"{len(self.broken)} unreadable streamed shard members skipped so far (latest: "
                          f"{self.broken[-1]})", stacklevel=2)
        return batch

    def _start(self, lane: int, rows: Share, clips: bool, stills: bool) -> _Lane:
        pairs, me = rows.parts * self.lanes, rows.index * self.lanes + lane
        rng = np.random.default_rng(seed_for(self.seed, rows.index, lane, 11))

        def samples(shards: list[str], kind: str, stream: int) -> Iterator[tuple[np.ndarray, dict]]:
            for epoch in range(1_000_000):
                order = np.random.default_rng(seed_for(self.seed, epoch, stream)).permutation(len(shards))
                # dealt round-robin; with fewer shards than (process, lane) pairs, pairs share them
                mine = order[me::pairs] if len(shards) >= pairs else order[[me % len(shards)]]
                count = 0
                for i in mine:
                    for frames, meta in shard_samples(shards[i], self.broken):
                        if meta.get("kind", "video") == kind:
                            count += 1
                            yield frames, meta
                if not count:
                    raise MediaError(f"a whole epoch of this process's {len(mine)} streamed {kind} shards (first: "
                                     f"{shards[mine[0]]}) held no readable {kind}; {len(self.broken)} unreadable so far")

        return _Lane(rng, samples(self.clip_shards, "video", 13) if clips else None,
                     samples(self.still_shards, "image", 17) if stills else None)

    def _draw(self, state: _Lane, clips: int, stills: int, keep: bool = True) -> Batch | None:
        c, buffer = self.cfg, max(self.cfg.shuffle_buffer, clips, stills)
        span = (c.frames - 1) * c.frame_step + 1
        while clips and len(state.clips) < buffer:
            frames, _ = next(state.clip_samples)
            self._check_size(frames)
            start = int(state.rng.integers(0, len(frames) - span + 1)) if len(frames) > span else 0
            state.clips.append(frames[np.minimum(start + c.frame_step * np.arange(c.frames), len(frames) - 1)])
        while stills and len(state.stills) < buffer:
            frames, _ = next(state.still_samples)
            self._check_size(frames)
            state.stills.append(frames[int(state.rng.integers(len(frames)))])
        state.position += 1
        picked = [_take(state.clips, state.rng) for _ in range(clips)], [_take(state.stills, state.rng) for _ in range(stills)]
        boxes = [crop_boxes(len(p), c.image_size, c.image_size, c.crop_scale, c.crop_ratio, state.rng) if p else None
                 for p in picked]
        if not keep:
            return None
        video, image = (apply_boxes(to_tensor(np.stack(p)), b) if p else None for p, b in zip(picked, boxes))
        return Batch(video, image, skipped=tuple(self.broken))

    def _check_size(self, frames: np.ndarray) -> None:
        size = self.cfg.image_size
        if frames.shape[1] != size or frames.shape[2] != size:
            raise ValueError(f"streamed shards hold {frames.shape[1]} px frames but data.image_size={size}: set "
                             f"data.image_size to theirs, or shard again with --size {size}")


def _count(rows: slice | None) -> int:
    return 0 if rows is None else rows.stop - rows.start


def _take(buffer: list, rng: np.random.Generator) -> np.ndarray:
    """A random item of the buffer, removed (swapped with the last: O(1))."""
    i = int(rng.integers(len(buffer)))
    buffer[i], buffer[-1] = buffer[-1], buffer[i]
    return buffer.pop()

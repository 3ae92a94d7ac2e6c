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
        if path.suffix == ".txt" and path.is_file():
            return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
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


def shard_samples(address: str, broken: list[str]) -> Iterator[tuple[np.ndarray, dict]]:
    """(frames, meta) of each sample of one shard, in the order they arrive; unreadable members (and a shard that
    cannot be opened or ends early) are appended to `broken` and skipped."""
    pending: dict[str, dict] = {}
    try:
        with open_stream(address) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, _, ext = member.name.rpartition(".")
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
                except (ValueError, OSError, tarfile.TarError) as err:
                    _note(broken, f"{address}:{member.name} ({err})")
                    pending.pop(key, None)
                    continue
                if "frames" in pending.get(key, {}) and "meta" in pending[key]:
                    item = pending.pop(key)
                    yield item["frames"], item["meta"]
    except (OSError, tarfile.TarError) as err:
        _note(broken, f"{address} ({err})")
    for key, item in pending.items():  # a frame array without its json (or the reverse)
        if "frames" in item:
            yield item["frames"], item.get("meta", {})


def _note(broken: list[str], entry: str) -> None:
    if entry not in broken:  # a stream read again (next epoch, a replay) meets the same broken members
        broken.append(entry)


@dataclass
class _Lane:
    """One (process, lane)'s reading position: the samples it has cut and not yet drawn, and where it is."""

    rng: np.random.Generator
    samples: Iterator
    position: int = 0  # batches built so far
    clips: list = field(default_factory=list)
    stills: list = field(default_factory=list)
    kinds: set = field(default_factory=set)  # "video", "image": what its stream has held so far


class StreamBatches:
    """Pretraining batches from streamed shards (`data.source=stream`); see the module's docstring."""

    def __init__(self, cfg: DataConfig, seed: int = 0, accumulate: int = 1):
        self.cfg, self.seed, self.accumulate = cfg, seed, accumulate
        self.shards = expand(cfg.path)
        self.lanes = max(1, cfg.workers)
        self.num_videos, self.num_images = split_counts(cfg.batch_size, cfg.image_fraction)
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
        state = self._lanes.get(lane)
        if state is None or state.position > k:
            state = self._lanes[lane] = self._start(lane, rows)
        clips, stills = _count(rows.clips(self.num_videos)), _count(rows.stills(self.num_images))
        while state.position < k:  # replay: the same draws, nothing kept
            self._draw(state, clips, stills, keep=False)
        batch = self._draw(state, clips, stills)
        if len(self.broken) > self._warned:
            self._warned = len(self.broken)
            warnings.warn(f"{len(self.broken)} unreadable streamed shard members skipped so far (latest: "
                          f"{self.broken[-1]})", stacklevel=2)
        return batch

    def _start(self, lane: int, rows: Share) -> _Lane:
        pairs = rows.parts * self.lanes
        if len(self.shards) < pairs:
            raise ValueError(f"{len(self.shards)} shards cannot feed {rows.parts} processes × {self.lanes} loader lanes "
                             f"(data.workers) a shard each: write more, smaller shards (`worldjepa shard --shard-mb`) "
                             "or use fewer workers")
        me = rows.index * self.lanes + lane
        rng = np.random.default_rng(seed_for(self.seed, rows.index, lane, 11))

        def samples() -> Iterator[tuple[np.ndarray, dict, int]]:
            for epoch in range(1_000_000):
                order = np.random.default_rng(seed_for(self.seed, epoch, 13)).permutation(len(self.shards))
                count = 0
                for i in order[me::pairs]:
                    for frames, meta in shard_samples(self.shards[i], self.broken):
                        count += 1
                        yield frames, meta, epoch
                if not count:
                    raise MediaError(f"no readable samples in this process's {len(order[me::pairs])} streamed shards "
                                     f"(first: {self.shards[order[me]]}; {len(self.broken)} unreadable so far)")

        return _Lane(rng, samples())

    def _draw(self, state: _Lane, clips: int, stills: int, keep: bool = True) -> Batch | None:
        c, buffer = self.cfg, max(self.cfg.shuffle_buffer, clips, stills)
        span = (c.frames - 1) * c.frame_step + 1
        while (clips and len(state.clips) < buffer) or (stills and len(state.stills) < buffer):
            frames, meta, epoch = next(state.samples)
            if frames.shape[1] != c.image_size or frames.shape[2] != c.image_size:
                raise ValueError(f"streamed shards hold {frames.shape[1]} px frames but data.image_size={c.image_size}:"
                                 f" set data.image_size to theirs, or shard again with --size {c.image_size}")
            missing = [k for k, n in (("video", clips), ("image", stills)) if n and k not in state.kinds]
            if epoch and missing:  # a whole epoch went by without one
                kind = "clips" if missing[0] == "video" else "stills"
                raise MediaError(f"a whole epoch of this process's streamed shards held no {kind}: set "
                                 f"data.image_fraction={'1.0' if kind == 'clips' else '0.0'} or add {kind} to the corpus")
            state.kinds.add(meta.get("kind", "video"))
            if meta.get("kind") == "image":
                if stills:
                    _keep(state.stills, frames[int(state.rng.integers(len(frames)))], buffer, state.rng)
            elif clips:
                start = int(state.rng.integers(0, len(frames) - span + 1)) if len(frames) > span else 0
                index = np.minimum(start + c.frame_step * np.arange(c.frames), len(frames) - 1)
                _keep(state.clips, frames[index], buffer, state.rng)
        state.position += 1
        picked = [_take(state.clips, state.rng) for _ in range(clips)], [_take(state.stills, state.rng) for _ in range(stills)]
        boxes = [crop_boxes(len(p), c.image_size, c.image_size, c.crop_scale, c.crop_ratio, state.rng) if p else None
                 for p in picked]
        if not keep:
            return None
        video, image = (apply_boxes(to_tensor(np.stack(p)), b) if p else None for p, b in zip(picked, boxes))
        return Batch(video, image, skipped=tuple(self.broken))


def _count(rows: slice | None) -> int:
    return 0 if rows is None else rows.stop - rows.start


def _keep(buffer: list, item: np.ndarray, size: int, rng: np.random.Generator) -> None:
    """Into the buffer; a full one (the other kind still filling) gives up a random item for it."""
    if len(buffer) < size:
        buffer.append(item)
    else:
        buffer[int(rng.integers(size))] = item


def _take(buffer: list, rng: np.random.Generator) -> np.ndarray:
    """A random item of the buffer, removed (swapped with the last: O(1))."""
    i = int(rng.integers(len(buffer)))
    buffer[i], buffer[-1] = buffer[-1], buffer[i]
    return buffer.pop()

"""Shards: a media corpus decoded once into tar files of frames at training size (the WebDataset layout).

    worldjepa shard SRC --out DIR --size 64 [--stride N | --fps F] [--shard-mb 1000]
    pretrain ... data.source=shards data.path=DIR

Decoding is what training from raw videos pays for: a random 8-frame clip of a 720p phone video decodes from
the keyframe before it, up to a whole keyframe interval (250 frames) per clip. `shard` decodes every video once,
in order, and keeps every `stride`-th frame (or the frames nearest `fps` per second), resized as training and
`embed` resize (shorter side to `size`, centre crop). Each sample is two members of a tar shard:

    KEY.npy    uint8 [T, S, S, 3]: the video's kept frames (a still: T = 1)
    KEY.json   {"source": path, "kind": "video" | "image", "fps": frames per second of the kept frames,
                "label": the manifest's label or null}

Videos go into `shard-NNNNNN.tar`, stills into their own `stills-NNNNNN.tar` (a streaming reader then takes each
kind from its own shards, data/stream.py). Members are stored uncompressed, so a clip is read straight from its
frames' bytes in the tar file (memory-mapped; nothing else of the video is touched). A shard closes when it passes --shard-mb. The shards are plain tar files:
`tar tf` lists them, and WebDataset readers read them. A member that cannot be read (truncated, a header that
is not a frame array) is skipped with a warning and counted, its shard's other samples staying in use; a shard
whose tar index cannot be read at all is skipped whole and counted the same way.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..config import DataConfig
from .batches import Batch, Share, apply_boxes, crop_boxes, seed_for, split_counts, to_tensor
from .folder import list_media, load_image, read_manifest, resize_square
from .video import MediaError, read_video, video_fps


@dataclass(frozen=True)
class Sample:
    shard: Path
    offset: int  # where the frames' bytes start in the shard
    frames: int
    size: int
    label: str | None


def write_shards(src: str | Path, out: str | Path, size: int, stride: int = 1, fps: float | None = None,
                 shard_mb: float = 1000.0, progress: bool = True) -> dict:
    """Decode the videos and images of `src` (a folder, a file or a CSV manifest) into tar shards under `out`.
    Unreadable files are skipped and counted. Returns a summary."""
    from tqdm.auto import tqdm

    videos, images = list_media(src)
    labels = read_manifest(src)[1] if Path(src).suffix.lower() == ".csv" else {}
    out = Path(out)
    if any(out.glob("shard-*.tar")) or any(out.glob("stills-*.tar")):  # new shards beside old ones: both trained on
        raise ValueError(f"{out} already holds shards: write to an empty folder, or delete them first")
    out.mkdir(parents=True, exist_ok=True)
    # stills in their own shards, so that a streaming reader (data/stream.py) finds each kind without reading the other
    writers = {"video": _ShardWriter(out, shard_mb * 1e6), "image": _ShardWriter(out, shard_mb * 1e6, "stills")}
    skipped, frames_kept = [], 0
    try:
        for path in tqdm([*videos, *images], desc="shard", unit="file", disable=not progress):
            try:
                if path in images:
                    arr, rate, kind = load_image(path, size)[None], None, "image"
                else:
                    native = video_fps(path)
                    step = max(1, round(native / fps)) if fps and native else stride
                    arr = np.stack([resize_square(f, size) for f in read_video(path, step=step)])
                    rate, kind = (native / step if native else None), "video"
            except MediaError as err:
                skipped.append(str(path))
                warnings.warn(f"skipping unreadable file ({len(skipped)} skipped so far): {err}", stacklevel=2)
                continue
            frames_kept += len(arr)
            writers[kind].add(arr, {"source": str(path), "kind": kind, "fps": rate, "label": labels.get(path)})
    finally:
        for writer in writers.values():
            writer.close()
    return {"shards": sum(w.count for w in writers.values()), "samples": sum(w.samples for w in writers.values()),
            "frames": frames_kept, "skipped": len(skipped), "bytes": sum(w.total for w in writers.values())}


class _ShardWriter:
    def __init__(self, out: Path, limit: float, prefix: str = "shard"):
        self.out, self.limit, self.prefix = out, limit, prefix
        self.tar: tarfile.TarFile | None = None
        self.count = self.samples = self.total = 0
        self.size = 0

    def add(self, frames: np.ndarray, meta: dict) -> None:
        if self.tar is None or self.size >= self.limit:
            self._next()
        key = f"{self.prefix}-{self.samples:08d}"
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(frames, dtype=np.uint8))
        for name, data in ((f"{key}.npy", buffer.getvalue()), (f"{key}.json", json.dumps(meta).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            self.tar.addfile(info, io.BytesIO(data))
            self.size += len(data)
            self.total += len(data)
        self.samples += 1

    def _next(self) -> None:
        self.close()
        self.tar = tarfile.open(self.out / f"{self.prefix}-{self.count:06d}.tar", "w", format=tarfile.USTAR_FORMAT)
        self.count += 1
        self.size = 0

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()
            self.tar = None


def index_shards(folder: str | Path) -> tuple[list[Sample], list[Sample], list[str]]:
    """(clips, stills, broken members) of the shards under `folder`, from the tar headers and each frame
    array's own header; no frame is read."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"shard folder {folder} does not exist")
    shards = sorted(folder.rglob("*.tar")) if folder.is_dir() else [folder]
    if not shards:
        raise MediaError(f"no .tar shards in {folder}: write them with `worldjepa shard SRC --out {folder}`")
    videos, images, broken = [], [], []
    for shard in shards:
        try:
            with tarfile.open(shard, "r:") as tar:  # uncompressed only: the frames are read at their offsets
                members = {m.name: m for m in tar.getmembers() if m.isfile()}
                for name, member in members.items():
                    if not name.endswith(".npy"):
                        continue
                    key = name[:-4]
                    try:
                        meta = json.loads(tar.extractfile(members[f"{key}.json"]).read()) if f"{key}.json" in members else {}
                        sample = _frames_header(tar, member, shard, meta.get("label"))
                    except (ValueError, KeyError, OSError, tarfile.TarError) as err:
                        broken.append(f"{shard}:{name} ({err})")
                        continue
                    (images if meta.get("kind") == "image" else videos).append(sample)
        except (tarfile.TarError, OSError) as err:
            broken.append(f"{shard} ({err})")
    if broken:
        warnings.warn(f"{len(broken)} unreadable shard members skipped (first: {broken[0]})", stacklevel=2)
    if not videos and not images:
        raise MediaError(f"no readable samples in the {len(shards)} shards under {folder}")
    return videos, images, broken


def _frames_header(tar: tarfile.TarFile, member: tarfile.TarInfo, shard: Path, label) -> Sample:
    f = tar.extractfile(member)
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(f)
    if dtype != np.uint8 or fortran or len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
        raise ValueError(f"not a frame array: {dtype} {shape}")
    header = f.tell()
    if header + int(np.prod(shape)) > member.size:
        raise ValueError(f"truncated: {member.size} bytes for frames {shape}")
    return Sample(shard, member.offset_data + header, shape[0], shape[1], label)


class ShardBatches:
    """Pretraining batches from shards (`data.source=shards`): clips of `data.frames` frames `data.frame_step`
    apart in the shard's kept frames, from random samples and starts; stills one frame each. A pure function of
    (step, micro), as every batch source."""

    def __init__(self, cfg: DataConfig, seed: int = 0):
        self.cfg, self.seed = cfg, seed
        self.videos, self.images, self.broken = index_shards(cfg.path)
        sizes = {s.size for s in self.videos + self.images}
        if sizes != {cfg.image_size}:
            raise ValueError(f"the shards under {cfg.path} hold {sorted(sizes)} px frames but data.image_size="
                             f"{cfg.image_size}: set data.image_size to theirs, or shard again with --size {cfg.image_size}")
        fraction = cfg.image_fraction if self.videos and self.images else (0.0 if self.videos else 1.0)
        self.num_videos, self.num_images = split_counts(cfg.batch_size, fraction)
        self.skipped = tuple(self.broken)
        self._maps: dict[Path, np.memmap] = {}

    def _frames(self, sample: Sample, start: int, count: int, step: int) -> np.ndarray:
        data = self._maps.get(sample.shard)
        if data is None:
            data = self._maps[sample.shard] = np.memmap(sample.shard, dtype=np.uint8, mode="r")
        frame = sample.size * sample.size * 3
        index = np.minimum(start + step * np.arange(count), sample.frames - 1)  # a short video repeats its last
        return np.stack([data[sample.offset + i * frame: sample.offset + (i + 1) * frame] for i in index]).reshape(
            count, sample.size, sample.size, 3)

    def batch(self, step: int, micro: int = 0) -> Batch:
        return self.batch_part(step, micro)

    def batch_part(self, step: int, micro: int = 0, rows: Share = Share()) -> Batch:
        """A process's rows of the batch: every pick is drawn, only its rows read."""
        rng = np.random.default_rng(seed_for(self.seed, step, micro, 5))
        c = self.cfg
        span = (c.frames - 1) * c.frame_step + 1
        clips = []
        for i in rng.integers(len(self.videos), size=self.num_videos) if self.num_videos else []:
            s = self.videos[i]
            clips.append((s, int(rng.integers(0, s.frames - span + 1)) if s.frames > span else 0))
        stills = []
        for i in rng.integers(len(self.images), size=self.num_images) if self.num_images else []:
            stills.append((self.images[i], int(rng.integers(self.images[i].frames))))

        crops = np.random.default_rng(seed_for(self.seed, step, micro, 9))
        video = image = None
        mine = rows.clips(len(clips))
        if clips:  # the crop boxes are drawn whatever this process keeps, so that the stills' boxes stay the same
            boxes = crop_boxes(len(clips), c.image_size, c.image_size, c.crop_scale, c.crop_ratio, crops)
            if mine is not None:
                video = to_tensor(np.stack([self._frames(s, start, c.frames, c.frame_step) for s, start in clips[mine]]))
                video = apply_boxes(video, boxes and boxes[mine])
        mine = rows.stills(len(stills))
        if stills and mine is not None:
            boxes = crop_boxes(len(stills), c.image_size, c.image_size, c.crop_scale, c.crop_ratio, crops)
            image = to_tensor(np.stack([self._frames(s, i, 1, 1)[0] for s, i in stills[mine]]))
            image = apply_boxes(image, boxes and boxes[mine])
        return Batch(video, image, skipped=self.skipped)


def cached_shards(cfg: DataConfig, progress: bool = True) -> DataConfig:
    """`data.cache` for a folder source: the shards of `cfg.path` at `cfg.image_size` in `cfg.cache`, written
    the first time (and again when a file was added, removed or changed), as a shard source's config."""
    videos, images = list_media(cfg.path)
    files = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in [*videos, *images]]
    stamp = {"size": cfg.image_size, "files": files}
    cache = Path(cfg.cache)
    record = cache / "sources.json"
    current = lambda: record.exists() and json.loads(record.read_text()) == stamp  # noqa: E731
    if int(os.environ.get("RANK", "0")) > 0:  # under torchrun rank 0 writes (a folder every node sees), the rest wait
        while not current():
            time.sleep(2)
    elif not current():
        record.unlink(missing_ok=True)
        for old in [*cache.glob("shard-*.tar"), *cache.glob("stills-*.tar")]:
            old.unlink()
        write_shards(cfg.path, cache, cfg.image_size, progress=progress)
        temporary = record.with_suffix(".tmp")
        temporary.write_text(json.dumps(stamp))
        os.replace(temporary, record)  # whole or absent: a waiting rank never reads half of it
    return replace(cfg, source="shards", path=str(cache))

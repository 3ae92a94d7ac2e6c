"""A folder of images and/or videos as training data.

Files are found recursively by suffix, or listed in a CSV manifest (`path[,label]` per row). Videos give clips of `frames` frames taken every `frame_step`
frames from a random start; images give stills (one-frame inputs, never copied into clips). Both are
resized the same way (shorter side to `image_size`, then a centre crop) in training and in `embed`.
A file that cannot be decoded is skipped with a warning and counted, and training continues on the
others; a folder with no usable file is an error that says what was looked for.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..config import DataConfig
from .batches import Batch, apply_boxes, crop_boxes, seed_for, split_counts, to_tensor
from .video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, MediaError, read_video

MAX_PIXELS = 20_000 * 20_000  # larger images are refused before decoding (decompression bombs)
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def resize_square(frame: np.ndarray | Image.Image, size: int) -> np.ndarray:
    """Shorter side to `size` (bicubic), centre crop to size × size, RGB uint8."""
    img = frame if isinstance(frame, Image.Image) else Image.fromarray(frame)
    img = img.convert("RGB")
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


def load_image(path: str | Path, size: int) -> np.ndarray:
    """An image file → uint8 [size, size, 3]. Raises MediaError."""
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:  # PIL only warns below twice its limit, then decodes it all
                raise MediaError(f"{path}: {img.width}×{img.height} image is larger than the "
                                 f"{MAX_PIXELS // 1_000_000} MP this loader accepts")
            img.load()
            if img.mode in ("I;16", "I;16B", "I", "F"):  # 16-bit / float grayscale: rescale to 8 bits
                arr = np.asarray(img, dtype=np.float64)
                lo, hi = float(arr.min()), float(arr.max())
                img = Image.fromarray(((arr - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8))
            return resize_square(img, size)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise MediaError(f"{path}: cannot read image ({type(err).__name__}: {err})") from err


def load_clip(path: str | Path, size: int, frames: int, frame_step: int, rng: np.random.Generator) -> np.ndarray:
    """A window of `frames` frames from a video → uint8 [frames, size, size, 3]. Short videos are
    padded by repeating their last frame. Raises MediaError."""
    span = (frames - 1) * frame_step + 1
    total = _frame_count_hint(path)
    start = int(rng.integers(0, max(1, total - span + 1))) if total > span else 0
    raw = read_video(path, start=start, count=frames, step=frame_step)
    if len(raw) < frames:
        raw = np.concatenate([raw, np.repeat(raw[-1:], frames - len(raw), axis=0)])
    return np.stack([resize_square(f, size) for f in raw])


def _frame_count_hint(path) -> int:
    import av

    try:
        with av.open(str(path)) as container:
            return int(container.streams.video[0].frames) if container.streams.video else 0
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as err:
        raise MediaError(f"{path}: cannot open video ({type(err).__name__}: {err})") from err


def read_manifest(path: str | Path) -> tuple[list[Path], dict[Path, str]]:
    """A CSV manifest: one media file per row, `path[,label]`, relative paths from the manifest's folder (a
    first row `path,label` is a header). → (files that exist, {file: label}); files that do not exist are
    skipped with one warning that counts them."""
    import csv

    path = Path(path)
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r and r[0].strip() and not r[0].lstrip().startswith("#")]
    if rows and rows[0][0].strip().lower() == "path":
        rows = rows[1:]
    files, labels, missing = [], {}, []
    for row in rows:
        file = Path(row[0].strip())
        file = file if file.is_absolute() else path.parent / file
        if not file.is_file():
            missing.append(str(file))
            continue
        files.append(file)
        if len(row) > 1 and row[1].strip():
            labels[file] = row[1].strip()
    if missing:
        warnings.warn(f"{len(missing)} of the {len(rows)} files {path} names do not exist and are skipped (first: "
                      f"{missing[0]})", stacklevel=2)
    return files, labels


def list_media(root: str | Path) -> tuple[list[Path], list[Path]]:
    """(videos, images) under `root` (a folder, one file, or a CSV manifest naming files), sorted. Raises a clear
    error if there are none."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"data folder {root} does not exist")
    if root.is_file() and root.suffix.lower() == ".csv":
        files = read_manifest(root)[0]
    elif root.is_file():
        files = [root]
    else:
        files = sorted(p for p in root.rglob("*") if p.is_file())
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not videos and not images:
        raise MediaError(
            f"no images or videos found in {root} ({len(files)} files looked at; expected suffixes "
            f"{' '.join(sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES))})"
        )
    return videos, images


class FolderBatches:
    """Batches from a media folder; corrupt files are skipped, warned about once, and counted."""

    def __init__(self, cfg: DataConfig, seed: int = 0):
        self.cfg, self.seed = cfg, seed
        self.videos, self.images = list_media(cfg.path)
        fraction = cfg.image_fraction
        if not self.videos:
            fraction = 1.0
        elif not self.images:
            fraction = 0.0
        self.num_videos, self.num_images = split_counts(cfg.batch_size, fraction)
        self.bad: set[Path] = set()

    def _load(self, pool: list[Path], rng, loader, skipped: list[str]) -> np.ndarray:
        # Draw from the whole pool and redraw on a bad file, so the sequence of files does not depend
        # on which bad files this process has already met (resumed runs see the same data).
        while True:
            if all(p in self.bad for p in pool):
                raise MediaError(f"all {len(pool)} files of this kind under {self.cfg.path} failed to decode")
            path = pool[int(rng.integers(len(pool)))]
            if path in self.bad:
                continue
            try:
                return loader(path)
            except MediaError as err:
                self.bad.add(path)
                skipped.append(str(path))
                warnings.warn(f"skipping unreadable file ({len(self.bad)} skipped so far): {err}", stacklevel=2)

    def batch(self, step: int, micro: int = 0) -> Batch:
        rng = np.random.default_rng(seed_for(self.seed, step, micro, 2))
        c = self.cfg
        video = image = None
        skipped: list[str] = []
        if self.num_videos:
            clips = [self._load(self.videos, rng, lambda p: load_clip(p, c.image_size, c.frames, c.frame_step, rng),
                                skipped) for _ in range(self.num_videos)]
            video = to_tensor(np.stack(clips))
            video = apply_boxes(video, crop_boxes(len(clips), c.image_size, c.image_size, c.crop_scale, c.crop_ratio,
                                                  np.random.default_rng(seed_for(self.seed, step, micro, 9))))
        if self.num_images:
            stills = [self._load(self.images, rng, lambda p: load_image(p, c.image_size), skipped)
                      for _ in range(self.num_images)]
            image = to_tensor(np.stack(stills))
            image = apply_boxes(image, crop_boxes(len(stills), c.image_size, c.image_size, c.crop_scale, c.crop_ratio,
                                                  np.random.default_rng(seed_for(self.seed, step, micro, 10))))
        return Batch(video, image, skipped=tuple(skipped))

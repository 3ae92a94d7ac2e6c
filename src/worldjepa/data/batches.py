"""Training batches, keyed by step.

A batch source is a pure function of (step, micro-batch): `source.batch(step, micro)` always returns the
same data for the same arguments. That makes resume exact without saving data-loader state, lets
background workers produce steps in any order, and lets tests replay a step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import torch
from torch import Tensor


MEAN = torch.tensor([0.485, 0.456, 0.406])
STD = torch.tensor([0.229, 0.224, 0.225])


@dataclass
class Batch:
    video: Tensor | None = None  # [B, T, C, H, W] normalised float
    image: Tensor | None = None  # [B, C, H, W] normalised float
    actions: Tensor | None = None  # [B, T-1, A] action (chunk) between consecutive frames of `video`
    proprio: Tensor | None = None  # [B, T, P] proprioception per frame (P may be 0)
    skipped: tuple[str, ...] = ()  # files found unreadable while building this batch (counted by the trainer)
    features: Tensor | None = None  # [B, V, D] cached visual tokens of a frozen encoder (VL-JEPA's X side)
    text: dict[str, Tensor] | None = None  # [B, ...] token ids and masks of each row's texts (VL-JEPA)

    @property
    def size(self) -> int:
        return sum(x.shape[0] for x in (self.video, self.image, self.features) if x is not None)

    def to(self, device: torch.device | str) -> "Batch":
        """The same batch on `device` (no copy for tensors already there)."""
        def move(x: Tensor | None) -> Tensor | None:
            return None if x is None else x.to(device, non_blocking=True)

        return replace(self, video=move(self.video), image=move(self.image), actions=move(self.actions),
                       proprio=move(self.proprio), features=move(self.features),
                       text=None if self.text is None else {k: move(v) for k, v in self.text.items()})


    def part(self, rows: "Share") -> "Batch":
        """A process's rows of this global batch (with their actions and proprio); None for a kind of sample
        it takes none of (V-JEPA 2.1's split of processes between stills and clips)."""
        if rows.parts == 1:
            return self
        clips, stills = rows.clips(self.video.shape[0] if self.video is not None else 0), \
            rows.stills(self.image.shape[0] if self.image is not None else 0)

        def cut(x: Tensor | None, keep: slice | None) -> Tensor | None:
            return None if x is None or keep is None else x[keep]

        rows_of_features = rows.clips(self.features.shape[0]) if self.features is not None else None
        return replace(self, video=cut(self.video, clips), image=cut(self.image, stills),
                       actions=cut(self.actions, clips), proprio=cut(self.proprio, clips),
                       features=cut(self.features, rows_of_features),
                       text=None if self.text is None else {k: cut(v, rows_of_features) for k, v in self.text.items()})


@dataclass(frozen=True)
class Share:
    """Which rows of every step's global batch process `index` of `parts` trains on (docs/scaling.md): an equal
    contiguous slice of the clips and one of the stills; or, under V-JEPA 2.1's split of processes
    (`data.split_ranks`), the first `still_ranks` processes take only stills and the others only clips."""

    index: int = 0
    parts: int = 1
    still_ranks: int = 0

    def clips(self, count: int) -> slice | None:
        """This process's slice of a batch's `count` clips; None when it takes no clips."""
        if not self.still_ranks:
            return share(count, self.index, self.parts, "clips")
        if self.index < self.still_ranks:
            return None
        return share(count, self.index - self.still_ranks, self.parts - self.still_ranks, "clips")

    def stills(self, count: int) -> slice | None:
        """This process's slice of a batch's `count` stills; None when it takes no stills."""
        if not self.still_ranks:
            return share(count, self.index, self.parts, "stills")
        if self.index >= self.still_ranks:
            return None
        return share(count, self.index, self.still_ranks, "stills")


def still_ranks(world: int, clips: int, stills: int) -> int:
    """How many of `world` processes train on stills only under V-JEPA 2.1's split, so that the stills' share of
    the averaged gradient is their share of the batch, as in one process (0 for one process: it takes both)."""
    if world == 1:
        return 0
    ranks = world * stills / (clips + stills)
    if not stills or not clips or ranks != int(ranks):
        share = stills / (clips + stills)
        fits = [n for n in range(2, 4 * world + 1) if clips and stills and (n * share).is_integer()][:3]
        raise ValueError(
            f"data.split_ranks: {world} processes cannot split between stills and clips a batch of {clips} clips and "
            f"{stills} stills: the still processes' share of the processes must be the stills' share of the batch "
            f"({share:g}), so that both weigh in the averaged gradient as in one process. "
            + (f"Start a number of processes such as {', '.join(map(str, fits))}, or " if fits else
               "A batch needs both clips and stills for the split (data.image_fraction between 0 and 1); or ")
            + "set data.split_ranks=false (every process trains on its share of both)")
    return int(ranks)


class BatchSource(Protocol):
    def batch(self, step: int, micro: int = 0) -> Batch: ...


class MediaSource(BatchSource, Protocol):
    """A pretraining source: how many clips and stills each of its batches holds."""

    num_videos: int
    num_images: int


def share(count: int, index: int, parts: int, what: str = "samples") -> slice:
    """Rank `index` of `parts`'s rows of a batch of `count` (contiguous, equal); a clear error if they do not split."""
    if count % parts:
        raise ValueError(f"a batch of {count} {what} does not split evenly over {parts} processes: make the number "
                         f"of {what} per batch (data.batch_size, with data.image_fraction for stills) a multiple of "
                         f"{parts}, or start a number of processes that divides {count}")
    n = count // parts
    return slice(index * n, (index + 1) * n)


def crop_boxes(count: int, height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float],
               rng: np.random.Generator) -> list[tuple[int, int, int, int]] | None:
    """V-JEPA's random-resized crop boxes (top, left, h, w), one per sample: an area that is a uniform share in
    `scale` of the frame, an aspect log-uniform in `ratio` (ten tries, then the whole frame). None when `scale`
    is (1, 1): frames stay whole. Drawn for a whole batch, so a rank's rows get the boxes one process would."""
    import math

    if tuple(scale) == (1.0, 1.0):
        return None
    boxes = []
    for _ in range(count):
        box = (0, 0, height, width)
        for _ in range(10):
            area = height * width * rng.uniform(*scale)
            aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
            w, h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if 0 < w <= width and 0 < h <= height:
                box = (int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w)
                break
        boxes.append(box)
    return boxes


def apply_boxes(x: Tensor, boxes: list[tuple[int, int, int, int]] | None) -> Tensor:
    """[B, (T,) C, H, W] with sample b cropped to boxes[b] (every frame alike) and resized back (bilinear)."""
    import torch.nn.functional as F

    if boxes is None:
        return x
    out = torch.empty_like(x)
    for b, (i, j, h, w) in enumerate(boxes):
        crop = x[b, ..., i:i + h, j:j + w]
        flat = crop if crop.ndim == 4 else crop[None]
        out[b] = F.interpolate(flat, size=x.shape[-2:], mode="bilinear", align_corners=False).reshape(x.shape[1:])
    return out


def seed_for(*keys: int) -> int:
    """A well-mixed 63-bit seed from integer keys (run seed, step, micro-batch, stream)."""
    return int(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]).generate_state(2, np.uint64)[0] >> 1)


def to_tensor(frames: np.ndarray) -> Tensor:
    """uint8 [..., H, W, 3] → normalised float [..., 3, H, W]."""
    frames = np.ascontiguousarray(frames)
    if not frames.flags.writeable:  # torch warns on read-only arrays (decoded images are); the copy is float anyway
        frames = frames.copy()
    x = torch.from_numpy(frames).float().div_(255.0)
    x = (x - MEAN) / STD
    return x.movedim(-1, -3).contiguous()


def to_uint8(x: Tensor) -> np.ndarray:
    """Inverse of `to_tensor`, for pictures."""
    x = x.movedim(-3, -1).cpu().float() * STD + MEAN
    return (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


def split_counts(batch_size: int, image_fraction: float) -> tuple[int, int]:
    """(videos, images) in a batch of `batch_size` with the given image share."""
    images = int(round(batch_size * image_fraction))
    return batch_size - images, images

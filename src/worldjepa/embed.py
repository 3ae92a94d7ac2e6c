"""Feature extraction: images, videos or a folder of them → one safetensors file of features.

Videos are cut into windows of the run's clip length (`frames` frames, every `frame_step`-th frame)
with a given stride; a last partial window is padded by repeating the final frame. Images are
one-frame inputs. Frames are resized exactly as in training. Each input file gives one tensor named by
its path relative to the input folder: pooled [windows, D] (mean over the window's tokens) or the
patch grid [windows, T', H', W', D]; `levels="all"` concatenates a hierarchical encoder's levels (V-JEPA 2.1's
4: [.., 4·D]). The header metadata lists, per file, the first frame of each window and its time in seconds
(from the video's frame rate). Unreadable files are skipped with a warning and counted. The published
setting of V-JEPA 2 / 2.1 is a converted encoder (`worldjepa convert`) on its 16-frame clips.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from safetensors.torch import save_file
from tqdm.auto import tqdm

from .data.folder import list_media, load_image, resize_square
from .data.video import IMAGE_SUFFIXES, MediaError, read_video, video_fps
from .device import resolve_device
from .eval.features import patch_features
from .pretrain import load_pretrained


def video_windows(frames: np.ndarray, length: int, stride: int) -> tuple[np.ndarray, list[int]]:
    """[N, H, W, 3] → windows [W, length, H, W, 3] starting every `stride` frames, and their starts."""
    n = len(frames)
    starts = list(range(0, max(1, n - length + 1), stride))
    if starts[-1] + length < n:  # cover the tail too
        starts.append(n - length)
    windows = []
    for s in starts:
        w = frames[s:s + length]
        if len(w) < length:
            w = np.concatenate([w, np.repeat(w[-1:], length - len(w), axis=0)])
        windows.append(w)
    return np.stack(windows), starts


def embed(path: str | Path, checkpoint: str | Path, out: str | Path, pool: str = "mean",
          stride: int | None = None, progress: bool = True, device: str | None = None, levels: str = "last",
          precision: str = "bf16", batch_size: int = 8) -> dict:
    if pool not in ("mean", "none"):
        raise ValueError(f"pool must be 'mean' or 'none', got {pool!r}")
    if levels not in ("last", "all"):
        raise ValueError(f"levels must be 'last' or 'all', got {levels!r}")
    encoder, cfg = load_pretrained(checkpoint)
    encoder.to(resolve_device(device or cfg.train.device))
    size, length, step = cfg.data.image_size, cfg.data.frames, cfg.data.frame_step
    stride = stride or length
    path = Path(path)
    videos, images = list_media(path)
    if images:  # refused before any work: a run that never trained its image tokenizer embeds no image
        try:
            encoder.require_image_tokenizer()
        except ValueError as err:
            raise ValueError(f"{path} holds {len(images)} image file(s): {err}") from None
    root = path if path.is_dir() else path.parent
    tensors, index, skipped = {}, {}, []
    for file in tqdm(sorted(videos + images), disable=not progress, unit="file"):
        name = str(file.relative_to(root))
        try:
            if file.suffix.lower() in IMAGE_SUFFIXES:
                frames, starts, fps = load_image(file, size)[None], [0], None
            else:
                raw = read_video(file, step=step)
                frames, starts = video_windows(np.stack([resize_square(f, size) for f in raw]), length, stride)
                fps = video_fps(file)
        except MediaError as err:
            skipped.append(name)
            warnings.warn(f"skipping unreadable file ({len(skipped)} skipped so far): {err}", stacklevel=2)
            continue
        feats = patch_features(encoder, frames, batch_size, precision, levels == "all")  # [W, T', H', W', D]
        tensors[name] = feats.flatten(1, 3).mean(1) if pool == "mean" else feats
        index[name] = {"window_starts": [s * step for s in starts],
                       "window_seconds": [round(s * step / fps, 4) for s in starts] if fps else None}
    if not tensors:
        raise MediaError(f"none of the {len(videos) + len(images)} files under {path} could be read")
    meta = {"checkpoint": str(checkpoint), "pool": pool, "levels": levels, "precision": precision,
            "frames": length, "frame_step": step,
            "image_size": size, "files": index, "skipped": skipped}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out), metadata={"worldjepa": json.dumps(meta)})
    return {"files": len(tensors), "skipped": len(skipped), "out": str(out),
            "dim": int(next(iter(tensors.values())).shape[-1])}

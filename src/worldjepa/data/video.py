"""Video files through PyAV: write clips, read (a window of) frames back.

Any decoding failure (missing file, not a video, truncated stream, no frames) becomes a `MediaError`
whose message names the file, so callers can skip and count bad files instead of crashing.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


class MediaError(RuntimeError):
    """A media file that cannot be read; the message names the file and the reason."""


def write_video(path: str | Path, frames: np.ndarray, fps: float = 12.0, crf: int = 12) -> None:
    """frames [T, H, W, 3] uint8 → an H.264 file (4:4:4, near-lossless at the default crf)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames [T, H, W, 3], got {frames.dtype} {frames.shape}")
    T, H, W, _ = frames.shape
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=int(round(fps)))
        stream.width, stream.height = W, H
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": str(crf), "preset": "fast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def video_fps(path: str | Path) -> float | None:
    """The video's frame rate (frames per second), or None when its container does not say."""
    try:
        with av.open(str(path)) as container:
            rate = container.streams.video[0].average_rate if container.streams.video else None
    except (av.error.FFmpegError, OSError, ValueError):
        return None
    return float(rate) if rate else None


def read_video(path: str | Path, start: int = 0, count: int | None = None, step: int = 1) -> np.ndarray:
    """Frames start, start+step, ... (at most `count`) as uint8 [T, H, W, 3]. Raises MediaError.

    A later start seeks to the keyframe before it and counts frames from their timestamps (a constant frame
    rate assumed: shard a variable-rate video with `worldjepa shard --fps`), instead of decoding every frame
    before it; where the seek cannot be trusted (no timestamps, a keyframe past the start) the video is decoded
    from its first frame."""
    if start >= 2:
        try:
            return _read(path, start, count, step, seek=True)
        except _SeekMissed:
            pass
    return _read(path, start, count, step, seek=False)


class _SeekMissed(Exception):
    """A seek that landed where frames cannot be counted."""


def _read(path: str | Path, start: int, count: int | None, step: int, seek: bool) -> np.ndarray:
    frames = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            index = _seek(container, stream, start) if seek else (lambda frame, n: n)
            for n, frame in enumerate(container.decode(stream)):
                i = index(frame, n)
                if n == 0 and i > start:
                    raise _SeekMissed
                if i >= start and (i - start) % step == 0:
                    frames.append(frame.to_ndarray(format="rgb24"))
                    if count is not None and len(frames) == count:
                        break
    except (MediaError, _SeekMissed):
        raise
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as err:
        raise MediaError(f"{path}: cannot decode video ({type(err).__name__}: {err})") from err
    if not frames:
        raise MediaError(f"{path}: no decodable frames" + (f" from frame {start}" if start else ""))
    return np.stack(frames)


def _seek(container, stream, start: int):
    """Seek to the keyframe before frame `start`; → a function (frame, n-th decoded) → the frame's index."""
    rate, base, origin = stream.average_rate, stream.time_base, stream.start_time or 0
    if not rate or not base:
        raise _SeekMissed
    container.seek(origin + int(start / rate / base), stream=stream, backward=True, any_frame=False)

    def index(frame, n: int) -> int:
        if frame.pts is None:
            raise _SeekMissed
        return round(float((frame.pts - origin) * base * rate))

    return index

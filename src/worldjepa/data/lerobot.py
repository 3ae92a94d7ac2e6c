"""LeRobotDataset v3.0 folders in and out, without the lerobot package (pyarrow for parquet, PyAV for video).

    meta/info.json                                       fps, features (dtype, shape, names), path templates
    meta/episodes/chunk-000/file-000.parquet             per episode: length, data and video file, video time span
    meta/tasks.parquet, meta/stats.json
    data/chunk-000/file-000.parquet                      one row per frame, several episodes per file
    videos/<camera>/chunk-000/file-000.mp4               several episodes one after another (AV1 by default)

A frame of episode e is found in its video file at `from_timestamp + timestamp` (the episode's start in that file
plus the row's time, frame_index / fps), the nearest decoded frame within half a frame.

The mapping to the episode store (docs/episodes.md):

    observation.images.<camera> (or the first video feature)  ↔  obs      (resized to image_size, square)
    action [N, A]                                             ↔  action   (rows 0 … N−2: the last frame's action
                                                                           leads to no observation; written as 0)
    observation.state [N, P]                                  ↔  proprio
    observation.environment_state [N, D]                      ↔  state    (the world's state, for goals)

A dataset is read whole into memory, never copied to npz. An episode whose video file is missing or too short,
or whose rows disagree with the episode table, is skipped with a warning and counted; a folder with none
readable is an error.
"""

from __future__ import annotations

import json
import os
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

os.environ.setdefault("SVT_LOG", "1")  # the AV1 encoder's own log: errors only (it writes a page per file otherwise)

from .folder import resize_square
from .video import MediaError

INFO, STATS, TASKS = "meta/info.json", "meta/stats.json", "meta/tasks.parquet"
EPISODES = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
DATA = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
DEFAULT_FEATURES = {"timestamp": "float32", "frame_index": "int64", "episode_index": "int64", "index": "int64",
                    "task_index": "int64"}
CAMERA, ACTION, STATE, ENV_STATE = "observation.image", "action", "observation.state", "observation.environment_state"


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("LeRobot datasets need pyarrow: pip install 'worldjepa[lerobot]'") from None
    return pa, pq


def is_lerobot(folder: str | Path) -> bool:
    return (Path(folder) / INFO).is_file()


def _vectors(column, rows: int, name: str) -> np.ndarray:
    """A parquet column of fixed- or variable-size float lists (or scalars) → float32 [rows, N]."""
    pa, _ = _pyarrow()
    column = column.combine_chunks()
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type) or pa.types.is_fixed_size_list(column.type):
        lengths = column.value_lengths().to_numpy(zero_copy_only=False) if not pa.types.is_fixed_size_list(
            column.type) else np.full(len(column), column.type.list_size)
        if len(set(lengths.tolist())) > 1:
            raise ValueError(f"column {name!r} holds vectors of different lengths ({sorted(set(lengths.tolist()))})")
        values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
        return values.reshape(rows, -1)
    return column.to_numpy(zero_copy_only=False).astype(np.float32).reshape(rows, 1)


class _VideoFile:
    """All frames of one video file with their times, decoded once."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise MediaError(f"video file {path} is missing")
        frames, times = [], []
        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                for frame in container.decode(stream):
                    frames.append(frame.to_ndarray(format="rgb24"))
                    times.append(float(frame.time))
        except (av.error.FFmpegError, OSError, IndexError) as err:
            raise MediaError(f"{path}: cannot decode video ({type(err).__name__}: {err})") from err
        self.path, self.frames, self.times = path, frames, np.asarray(times)

    def at(self, times: np.ndarray, fps: float) -> list[np.ndarray]:
        """The frames nearest to `times` (seconds); none may be more than half a frame away."""
        nearest = np.abs(self.times[None, :] - times[:, None]).argmin(1) if len(self.times) else None
        if nearest is None or np.abs(self.times[nearest] - times).max() > 0.5 / fps:
            raise MediaError(f"{self.path} has no frame near {float(times.max()):.3f} s (it holds "
                             f"{len(self.times)} frames up to {float(self.times.max()) if len(self.times) else 0:.3f} s)")
        return [self.frames[i] for i in nearest]


def read_lerobot(folder: str | Path, image_size: int | None = None, camera: str | None = None,
                 limit: int | None = None) -> tuple[dict[str, Any], list[dict[str, np.ndarray]], list[str]]:
    """(store metadata as `StoreMeta.from_json` reads it, episodes in the store's arrays, skipped episodes) of a
    LeRobot v3 folder; `camera` picks the video feature (default: the first), `image_size` the square side frames
    are resized to (default: the video's side when square)."""
    _, pq = _pyarrow()
    folder = Path(folder)
    info = json.loads((folder / INFO).read_text())
    version = str(info.get("codebase_version", "?"))
    if not version.startswith("v3"):
        raise ValueError(f"{folder} is a LeRobot {version} dataset; worldjepa reads v3.0 (convert it with lerobot's "
                         f"convert_dataset_v21_to_v30)")
    features, fps = info["features"], float(info["fps"])
    videos = [k for k, f in features.items() if f.get("dtype") == "video"]
    if not videos:
        raise ValueError(f"{folder} has no video feature; worldjepa's episodes need camera frames")
    camera = camera or videos[0]
    if camera not in videos:
        raise ValueError(f"{folder} has no video feature {camera!r}; it has {', '.join(videos)}")
    if ACTION not in features:
        raise ValueError(f"{folder} has no {ACTION!r} feature; its features are {', '.join(features)}")
    height, width = features[camera]["shape"][:2]
    if image_size is None:
        if height != width:
            raise ValueError(f"{camera} frames are {height}×{width}: give the square side to resize them to "
                             f"(image_size)")
        image_size = int(height)

    data_files = sorted((folder / "data").glob("*/*.parquet"))
    episode_files = sorted((folder / "meta" / "episodes").glob("*/*.parquet"))
    if not data_files or not episode_files:
        raise ValueError(f"{folder} has no data/*/*.parquet or meta/episodes/*/*.parquet files")
    rows = sorted((r for f in episode_files for r in pq.read_table(f).to_pylist()), key=lambda r: r["episode_index"])
    columns = [ACTION] + [k for k in (STATE, ENV_STATE) if k in features]
    frames_by_episode: dict[int, dict[str, np.ndarray]] = {}
    for f in data_files:
        data = pq.read_table(f, columns=[*columns, "episode_index", "frame_index", "timestamp"])
        n = data.num_rows
        arrays = {name: _vectors(data.column(name), n, name) for name in columns}
        episode = data.column("episode_index").to_numpy()
        order = np.lexsort((data.column("frame_index").to_numpy(), episode))
        timestamps = data.column("timestamp").to_numpy().astype(np.float64)
        for e in np.unique(episode):
            picked = order[episode[order] == e]
            frames_by_episode[int(e)] = {**{k: v[picked] for k, v in arrays.items()}, "timestamp": timestamps[picked]}

    episodes, skipped, files = [], [], {}
    for row in rows[:limit]:
        e = int(row["episode_index"])
        try:
            got = frames_by_episode.get(e)
            if got is None or len(got[ACTION]) != row["length"]:
                raise ValueError(f"its data rows ({0 if got is None else len(got[ACTION])}) disagree with its length "
                                 f"in the episode table ({row['length']})")
            if row["length"] < 2:
                raise ValueError("it has fewer than 2 frames")
            key = (row[f"videos/{camera}/chunk_index"], row[f"videos/{camera}/file_index"])
            if key not in files:
                try:
                    files[key] = _VideoFile(folder / VIDEO.format(video_key=camera, chunk_index=key[0],
                                                                  file_index=key[1]))
                except MediaError as err:
                    files[key] = err
            if isinstance(files[key], MediaError):
                raise files[key]
            pictures = files[key].at(row[f"videos/{camera}/from_timestamp"] + got["timestamp"], fps)
        except (ValueError, MediaError) as err:
            skipped.append(f"episode {e}")
            warnings.warn(f"skipping LeRobot episode {e} of {folder}: {err}", stacklevel=2)
            continue
        episode = {"obs": np.stack([resize_square(p, image_size) for p in pictures]),
                   "action": got[ACTION][:-1], "proprio": got.get(STATE, np.zeros((row["length"], 0), np.float32))}
        if ENV_STATE in got:
            episode["state"] = got[ENV_STATE]
        episodes.append(episode)
    if skipped:
        warnings.warn(f"{len(skipped)} of {len(rows[:limit])} episodes in {folder} were unreadable and skipped",
                      stacklevel=2)
    if not episodes:
        raise ValueError(f"no readable episodes in the LeRobot dataset {folder}")
    actions = np.concatenate([ep["action"] for ep in episodes])
    meta = {"world": f"lerobot:{info.get('robot_type') or folder.name}", "image_size": image_size,
            "action_dim": int(actions.shape[1]), "action_low": actions.min(0).tolist(),
            "action_high": actions.max(0).tolist(), "proprio_dim": int(episodes[0]["proprio"].shape[1]),
            "lerobot": {"folder": str(folder), "camera": camera, "fps": fps}}
    return meta, episodes, skipped


# ---------------------------------------------------------------------------------------------------------------
# writing


def _encode(frames: list[np.ndarray], path: Path, fps: int, lossless: bool, crf: int) -> None:
    """Frames one after another into one mp4: AV1 (libsvtav1, yuv420p, GOP 2: LeRobot's defaults but `crf`), or
    lossless RGB H.264 (libx264rgb, qp 0) whose frames come back exactly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        if lossless:
            stream = container.add_stream("libx264rgb", rate=fps, options={"qp": "0", "preset": "veryfast"})
            stream.pix_fmt = "rgb24"
        else:
            stream = container.add_stream("libsvtav1", rate=fps, options={"crf": str(crf), "g": "2", "preset": "8"})
            stream.pix_fmt = "yuv420p"
        stream.height, stream.width = frames[0].shape[:2]
        stream.time_base = Fraction(1, fps)
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _vector_column(values: np.ndarray):
    pa, _ = _pyarrow()
    values = np.asarray(values, np.float32).reshape(len(values), -1)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), pa.float32()), values.shape[1])


def _stats(values: np.ndarray) -> dict[str, list]:
    v = values.reshape(len(values), -1).astype(np.float64)
    return {"min": v.min(0).tolist(), "max": v.max(0).tolist(), "mean": v.mean(0).tolist(), "std": v.std(0).tolist(),
            "count": [len(v)]}


def _tasks_table(task: str):
    """meta/tasks.parquet as lerobot writes it with pandas: a `task_index` column and the task strings as the
    (named) index, which pandas stores as a `task` column plus its index metadata."""
    pa, _ = _pyarrow()
    pandas = {"index_columns": ["task"], "column_indexes": [{"name": None, "field_name": None,
                                                             "pandas_type": "unicode", "numpy_type": "object",
                                                             "metadata": {"encoding": "UTF-8"}}],
              "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                           "numpy_type": "int64", "metadata": None},
                          {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object",
                           "metadata": None}],
              "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.0"}
    table = pa.table({"task_index": pa.array([0], pa.int64()), "task": pa.array([task], pa.string())})
    return table.replace_schema_metadata({b"pandas": json.dumps(pandas).encode()})


def write_lerobot(episodes: list[dict[str, np.ndarray]], out: str | Path, fps: int = 10, task: str = "",
                  robot_type: str | None = None, lossless: bool = False, crf: int = 20) -> Path:
    """Episodes in the store's arrays (obs [T+1, S, S, 3], action [T, A], proprio [T+1, P], state) → a LeRobot v3.0
    folder at `out`: one data file, one episode table, one video file; the last frame's action is 0."""
    pa, pq = _pyarrow()
    out = Path(out)
    if (out / INFO).exists():
        raise ValueError(f"{out} already holds a LeRobot dataset; export into a new folder")
    size = episodes[0]["obs"].shape[1]
    columns: dict[str, list] = {ACTION: [], STATE: [], ENV_STATE: [], **{k: [] for k in DEFAULT_FEATURES}}
    table_rows, frames, start = [], [], 0
    for e, ep in enumerate(episodes):
        n = len(ep["obs"])
        action = np.concatenate([ep["action"], np.zeros((1, ep["action"].shape[1]), np.float32)])
        columns[ACTION].append(action)
        columns[STATE].append(ep["proprio"].reshape(n, -1))
        if "state" in ep:
            columns[ENV_STATE].append(np.asarray(ep["state"], np.float32).reshape(n, -1))
        for name, values in (("timestamp", np.arange(n) / fps), ("frame_index", np.arange(n)),
                             ("episode_index", np.full(n, e)), ("index", start + np.arange(n)),
                             ("task_index", np.zeros(n))):
            columns[name].append(values)
        table_rows.append({"episode_index": e, "tasks": [task], "length": n, "data/chunk_index": 0,
                           "data/file_index": 0, "dataset_from_index": start, "dataset_to_index": start + n,
                           f"videos/{CAMERA}/chunk_index": 0, f"videos/{CAMERA}/file_index": 0,
                           f"videos/{CAMERA}/from_timestamp": start / fps,
                           f"videos/{CAMERA}/to_timestamp": (start + n) / fps,
                           "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        frames.extend(ep["obs"])
        start += n
    vectors = {k: np.concatenate(v) for k, v in columns.items() if k not in DEFAULT_FEATURES and v}
    if ENV_STATE in vectors and len(vectors[ENV_STATE]) != start:
        del vectors[ENV_STATE]  # only some episodes hold a state: none is written
    features: dict[str, Any] = {
        CAMERA: {"dtype": "video", "shape": [size, size, 3], "names": ["height", "width", "channels"],
                 "info": {"video.height": size, "video.width": size, "video.codec": "h264" if lossless else "av1",
                          "video.pix_fmt": "rgb24" if lossless else "yuv420p", "video.is_depth_map": False,
                          "video.fps": fps, "video.channels": 3, "has_audio": False}},
        **{k: {"dtype": "float32", "shape": [v.shape[1]], "names": [f"{k.split('.')[-1]}_{i}" for i in range(v.shape[1])]}
           for k, v in vectors.items()},
        **{k: {"dtype": dtype, "shape": [1], "names": None} for k, dtype in DEFAULT_FEATURES.items()}}
    data = {**{k: _vector_column(v) for k, v in vectors.items()},
            **{k: pa.array(np.concatenate(columns[k]).astype(dtype), pa.float32() if dtype == "float32" else pa.int64())
               for k, dtype in DEFAULT_FEATURES.items()}}
    (out / DATA.format(chunk_index=0, file_index=0)).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(data), out / DATA.format(chunk_index=0, file_index=0), compression="snappy")
    (out / EPISODES.format(chunk_index=0, file_index=0)).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(table_rows), out / EPISODES.format(chunk_index=0, file_index=0))
    pq.write_table(_tasks_table(task), out / TASKS)
    _encode(frames, out / VIDEO.format(video_key=CAMERA, chunk_index=0, file_index=0), fps, lossless, crf)
    stats = {k: _stats(v) for k, v in vectors.items()}
    pixels = np.stack(frames).astype(np.float64) / 255  # per channel, in [0, 1], shaped [3, 1, 1] as lerobot's
    stats[CAMERA] = {s: np.asarray(getattr(pixels, s)((0, 1, 2))).reshape(3, 1, 1).tolist() for s in
                     ("min", "max", "mean", "std")} | {"count": [len(frames)]}
    (out / STATS).write_text(json.dumps(stats))
    info = {"codebase_version": "v3.0", "robot_type": robot_type, "total_episodes": len(episodes),
            "total_frames": start, "total_tasks": 1, "chunks_size": 1000, "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 200, "fps": fps, "splits": {"train": f"0:{len(episodes)}"}, "data_path": DATA,
            "video_path": VIDEO, "features": features}
    (out / INFO).write_text(json.dumps(info, indent=4))
    return out

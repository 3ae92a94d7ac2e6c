"""VL-JEPA's data: clips of the ball world, their texts from ground truth, and their frozen visual features.

`ball_texts` simulates clips (1 to `max_balls` balls in equal shares, an occluder in half of them; each simulated
`future` frames past what the clip shows, for "what happens next"), and writes for each clip its description in
every paraphrase template (the facts of vl/captions.py joined: the first wall bounce, collision and occlusion,
the count, a sideways motion and the nearest ball) and its questions; `ball_streams` simulates long clips cut
from several scenes, whose sliding windows feed selective decoding, each window described from the facts of the
scene that holds its middle frame. `cache_features` encodes the clips and windows once with a frozen pretrained
encoder (a `worldjepa pretrain` run) and pools its patch grid to at most `tokens` visual tokens per clip; training
and evaluation then read only the cache (`VLData`). The last fifth of the clips is the test set.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor

from ..config import WorldConfig
from ..data.batches import seed_for
from ..worlds.balls import BallWorld
from .captions import (COLOURS, NUMBERS, PARAPHRASES, Text, captions, clip_facts, first_alone, questions,
                       two_rooms_texts)


def describe(caption_list: list[Text]) -> str:
    return ", ".join(t.answer for t in caption_list)


@dataclass
class VLData:
    features: Tensor  # [N, V, D] visual tokens of each clip (frozen encoder, pooled)
    texts: list[Text]  # descriptions (kind "description", no query) and questions, for every clip and template
    test: np.ndarray  # [N] bool: a test clip (never trained on)
    meta: dict
    labels: dict[str, list[str]]  # per clip: "count" (a number word), "wall" (its first wall bounce: "COLOUR WALL" or "")
    streams: Tensor | None = None  # [S, W, V, D] the windows of long clips, for selective decoding
    stream_references: list | None = None  # [S][W][template]: each window's description

    def items(self, split: str, held_out: bool | None = None, questions: bool | None = None) -> list[Text]:
        """Texts of the train or test clips, optionally only (not) held-out templates and (not) questions."""
        want_test = split == "test"
        return [t for t in self.texts if bool(self.test[t.clip]) == want_test
                and (held_out is None or t.held_out == held_out) and (questions is None or bool(t.query) == questions)]


def last_fifth(n: int) -> np.ndarray:
    """[n] bool: the test split, the last fifth (at least one)."""
    return np.arange(n) >= n - max(1, n // 5)


def window_starts(length: int, frames: int, stride: int) -> range:
    return range(0, length - frames + 1, stride)


def ball_texts(clips: int, frames: int, future: int, image_size: int, seed: int, max_balls: int = 5,
               occluder: float = 0.5) -> tuple[np.ndarray, list[Text], dict[str, list[str]]]:
    """Frames [N, frames, S, S, 3] of `clips` simulated clips, their texts and their class labels."""
    videos, texts, facts = [], [], []
    rng = np.random.default_rng(seed_for(seed, 53))
    counts = np.arange(clips) % max_balls + 1
    for balls in range(1, max_balls + 1):
        n = int((counts == balls).sum())
        if n == 0:
            continue
        world = BallWorld(WorldConfig(num_balls=balls, occluder=occluder), image_size=image_size)
        generated = world.generate(n, frames + future, seed=seed_for(seed, balls, 51))
        for b in range(n):
            facts.append(clip_facts(generated, b, frames))
            videos.append(generated.frames[b, :frames])
    order = rng.permutation(clips)  # ball counts interleaved, so that the test fifth holds every count
    videos, facts = [videos[i] for i in order], [facts[i] for i in order]
    for clip, f in enumerate(facts):
        for template in range(PARAPHRASES):
            texts.append(Text(clip, "description", template, describe(captions(f, clip, template))))
            texts += questions(f, clip, template, rng)
    walls = [first_alone(f.events, "wall") for f in facts]  # a tie between two first bounces has no class
    labels = {"count": [NUMBERS[f.balls] for f in facts],
              "wall": [f"{COLOURS[e.balls[0]]} {e.wall}" if e else "" for e in walls]}
    return np.stack(videos), texts, labels


def two_rooms_clips(clips: int, frames: int, image_size: int, seed: int,
                    noise: float = 0.3) -> tuple[np.ndarray, list[Text]]:
    """Frames [N, frames, S, S, 3] of `clips` two-rooms clips and their texts (`two_rooms_texts`: a door passage or
    the room the agent stays in; which room it ends in). The agent follows the noisy expert towards a goal in the
    other room in every other clip (it passes the door when it is near enough) and in its own room otherwise."""
    from ..worlds.two_rooms import TwoRooms, move, room

    world = TwoRooms(image_size)
    rng = np.random.default_rng(seed_for(seed, 55))
    policy = world.expert(rng, noise)
    videos, texts = [], []
    for clip in range(clips):
        task = world.sample_task(rng)
        goal = task.goal if clip % 2 == 0 else world.sample_free(rng, int(room(task.start)))
        path = [np.asarray(task.start, np.float64)]
        for _ in range(frames - 1):
            path.append(move(path[-1], policy(path[-1], goal), world.layout))
        videos.append(np.stack([world.render_state(q) for q in path]))
        for template in range(PARAPHRASES):
            texts += two_rooms_texts(np.stack(path), clip, template)
    return np.stack(videos), texts


def ball_streams(streams: int, length: int, frames: int, stride: int, image_size: int, seed: int,
                 scene_frames: tuple[int, int] = (30, 60), max_balls: int = 5,
                 occluder: float = 0.5) -> tuple[np.ndarray, list[list[list[str]]], list[list[int]]]:
    """Long clips for selective decoding, each a sequence of scenes cut together like the steps of a procedural
    video: every scene a new simulation of 1 to `max_balls` balls lasting `scene_frames` (low, high) frames. Returns
    frames [S, length, S, S, 3]; for each window of `frames` frames starting every `stride` frames its description
    in every template (read off the scene that holds its middle frame, over its frames in that scene: the
    references a decoded caption of that moment is scored against); and each stream's cut frames. With
    `scene_frames` = (length, length) a stream is one continuous scene."""
    low, high = check_scene_frames(scene_frames)
    rng = np.random.default_rng(seed_for(seed, 52))
    videos, refs, cuts = [], [], []
    for s in range(streams):
        scenes, at = [], 0  # (simulation, first frame in the stream)
        while at < length:
            balls, frames_here = int(rng.integers(1, max_balls + 1)), int(rng.integers(low, high + 1))
            world = BallWorld(WorldConfig(num_balls=balls, occluder=occluder), image_size=image_size)
            scenes.append((world.generate(1, frames_here, seed=seed_for(seed, 52, s, len(scenes))), at))
            at += frames_here
        videos.append(np.concatenate([clip.frames[0] for clip, _ in scenes])[:length])
        cuts.append([f for _, f in scenes[1:]])
        windows = []
        for start in window_starts(length, frames, stride):
            scene, begin, stop = scene_window(cuts[-1], start, frames)
            clip, first = scenes[scene]
            windows.append([describe(captions(clip_facts(clip, 0, stop - begin, begin - first), 0, t))
                            for t in range(PARAPHRASES)])
        refs.append(windows)
    return np.stack(videos), refs, cuts


def check_scene_frames(scene_frames: tuple[int, int]) -> tuple[int, int]:
    low, high = scene_frames
    if not 2 <= low <= high:
        raise ValueError(f"scene_frames {tuple(scene_frames)}: want two frame counts LOW <= HIGH, LOW at least 2")
    return low, high


def scene_window(cuts: list[int], start: int, frames: int) -> tuple[int, int, int]:
    """The scene (its index) that holds the middle frame of the window [start, start + frames) of a long clip cut
    at frames `cuts` (each a scene's first frame), and the window's frames [begin, stop) in that scene."""
    scene = int(np.searchsorted(cuts, start + frames // 2, side="right"))
    edges = [0, *cuts]
    first = edges[scene]
    stop = cuts[scene] if scene < len(cuts) else start + frames
    return scene, max(start, first), min(start + frames, stop)


def windows_of(videos: np.ndarray, frames: int, stride: int) -> np.ndarray:
    """[S, L, ...] → [S · W, frames, ...]: every window of `frames` frames starting every `stride` frames."""
    starts = window_starts(videos.shape[1], frames, stride)
    return np.stack([v[s:s + frames] for v in videos for s in starts])


def user_texts(file: str | Path, frames: int, image_size: int) -> tuple[np.ndarray, list[Text], np.ndarray, int]:
    """Your own clips: a JSON-lines file, one text per line, videos relative to the file's folder:

        {"video": "clips/a.mp4", "caption": "a cup falls off the table"}
        {"video": "clips/a.mp4", "question": "what falls?", "answer": "a cup", "choices": ["a cup", "a plate"]}
        {"video": "clips/b.mp4", "caption": "...", "split": "test", "template": 3}

    A video's first `frames` frames (the last repeated if it is shorter) are its clip; "split": "test" puts a video in
    the test set (default: the last fifth of the videos); "template" numbers paraphrases (3 = held out of training,
    as the generated texts' last template). A video that cannot be read is skipped and counted, with its texts;
    a line that is not such a record stops with its line number. Returns the frames, the texts, the test flags and
    the number of skipped videos."""
    from ..data.folder import resize_square
    from ..data.video import MediaError, read_video

    file = Path(file)
    rows = []
    for number, line in enumerate(file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{file}:{number}: not JSON ({err.msg})") from None
        if not isinstance(row, dict) or "video" not in row or not ("caption" in row or {"question", "answer"} <= set(row)):
            raise ValueError(f"{file}:{number}: a line needs \"video\" and either \"caption\" or \"question\" and "
                             "\"answer\" (docs/vl-jepa.md)")
        if "question" in row and (len(set(row.get("choices", []))) < 2 or row["answer"] not in row["choices"]):
            raise ValueError(f"{file}:{number}: a question needs \"choices\", at least two, its answer among them "
                             "(multiple-choice VQA)")
        rows.append(row)
    videos, index, skipped = [], {}, 0
    for row in rows:
        name = row["video"]
        if name in index:
            continue
        try:
            clip = read_video(file.parent / name, count=frames)
        except (MediaError, FileNotFoundError):
            index[name], skipped = None, skipped + 1
            continue
        clip = np.concatenate([clip, np.repeat(clip[-1:], frames - len(clip), axis=0)]) if len(clip) < frames else clip
        index[name] = len(videos)
        videos.append(np.stack([resize_square(f, image_size) for f in clip]))
    if not videos:
        raise ValueError(f"{file}: none of its {len(index)} videos could be read")
    texts = []
    for row in rows:
        clip = index[row["video"]]
        if clip is None:
            continue
        template = int(row.get("template", 0))
        if "caption" in row:
            texts.append(Text(clip, "description", template, row["caption"]))
        else:
            texts.append(Text(clip, row.get("kind", "question"), template, row["answer"], row["question"],
                              tuple(row.get("choices", ()))))
    marked = {index[r["video"]] for r in rows if r.get("split") == "test" and index[r["video"]] is not None}
    test = np.isin(np.arange(len(videos)), sorted(marked)) if marked else last_fifth(len(videos))
    if test.all() or not any(t.clip in set(np.nonzero(test)[0]) and not t.query for t in texts):
        raise ValueError(f"{file}: needs training clips and test clips with captions: mark some videos \"split\": "
                         "\"test\", not all (default: the last fifth of the videos)")
    return np.stack(videos), texts, test, skipped


def pool_tokens(grid: Tensor, tokens: int = 32) -> Tensor:
    """Patch features [B, T', H', W', D] → [B, V, D], V ≤ `tokens`: 2 × 2 spatial cells (1 when `tokens` < 4)
    over as many time steps as fit, each the mean of its patches."""
    B, T, H, W, D = grid.shape
    side = 2 if tokens >= 4 else 1
    steps = max(1, min(T, tokens // (side * side)))
    x = grid.permute(0, 4, 1, 2, 3)  # [B, D, T, H, W]
    x = F.adaptive_avg_pool3d(x, (steps, min(side, H), min(side, W)))
    return x.flatten(2).transpose(1, 2).contiguous()


def cache_features(encoder_run: str | Path, out: str | Path, clips: int = 2000, frames: int | None = None, future: int = 8,
                   seed: int = 0, tokens: int = 32, precision: str = "bf16", device: str | None = None,
                   streams: int = 12, stream_length: int = 120, stride: int = 4,
                   scene_frames: tuple[int, int] = (30, 60),
                   captions: str | Path | None = None, world: str = "balls") -> VLData:
    """Simulate the clips of `world` (balls, or two-rooms: `two_rooms_clips`) of the encoder's clip length unless
    `frames` is given, write their texts and their frozen features to `out` (the time each took in meta)."""
    from ..device import resolve_device
    from ..eval.features import patch_features
    from ..pretrain import load_pretrained

    check_scene_frames(scene_frames)  # before any simulation
    if world not in ("balls", "two-rooms"):
        raise ValueError(f"no VL data for world {world!r}: choose balls or two-rooms")
    encoder, cfg = load_pretrained(encoder_run)
    frames = frames or cfg.data.frames
    encoder.to(resolve_device(device))
    if captions is not None:  # your own clips and texts: no generated labels or long clips
        videos, texts, test, skipped = user_texts(captions, frames, cfg.data.image_size)
        start = time.perf_counter()
        features = pool_tokens(patch_features(encoder, videos, precision=precision), tokens)
        meta = {"encoder": str(encoder_run), "captions": str(captions), "clips": len(videos), "frames": frames,
                "skipped_videos": skipped, "tokens": features.shape[1], "dim": features.shape[2],
                "simulate_seconds": 0.0, "feature_seconds": time.perf_counter() - start}
        return save_vl_data(VLData(features, texts, test, meta, {}), out)
    start = time.perf_counter()
    if world == "two-rooms":  # the agent's door passages and rooms: no class labels, no long clips
        videos, texts = two_rooms_clips(clips, frames, cfg.data.image_size, seed)
        simulated, start = time.perf_counter() - start, time.perf_counter()
        features = pool_tokens(patch_features(encoder, videos, precision=precision), tokens)
        meta = {"encoder": str(encoder_run), "world": world, "clips": clips, "frames": frames, "seed": seed,
                "image_size": cfg.data.image_size, "tokens": features.shape[1], "dim": features.shape[2],
                "simulate_seconds": simulated, "feature_seconds": time.perf_counter() - start}
        return save_vl_data(VLData(features, texts, last_fifth(clips), meta, {}), out)
    videos, texts, labels = ball_texts(clips, frames, future, cfg.data.image_size, seed)
    simulated = time.perf_counter() - start
    start = time.perf_counter()
    features = pool_tokens(patch_features(encoder, videos, precision=precision), tokens)
    encoded = time.perf_counter() - start
    long, references, cuts = ball_streams(streams, stream_length, frames, stride, cfg.data.image_size, seed,
                                          scene_frames)
    start = time.perf_counter()
    stream_features = pool_tokens(patch_features(encoder, windows_of(long, frames, stride), precision=precision), tokens)
    stream_seconds = time.perf_counter() - start
    test = last_fifth(clips)
    meta = {"encoder": str(encoder_run), "clips": clips, "frames": frames, "future": future, "seed": seed,
            "image_size": cfg.data.image_size, "tokens": features.shape[1], "dim": features.shape[2],
            "simulate_seconds": simulated, "feature_seconds": encoded, "streams": streams,
            "stream_seconds": stream_seconds, "stream_length": stream_length, "stride": stride, "fps": WorldConfig().fps,
            "scene_frames": list(scene_frames), "cuts": cuts}
    return save_vl_data(VLData(features, texts, test, meta, labels,
                               stream_features.unflatten(0, (streams, -1)), references), out)


def save_vl_data(data: VLData, out: str | Path) -> VLData:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {"features": data.features.contiguous(), "test": torch.from_numpy(data.test)}
    if data.streams is not None:
        tensors["streams"] = data.streams.contiguous()
        (out / "stream_references.json").write_text(json.dumps(data.stream_references))
    save_file(tensors, str(out / "features.safetensors"))
    with open(out / "texts.jsonl", "w") as f:
        for t in data.texts:
            f.write(json.dumps(asdict(t)) + "\n")
    (out / "meta.json").write_text(json.dumps(data.meta, indent=2))
    (out / "labels.json").write_text(json.dumps(data.labels))
    return data


def load_vl_data(folder: str | Path) -> VLData:
    folder = Path(folder)
    missing = [n for n in ("features.safetensors", "texts.jsonl", "meta.json", "labels.json")
               if not (folder / n).exists()]
    if missing:
        raise FileNotFoundError(f"{folder} is not a VL data folder ({', '.join(missing)} missing): write one with "
                                "`worldjepa vl features --encoder RUN --out FOLDER`")
    tensors = load_file(str(folder / "features.safetensors"))
    texts = []
    for line in (folder / "texts.jsonl").read_text().splitlines():
        row = json.loads(line)
        texts.append(Text(**{**row, "choices": tuple(row.get("choices", ()))}))
    refs = folder / "stream_references.json"
    return VLData(tensors["features"], texts, tensors["test"].numpy().astype(bool),
                  json.loads((folder / "meta.json").read_text()), json.loads((folder / "labels.json").read_text()),
                  tensors.get("streams"), json.loads(refs.read_text()) if refs.exists() else None)

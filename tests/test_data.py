import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from worldjepa import config
from worldjepa.data.folder import FolderBatches, list_media, load_image
from worldjepa.data.video import MediaError, read_video, write_video
from worldjepa.pretrain import pretrain
from worldjepa.worlds.balls import BallWorld
from worldjepa.worlds.export import export_world


def test_video_roundtrip(tmp_path):
    frames = BallWorld().generate(1, 10, seed=0).frames[0]
    write_video(tmp_path / "a.mp4", frames)
    back = read_video(tmp_path / "a.mp4")
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames.astype(int)).mean() < 3.0  # near-lossless
    window = read_video(tmp_path / "a.mp4", start=2, count=3, step=2)
    assert np.array_equal(window, back[2:8:2])


def test_export_reads_back_with_ground_truth(tmp_path):
    export_world(tmp_path, clips=3, frames=6, seed=1, progress=False)
    videos, images = list_media(tmp_path)
    assert len(videos) == 3 and not images
    truth = np.load(tmp_path / "ground_truth.npz")
    assert truth["positions"].shape == (3, 6, 3, 2)


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no media here")
    with pytest.raises(MediaError, match=r"no images or videos found .*expected suffixes"):
        list_media(tmp_path)
    cfg = config.load("tiny-cpu", ["data.source=folder", f"data.path={tmp_path}"])
    with pytest.raises(MediaError):
        pretrain(cfg, tmp_path / "run", progress=False)


def _folder_with_bad_files(root):
    export_world(root, clips=4, frames=8, seed=2, progress=False)
    good = (root / "clip_00000.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(good[: len(good) // 3])
    (root / "zero.mp4").write_bytes(b"")
    (root / "garbage.mp4").write_bytes(b"\x00\x01not a video" * 100)


def test_corrupt_videos_are_skipped_and_counted(tmp_path, small_overrides):
    _folder_with_bad_files(tmp_path / "data")
    cfg = config.load("tiny-cpu", small_overrides + [
        "data.source=folder", f"data.path={tmp_path / 'data'}", "data.frames=4", "train.steps=6",
        "data.batch_size=6"])
    with pytest.warns(UserWarning, match="skipping unreadable file"):
        summary = pretrain(cfg, tmp_path / "run", progress=False)
    assert summary["steps"] == 6
    assert 1 <= summary["skipped_files"] <= 3  # at most the three bad files, each counted once


def test_truncated_and_garbage_videos_raise_media_error(tmp_path):
    _folder_with_bad_files(tmp_path)
    for name in ("zero.mp4", "garbage.mp4", "truncated.mp4"):
        with pytest.raises(MediaError, match=name):
            read_video(tmp_path / name)


def test_all_files_bad_is_an_error(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"junk")
    (tmp_path / "b.png").write_bytes(b"junk")
    batches = FolderBatches(config.load("tiny-cpu", ["data.source=folder", f"data.path={tmp_path}"]).data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(MediaError, match="failed to decode"):
            batches.batch(0)


def test_images_resize_and_odd_modes(tmp_path):
    Image.fromarray(np.random.randint(0, 255, (40, 90, 3), np.uint8)).save(tmp_path / "wide.png")
    Image.fromarray(np.random.randint(0, 255, (30, 30), np.uint8), "L").save(tmp_path / "gray.png")
    Image.fromarray(np.random.randint(0, 65535, (20, 20), np.uint16)).save(tmp_path / "deep.png")
    for name in ("wide.png", "gray.png", "deep.png"):
        img = load_image(tmp_path / name, 32)
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    batch = FolderBatches(config.load("tiny-cpu", ["data.source=folder", f"data.path={tmp_path}",
                                                   "data.image_size=32", "data.batch_size=3"]).data).batch(0)
    assert batch.video is None and batch.image.shape == (3, 3, 32, 32)  # image-only folder → stills
    assert torch.isfinite(batch.image).all()


def test_skipped_files_are_counted_across_worker_processes(tmp_path, small_overrides):
    _folder_with_bad_files(tmp_path / "data")
    cfg = config.load("tiny-cpu", small_overrides + [
        "data.source=folder", f"data.path={tmp_path / 'data'}", "data.frames=4", "train.steps=6",
        "data.batch_size=6", "data.workers=2"])
    summary = pretrain(cfg, tmp_path / "run", progress=False)
    assert 1 <= summary["skipped_files"] <= 3

"""Video data at scale (data/shards.py, data/folder.py): a CSV manifest, shards written once and read back as
the frames the folder reader would give, a broken shard member skipped and counted, training from shards."""

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from worldjepa.cli import main
from worldjepa.config import DataConfig
from worldjepa.data.batches import Share
from worldjepa.data.folder import list_media, resize_square
from worldjepa.data.shards import ShardBatches, index_shards, write_shards
from worldjepa.data.video import read_video, write_video


@pytest.fixture
def corpus(tmp_path):
    """Two videos whose frames differ by their index (brightness, position of a bar), a still, and a manifest
    that names them with labels, plus one file that does not exist."""
    rng = np.random.default_rng(0)
    for name, length in (("a.mp4", 20), ("b.mp4", 13)):
        frames = np.zeros((length, 48, 64, 3), np.uint8)
        for t in range(length):
            frames[t] = 10 * t
            frames[t, :, 2 * t:2 * t + 4] = 255
        write_video(tmp_path / name, frames)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "c.png")
    (tmp_path / "list.csv").write_text("path,label\na.mp4,walk\nb.mp4,run\nc.png,still\nmissing.mp4,none\n")
    return tmp_path


def test_manifest_lists_its_files_and_counts_the_missing(corpus):
    with pytest.warns(UserWarning, match="1 of the 4 files .* do not exist"):
        videos, images = list_media(corpus / "list.csv")
    assert [p.name for p in videos] == ["a.mp4", "b.mp4"] and [p.name for p in images] == ["c.png"]


def test_shards_give_the_frames_the_folder_reader_gives(corpus):
    with pytest.warns(UserWarning, match="do not exist"):
        summary = write_shards(corpus / "list.csv", corpus / "shards", size=32, stride=2, progress=False)
    assert summary["samples"] == 3 and summary["frames"] == 10 + 7 + 1 and summary["skipped"] == 0
    videos, images, broken = index_shards(corpus / "shards")
    assert [v.frames for v in videos] == [10, 7] and [v.label for v in videos] == ["walk", "run"] and not broken
    assert len(tarfile.open(corpus / "shards" / "shard-000000.tar").getnames()) == 4  # KEY.npy + KEY.json each
    assert len(tarfile.open(corpus / "shards" / "stills-000000.tar").getnames()) == 2  # stills in their own shards
    reference = {len(r): r for r in (np.stack([resize_square(f, 32) for f in read_video(corpus / name, step=2)])
                                     for name in ("a.mp4", "b.mp4"))}
    source = ShardBatches(DataConfig(source="shards", path=str(corpus / "shards"), image_size=32, frames=3,
                                     frame_step=2, batch_size=8))
    clips = (source.batch(0).video.movedim(-3, -1).numpy() * [0.229, 0.224, 0.225] + [0.485, 0.456, 0.406]) * 255
    for clip in clips:  # every clip is 3 kept frames 2 apart (of every 2nd video frame) of one of the videos
        ok = [np.abs(ref[s:s + 5:2] - clip).max() < 1 for ref in reference.values() for s in range(len(ref) - 4)]
        assert any(ok)
    assert source.batch(0).video.shape == (8, 3, 3, 32, 32)
    halves = [source.batch_part(0, 0, Share(i, 2)).video for i in range(2)]  # each rank reads only its own rows
    assert np.array_equal(np.concatenate(halves), source.batch(0).video.numpy())


def test_a_broken_member_is_skipped_and_counted(corpus):
    write_shards(corpus / "a.mp4", corpus / "shards", size=32, progress=False)
    with tarfile.open(corpus / "shards" / "shard-000001.tar", "w") as tar:
        for name, data in (("x.npy", b"\x93NUMPY garbage"), ("y.npy", _npy(np.zeros((50, 32, 32, 3), np.uint8))[:500])):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.warns(UserWarning, match="2 unreadable shard members skipped"):
        source = ShardBatches(DataConfig(source="shards", path=str(corpus / "shards"), image_size=32, frames=4,
                                         batch_size=2))
    batch = source.batch(3)
    assert batch.video.shape == (2, 4, 3, 32, 32) and len(batch.skipped) == 2


def test_pretraining_reads_shards(corpus, small_overrides, capsys):
    assert main(["shard", str(corpus / "a.mp4"), "--out", str(corpus / "s"), "--size", "32", "--quiet"]) == 0
    assert main(["pretrain", "--out", str(corpus / "run"), "--quiet", *small_overrides, "train.steps=2",
                 "data.source=shards", f"data.path={corpus / 's'}"]) == 0
    assert main(["shard", str(corpus / "a.mp4"), "--out", str(corpus / "s"), "--quiet"]) == 2  # not over old ones
    assert "already holds shards" in capsys.readouterr().err
    assert main(["pretrain", "--out", str(corpus / "run2"), "--quiet", *small_overrides, "train.steps=2",
                 "data.source=shards", f"data.path={corpus / 's'}", "data.image_size=64"]) == 2
    assert "hold [32] px frames but data.image_size=64" in capsys.readouterr().err


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_a_seek_reads_the_frames_a_full_decode_reads(tmp_path):
    """read_video jumps to the keyframe before a late start; the frames are those of decoding from frame 0."""
    import av

    path = tmp_path / "k.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv444p"
        stream.options = {"g": "5", "crf": "10"}
        for t in range(40):
            frame = np.full((32, 32, 3), 6 * t, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    every = read_video(path)
    assert len(every) == 40
    for start, count, step in ((13, 3, 2), (25, 4, 3), (39, 2, 1), (5, 5, 1)):
        np.testing.assert_array_equal(read_video(path, start=start, count=count, step=step),
                                      every[start:start + count * step:step])


def test_a_folder_cache_is_written_once_and_rebuilt_when_a_file_changes(corpus):
    from worldjepa.config import DataConfig
    from worldjepa.data.shards import cached_shards

    cfg = DataConfig(source="folder", path=str(corpus / "list.csv"), image_size=32, cache=str(corpus / "cache"))
    with pytest.warns(UserWarning, match="do not exist"):
        shards = cached_shards(cfg, progress=False)
    assert shards.source == "shards" and len(index_shards(shards.path)[0]) == 2
    written = (corpus / "cache" / "shard-000000.tar").stat().st_mtime_ns
    with pytest.warns(UserWarning, match="do not exist"):
        cached_shards(cfg, progress=False)
    assert (corpus / "cache" / "shard-000000.tar").stat().st_mtime_ns == written  # reused
    write_video(corpus / "b.mp4", np.zeros((5, 48, 64, 3), np.uint8))  # a file changes: decoded again
    with pytest.warns(UserWarning, match="do not exist"):
        cached_shards(cfg, progress=False)
    assert [v.frames for v in index_shards(corpus / "cache")[0]] == [20, 5]


def test_random_resized_crop_boxes_and_resampling():
    import torch

    from worldjepa.data.batches import apply_boxes, crop_boxes

    rng = np.random.default_rng(0)
    assert crop_boxes(4, 32, 32, (1.0, 1.0), (0.75, 1.35), rng) is None
    boxes = crop_boxes(500, 64, 48, (0.3, 1.0), (0.75, 1.35), rng)
    for i, j, h, w in boxes:  # inside the frame, area and aspect within the ranges (up to rounding)
        assert 0 <= i and i + h <= 64 and 0 <= j and j + w <= 48
        assert 0.3 * 64 * 48 * 0.9 <= h * w <= 64 * 48 and 0.75 * 0.85 <= w / h <= 1.35 * 1.15
    columns = torch.arange(32.0).expand(2, 3, 3, 32, 32).clone()  # [B, T, C, H, W], value = column index
    out = apply_boxes(columns, [(4, 8, 16, 16), (0, 0, 32, 32)])
    u = torch.arange(32.0)
    expected = ((u + 0.5) * 16 / 32 - 0.5).clamp(0, 15) + 8  # bilinear, align_corners=False, inside the box
    assert torch.allclose(out[0, 1, 2, 5], expected, atol=1e-5) and torch.equal(out[1], columns[1])


def test_cropped_shard_batches_split_over_ranks_alike(corpus):
    write_shards(corpus / "a.mp4", corpus / "shards", size=32, progress=False)
    source = ShardBatches(DataConfig(source="shards", path=str(corpus / "shards"), image_size=32, frames=2,
                                     batch_size=4, crop_scale=(0.3, 1.0)))
    whole = source.batch(1).video
    assert np.array_equal(np.concatenate([source.batch_part(1, 0, Share(i, 2)).video for i in range(2)]), whole.numpy())
    plain = ShardBatches(DataConfig(source="shards", path=str(corpus / "shards"), image_size=32, frames=2,
                                    batch_size=4)).batch(1).video
    assert not np.allclose(plain.numpy(), whole.numpy())  # the crop changed the frames

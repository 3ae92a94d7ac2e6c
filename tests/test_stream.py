"""Streaming shards (data/stream.py): addresses expanded, shards read front to back over http, a `pipe:` command
or files; every sample of a process's shards reaches its batches once an epoch; two processes read disjoint
shards; a resumed reader gives the batches an uninterrupted one gives; a broken member is skipped and counted."""

import functools
import http.server
import io
import json
import tarfile
import threading

import numpy as np
import pytest

from worldjepa.config import DataConfig
from worldjepa.data.batches import Share
from worldjepa.data.stream import StreamBatches, expand, shard_samples
from worldjepa.data.video import MediaError

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def make_shards(folder, frames: int = 1, size: int = 8, stills: int = 0):
    """6 shards of 4 videos each, video v's frames filled with the value v (0..23); and `stills` still shards of
    4 images each, image i filled with 100 + i."""
    folder.mkdir()
    for prefix, count, kind, base in (("shard", 6, "video", 0), ("stills", stills, "image", 100)):
        for s in range(count):
            with tarfile.open(folder / f"{prefix}-{s:06d}.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
                for j in range(4):
                    v = base + 4 * s + j
                    add(tar, f"{v:08d}.npy", npy(np.full((frames if kind == "video" else 1, size, size, 3), v, np.uint8)))
                    add(tar, f"{v:08d}.json", json.dumps({"kind": kind}).encode())
    return folder


@pytest.fixture
def shards(tmp_path):
    return make_shards(tmp_path / "shards")


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def values(batch, field: str = "video") -> list[int]:
    """The sample each clip (or still) of a batch came from (its constant pixel value)."""
    x = getattr(batch, field)
    pixels = x.reshape(x.shape[0], -1)[:, 0].numpy() * STD[0] + MEAN[0]
    return [int(round(p * 255)) for p in pixels]


def config(path, **kw) -> DataConfig:
    return DataConfig(**{"source": "stream", "path": str(path), "image_size": 8, "frames": 1, "batch_size": 4,
                         "shuffle_buffer": 4, **kw})


def test_addresses_expand_like_webdataset(shards, tmp_path):
    assert expand("https://h/s-{08..11}.tar") == [f"https://h/s-{i:02d}.tar" for i in range(8, 12)]
    assert expand("pipe:cat a-{0..1}-{5..6}.tar") == ["pipe:cat a-0-5.tar", "pipe:cat a-0-6.tar", "pipe:cat a-1-5.tar",
                                                      "pipe:cat a-1-6.tar"]
    assert len(expand(str(shards))) == 6
    listing = tmp_path / "list.txt"
    listing.write_text("# the corpus\nhttps://h/a.tar\n\nhttps://h/b.tar\n")
    assert expand(str(listing)) == ["https://h/a.tar", "https://h/b.tar"]


def test_each_sample_once_an_epoch_disjoint_processes_and_exact_resume(shards):
    """Two processes × 1 lane: 6 shards, 3 each, 12 samples each an epoch = 6 batches of 2 (a buffer of 2, so
    that no sample of the next epoch comes in early); in an epoch every video reaches exactly one process, once.
    A reader started at step 7 gives what one that ran from 0 gives."""
    cfg = config(f"pipe:cat {shards}/shard-{{000000..000005}}.tar", shuffle_buffer=2)
    readers = [StreamBatches(cfg, seed=3) for _ in range(2)]
    batches = [[values(readers[r].batch_part(s, 0, Share(r, 2))) for s in range(12)] for r in range(2)]
    for epoch in (slice(0, 6), slice(6, 12)):  # shards shuffled and dealt again each epoch
        seen = [sum(batches[r][epoch], []) for r in range(2)]
        assert sorted(seen[0] + seen[1]) == list(range(24))
        assert {v // 4 for v in seen[0]}.isdisjoint({v // 4 for v in seen[1]})  # whole shards per process
    assert batches[0][:6] != batches[0][6:]
    resumed = StreamBatches(cfg, seed=3)
    assert [values(resumed.batch_part(s, 0, Share(0, 2))) for s in range(7, 12)] == batches[0][7:]


def test_stills_come_from_their_own_shards_and_split_processes_open_only_theirs(tmp_path):
    """A corpus of 6 clip shards and 2 still shards listed in a .txt: a mixed batch draws each kind from its own
    shards; under V-JEPA 2.1's split the still process reads only still shards and the clip process only clip
    shards. A batch that needs stills from a corpus without still shards says so before reading."""
    folder = make_shards(tmp_path / "s", stills=2)
    listing = tmp_path / "corpus.txt"
    listing.write_text(f"pipe:cat {folder}/shard-{{000000..000005}}.tar\n{folder}/stills-{{000000..000001}}.tar\n")
    mixed = StreamBatches(config(listing, batch_size=4, image_fraction=0.5, shuffle_buffer=2), seed=0)
    batches = [mixed.batch(s) for s in range(4)]
    assert sorted(sum((values(b, "image") for b in batches), [])) == list(range(100, 108))
    assert set(sum((values(b) for b in batches), [])) <= set(range(24))
    split = [StreamBatches(config(listing, batch_size=4, image_fraction=0.5), seed=0) for _ in range(2)]
    still, clip = (split[r].batch_part(0, 0, Share(r, 2, still_ranks=1)) for r in range(2))
    assert still.video is None and set(values(still, "image")) <= set(range(100, 108)) and len(still.image) == 2
    assert clip.image is None and len(clip.video) == 2
    with pytest.raises(MediaError, match="names no still shards"):
        StreamBatches(config(f"{folder}/shard-{{000000..000005}}.tar", image_fraction=0.5))


def test_http_stream_and_a_broken_member_counted(shards):
    with tarfile.open(shards / "shard-000002.tar", "a") as tar:  # a member that is not a frame array
        add(tar, "99999999.npy", b"not an array")
        add(tar, "99999999.json", b'{"kind": "video"}')
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(shards))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/shard-{{000000..000005}}.tar"
        reader = StreamBatches(config(url, batch_size=6), seed=0)
        with pytest.warns(UserWarning, match="1 unreadable streamed shard members"):
            got = sum((values(reader.batch(s)) for s in range(4)), [])
        assert sorted(got) == list(range(24)) and len(reader.broken) == 1
        assert reader.batch(3).skipped == tuple(reader.broken) and len(reader.broken) == 1  # counted once, read twice
    finally:
        server.shutdown()
    broken = []
    assert list(shard_samples(str(shards / "missing.tar"), broken)) == [] and "missing.tar" in broken[0]


def test_pretraining_streams_with_two_loader_workers(tmp_path, small_overrides):
    from worldjepa.cli import main

    make_shards(tmp_path / "s", frames=6, size=32)
    run = tmp_path / "run"
    assert main(["pretrain", "--config", "tiny-cpu", "--quiet", "--out", str(run), *small_overrides, "train.steps=3",
                 "data.source=stream", f"data.path=pipe:cat {tmp_path}/s/shard-{{000000..000005}}.tar",
                 "data.workers=2", "data.shuffle_buffer=4", "data.image_fraction=0"]) == 0
    assert (run / "checkpoint.safetensors").exists()

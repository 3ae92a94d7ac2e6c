"""LeRobotDataset v3.0 in and out (data/lerobot.py): `worldjepa export --format lerobot` writes the layout
lerobot's own reader expects (paths, info.json, the episode table, AV1 video of several episodes per file), the
episode store reads it back in place (actions, proprioception and states exactly; frames exactly with
--lossless, within AV1's 4:2:0 loss without), `train-wm` trains on it, and bad folders fail clearly or are
skipped and counted."""

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from worldjepa.cli import main
from worldjepa.data.episodes import EpisodeStore


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lerobot") / "store"
    assert main(["collect", "--world", "two-rooms", "--episodes", "3", "--steps", "12", "--image-size", "32",
                 "--out", str(folder)]) == 0
    return EpisodeStore(folder)


def psnr(a, b):
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return 10 * np.log10(255 ** 2 / mse) if mse else np.inf


def test_export_and_import_round_trip_actions_states_exactly_and_frames_exactly_when_lossless(store, tmp_path, capsys):
    for lossless in (True, False):
        out = tmp_path / f"ds-{lossless}"
        assert main(["export", str(store.folder), "--out", str(out), "--fps", "12",
                     *(["--lossless"] if lossless else [])]) == 0
        assert "wrote 3 episodes (36 steps)" in capsys.readouterr().out
        back = EpisodeStore(out, image_size=32)
        assert len(back) == 3 and back.meta.action_dim == 2 and back.meta.proprio_dim == store.meta.proprio_dim
        for ours, theirs in zip(store.episodes, back.episodes):
            assert np.array_equal(ours["action"], theirs["action"])
            assert np.array_equal(ours["proprio"], theirs["proprio"])
            assert np.array_equal(np.asarray(ours["state"], np.float32), theirs["state"])
            if lossless:
                assert np.array_equal(ours["obs"], theirs["obs"])
            else:  # AV1 in 4:2:0: the chroma of two-rooms' sharp coloured edges is what is lost (docs/episodes.md)
                assert psnr(ours["obs"], theirs["obs"]) > 33
        assert np.allclose(back.meta.action_low, np.concatenate([e["action"] for e in store.episodes]).min(0))

    # the layout lerobot reads: paths, info.json, the episode table, several episodes in one AV1 file
    out = tmp_path / "ds-False"
    info = json.loads((out / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == 3 and info["total_frames"] == 39
    assert info["features"]["observation.image"]["info"]["video.codec"] == "av1"
    assert info["features"]["action"] == {"dtype": "float32", "shape": [2], "names": ["action_0", "action_1"]}
    assert info["features"]["episode_index"] == {"dtype": "int64", "shape": [1], "names": None}
    table = pq.read_table(out / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [r["videos/observation.image/from_timestamp"] for r in table] == [0.0, 13 / 12, 26 / 12]
    assert [(r["dataset_from_index"], r["dataset_to_index"], r["length"]) for r in table] == [(0, 13, 13), (13, 26, 13),
                                                                                            (26, 39, 13)]
    data = pq.read_table(out / "data/chunk-000/file-000.parquet")
    assert pa.types.is_fixed_size_list(data.schema.field("action").type)
    assert data.column("index").to_pylist() == list(range(39))
    assert (data.column("timestamp").to_numpy()[:13] * 12).round(4).tolist() == list(range(13))
    tasks = pq.read_table(out / "meta/tasks.parquet")
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]
    import av

    with av.open(str(out / "videos/observation.image/chunk-000/file-000.mp4")) as video:
        assert video.streams.video[0].codec_context.name in ("libdav1d", "av1", "libaom-av1")
        assert sum(1 for _ in video.decode(video=0)) == 39


def test_train_wm_reads_a_lerobot_folder_in_place(store, tmp_path, small_wm_overrides, capsys):
    out = tmp_path / "ds"
    assert main(["export", str(store.folder), "--out", str(out), "--lossless"]) == 0
    capsys.readouterr()
    assert main(["train-wm", "--data", str(out), "--out", str(tmp_path / "wm"), "--quiet", *small_wm_overrides,
                 "train.steps=2", "data.batch_size=4", "data.frameskip=1"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["episodes"] == 3
    assert not list(out.rglob("*.npz"))  # read in place, never copied


def test_bad_lerobot_folders_fail_clearly_or_skip_and_count(store, tmp_path):
    good = tmp_path / "good"
    assert main(["export", str(store.folder), "--out", str(good), "--lossless"]) == 0
    assert main(["export", str(store.folder), "--out", str(good)]) == 2  # never written over

    # the episode table says episode 1 is longer than its data rows: that episode is skipped and counted
    wrong = tmp_path / "wrong"
    shutil.copytree(good, wrong)
    path = wrong / "meta/episodes/chunk-000/file-000.parquet"
    rows = pq.read_table(path).to_pylist()
    rows[1]["length"] = 20
    pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.warns(UserWarning, match="episode 1 .* data rows \\(13\\) disagree with its length .* \\(20\\)"):
        back = EpisodeStore(wrong, image_size=32)
    assert len(back) == 2 and back.skipped == ["episode 1"]

    # the video file is missing: every episode in it is skipped, and with none left it is an error
    missing = tmp_path / "missing"
    shutil.copytree(good, missing)
    (missing / "videos/observation.image/chunk-000/file-000.mp4").unlink()
    with pytest.warns(UserWarning, match="video file .* is missing"), \
            pytest.raises(ValueError, match="no readable episodes in the LeRobot dataset"):
        EpisodeStore(missing, image_size=32)

    # an older layout, and a dataset without the actions a world model needs
    info = json.loads((good / "meta/info.json").read_text())
    for change, message in (({"codebase_version": "v2.1"}, "LeRobot v2.1 dataset; worldjepa reads v3.0"),
                            ({"features": {k: v for k, v in info["features"].items() if k != "action"}},
                             "no 'action' feature")):
        odd = tmp_path / f"odd-{len(message)}"
        shutil.copytree(good, odd)
        (odd / "meta/info.json").write_text(json.dumps({**info, **change}))
        with pytest.raises(ValueError, match=message):
            EpisodeStore(odd, image_size=32)

"""The episode store: format round trip, windows with action chunking, bad files."""

import json

import numpy as np
import pytest

from worldjepa.config import DataConfig
from worldjepa.data.batches import to_tensor
from worldjepa.data.episodes import EpisodeBatches, EpisodeClips, EpisodeStore, StoreMeta, write_episode, write_meta
from worldjepa.worlds.collect import collect
from worldjepa.worlds.two_rooms import TwoRooms


def _store(folder, lengths=(12, 9), size=16, A=2, P=3):
    write_meta(folder, StoreMeta("mine", size, A, [-1.0] * A, [1.0] * A, P))
    rng = np.random.default_rng(0)
    eps = []
    for i, T in enumerate(lengths):
        obs = rng.integers(0, 255, (T + 1, size, size, 3), dtype=np.uint8)
        act = rng.uniform(-1, 1, (T, A)).astype(np.float32)
        prop = rng.normal(size=(T + 1, P)).astype(np.float32)
        write_episode(folder, i, obs, act, prop)
        eps.append((obs, act, prop))
    return eps


def test_windows_chunk_the_actions_between_kept_frames(tmp_path):
    eps = _store(tmp_path)
    store = EpisodeStore(tmp_path)
    assert len(store) == 2 and store.steps == 21
    w = store.window(0, 2, length=3, frameskip=4)
    obs, act, prop = eps[0]
    np.testing.assert_array_equal(w["obs"], obs[[2, 6, 10]])
    np.testing.assert_array_equal(w["action"][0], act[2:6].reshape(-1))  # 4 primitive actions → one chunk of 8
    np.testing.assert_array_equal(w["action"][1], act[6:10].reshape(-1))
    np.testing.assert_array_equal(w["proprio"], prop[[2, 6, 10]])
    index = store.window_index(3, 4)  # span 8: starts 0..4 in the 12-step episode, 0..1 in the 9-step one
    assert sorted(map(tuple, index.tolist())) == [(0, s) for s in range(5)] + [(1, 0), (1, 1)]
    batch = EpisodeBatches(store, 3, 4, batch_size=5, seed=1).batch(7)
    assert batch.video.shape == (5, 3, 3, 16, 16) and batch.actions.shape == (5, 2, 8) and batch.proprio.shape == (5, 3, 3)
    again = EpisodeBatches(store, 3, 4, batch_size=5, seed=1).batch(7)
    assert (batch.actions == again.actions).all()  # a pure function of the step


def test_pretraining_clips_are_runs_of_a_stores_frames(tmp_path):
    """`data.source=episodes`: every clip is `frames` observations `frame_step` apart inside one episode."""
    eps = _store(tmp_path, lengths=(12, 9))
    cfg = DataConfig(source="episodes", path=str(tmp_path), image_size=16, frames=3, frame_step=2, batch_size=8,
                     image_fraction=0.25)
    source = EpisodeClips(cfg, seed=4)
    assert (source.num_videos, source.num_images) == (6, 2)
    batch = source.batch(5)
    runs = [to_tensor(obs[s:s + 5:2]) for obs, _, _ in eps for s in range(len(obs) - 4)]
    stills = [to_tensor(obs[t]) for obs, _, _ in eps for t in range(len(obs))]
    for clip in batch.video:
        assert sum(bool(clip.equal(r)) for r in runs) == 1
    for still in batch.image:
        assert any(still.equal(s) for s in stills)
    assert EpisodeClips(cfg, seed=4).batch(5).video.equal(batch.video)  # a pure function of the step
    assert not source.batch(6).video.equal(batch.video)
    with pytest.raises(ValueError, match="set data.image_size=16"):
        EpisodeClips(DataConfig(source="episodes", path=str(tmp_path), image_size=32), seed=0)


def test_corrupt_episode_is_skipped_and_counted(tmp_path):
    _store(tmp_path, lengths=(6, 6, 6))
    (tmp_path / "episodes" / "000001.npz").write_bytes(b"\x00garbage")
    with pytest.warns(UserWarning, match="1 of 3 episode files"):
        store = EpisodeStore(tmp_path)
    assert len(store) == 2 and store.skipped == ["000001.npz"]
    batch = EpisodeBatches(store, 2, 1, 2).batch(0)
    assert batch.skipped == ("000001.npz",)


def test_bad_stores_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        EpisodeStore(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="no meta.json"):
        EpisodeStore(tmp_path)
    _store(tmp_path, lengths=(3,))
    with pytest.raises(ValueError, match="no episode is long enough"):
        EpisodeStore(tmp_path).window_index(5, 2)
    meta = json.loads((tmp_path / "meta.json").read_text())
    meta["image_size"] = 32
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no readable episodes"):
        EpisodeStore(tmp_path)  # every episode has the wrong frame size
    with pytest.raises(ValueError, match=r"action must be \[T, A\]"):
        write_episode(tmp_path, 9, np.zeros((4, 8, 8, 3), np.uint8), np.zeros((4, 2)))


def test_collect_writes_a_store_that_replays(tmp_path):
    world = TwoRooms(image_size=32)
    collect(world, "two-rooms", tmp_path, episodes=3, steps=10, progress=False)
    store = EpisodeStore(tmp_path)
    assert store.meta.world == "two-rooms" and store.meta.action_dim == 2 and len(store) == 3
    ep = store.episodes[0]
    # replaying the stored actions from the stored start state reproduces the stored observations
    obs, _ = world.reset(options={"state": ep["state"][0]})
    np.testing.assert_array_equal(obs, ep["obs"][0])
    for t, a in enumerate(ep["action"]):
        obs, *_ = world.step(a)
        np.testing.assert_array_equal(obs, ep["obs"][t + 1])


def _arrays(folder):
    return {p.name: dict(np.load(p)) for p in sorted((folder / "episodes").glob("*.npz"))}


def test_collect_in_processes_and_resumed_writes_the_same_store(tmp_path):
    world = TwoRooms(image_size=32)
    collect(world, "two-rooms", tmp_path / "one", episodes=6, steps=8, progress=False)
    collect(world, "two-rooms", tmp_path / "two", episodes=6, steps=8, progress=False, workers=2)
    serial, parallel = _arrays(tmp_path / "one"), _arrays(tmp_path / "two")
    assert sorted(serial) == [f"{i:06d}.npz" for i in range(6)] == sorted(parallel)
    for name, arrays in serial.items():
        assert arrays.keys() == parallel[name].keys()
        for key, value in arrays.items():
            np.testing.assert_array_equal(value, parallel[name][key], err_msg=f"{name} {key}")
    # an interrupted collection (episodes 1 and 4 missing, a half-written temporary left) resumes to the same
    # store, and the episodes it kept are not written again
    (tmp_path / "one" / "episodes" / "000001.npz").unlink()
    (tmp_path / "one" / "episodes" / "000004.npz").rename(tmp_path / "one" / "episodes" / "000004.tmp.npz")
    kept = (tmp_path / "one" / "episodes" / "000002.npz").stat().st_mtime_ns
    collect(world, "two-rooms", tmp_path / "one", episodes=6, steps=8, progress=False)
    assert (tmp_path / "one" / "episodes" / "000002.npz").stat().st_mtime_ns == kept
    resumed = _arrays(tmp_path / "one")
    assert sorted(resumed) == sorted(serial)
    for key, value in serial["000004.npz"].items():
        np.testing.assert_array_equal(value, resumed["000004.npz"][key])


def test_collect_will_not_mix_two_collections(tmp_path):
    world = TwoRooms(image_size=32)
    collect(world, "two-rooms", tmp_path, episodes=2, steps=8, progress=False)
    with pytest.raises(ValueError, match=r"another collection \(seed: 0 there, 1 asked\).*another folder"):
        collect(world, "two-rooms", tmp_path, episodes=2, steps=8, seed=1, progress=False)
    with pytest.raises(ValueError, match="--workers must be at least 1"):
        collect(world, "two-rooms", tmp_path / "new", episodes=2, workers=0, progress=False)

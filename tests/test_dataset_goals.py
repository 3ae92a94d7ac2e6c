"""Goals from recorded episodes (planning/goals.py) and worlds whose state cannot be set: a Gymnasium
environment that hides its state and gives no success signal collects, trains and plans to dataset goals,
success not judged and said so in one line; with a success signal, success is the environment's."""

import json

import gymnasium as gym
import numpy as np
import pytest

from worldjepa.cli import main
from worldjepa.data.episodes import EpisodeStore
from worldjepa.planning.goals import dataset_tasks
from worldjepa.worlds import make_world


class HiddenDot(gym.Env):
    """A dot pushed around a 32 px image; its position is private (no `state`, no `set_state`), the start is
    drawn from the reset seed. With `signal`, info["is_success"] says whether the dot is in the centre."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, render_mode=None, signal=False):
        self.render_mode, self.signal = render_mode, signal
        self.observation_space = gym.spaces.Box(0, 255, (32, 32, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def _picture(self):
        image = np.zeros((32, 32, 3), np.uint8)
        x, y = np.clip((self._where * 31).round().astype(int), 0, 31)
        image[max(0, y - 2):y + 3, max(0, x - 2):x + 3] = (250, 200, 40)
        return image

    def _info(self):
        return {"is_success": bool(np.abs(self._where - 0.5).max() < 0.1)} if self.signal else {}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._where = self.np_random.uniform(0.1, 0.9, 2)
        return self._picture(), self._info()

    def step(self, action):
        self._where = np.clip(self._where + 0.05 * np.asarray(action, np.float64), 0.0, 1.0)
        return self._picture(), 0.0, False, False, self._info()


gym.register("HiddenDot-v0", entry_point=HiddenDot)
gym.register("HiddenDotSignal-v0", entry_point=HiddenDot, kwargs={"signal": True})

TINY = ["image_size=32", "data.window=3", "data.frameskip=1", "data.batch_size=8", "model.depth=1", "model.width=32",
        "model.heads=2", "model.patch_size=8", "model.token_dim=4", "model.projector_hidden=32", "model.latent_dim=16",
        "model.predictor_depth=1", "model.predictor_width=32", "model.predictor_heads=2", "train.steps=2",
        "train.log_every=1", "train.precision=fp32", "optim.warmup_steps=1"]
PLAN = ["samples=8", "iterations=2", "elites=2", "horizon=2", "budget=6"]


@pytest.mark.parametrize("env,judged", [("HiddenDot-v0", False), ("HiddenDotSignal-v0", True)])
def test_a_world_without_settable_state_collects_trains_and_plans_to_dataset_goals(env, judged, tmp_path, capsys):
    world = make_world(f"gym:{env}", image_size=32)
    assert not world.settable
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["collect", "--world", f"gym:{env}", "--episodes", "4", "--steps", "12", "--image-size", "32",
                 "--out", str(data)]) == 0
    store = EpisodeStore(data)
    assert all("seed" in e for e in store.episodes)  # the reset seeds, which give the starts again
    assert main(["train-wm", "--data", str(data), "--out", str(run), "--quiet", f"world=gym:{env}", *TINY]) == 0
    capsys.readouterr()

    # without recorded goals a state-less world has none: one line that says what to do
    assert main(["plan", "--checkpoint", str(run), "--episodes", "1", "--record", "0", "--quiet", *PLAN]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--goals STORE" in err[0]

    assert main(["plan", "--checkpoint", str(run), "--goals", str(data), "--goal-offset", "5", "--episodes", "2",
                 "--record", "1", "--quiet", "--out", str(tmp_path / "plan"), *PLAN]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "plan" / "results.json").read_text())
    assert summary["goal_offset"] == 5 and summary["episodes"] == 2
    if judged:
        assert summary["success_rate"] is not None and "not_judged" not in summary
    else:
        assert summary["success_rate"] is None and "success not judged" in out
        assert "neither a settable state nor a success signal" in out
    assert 0 <= summary["final_distance_mean"] <= 1  # RMS pixel distance, in units of the full range


def test_dataset_tasks_start_from_the_recorded_seed_and_aim_at_the_recorded_frame(tmp_path):
    data = tmp_path / "data"
    assert main(["collect", "--world", "gym:HiddenDot-v0", "--episodes", "3", "--steps", "10", "--image-size", "32",
                 "--out", str(data)]) == 0
    store, world = EpisodeStore(data), make_world("gym:HiddenDot-v0", image_size=32)
    tasks = dataset_tasks(store, world, 4, 6, np.random.default_rng(0))
    for task in tasks:
        episode = next(e for e in store.episodes if int(e["seed"]) == task.seed)
        first, _ = world.reset(seed=task.seed)
        assert np.array_equal(first, episode["obs"][0])  # the reset seed gives the recorded start again
        assert np.array_equal(task.goal_image, episode["obs"][6])
        assert np.array_equal(task.actions, episode["action"][:6])  # the task carries the path to its goal
        for action in task.actions:  # and the recorded actions reach the goal frame exactly
            frame, *_ = world.step(action)
        assert np.array_equal(frame, task.goal_image)
    with pytest.raises(ValueError, match="lower --goal-offset"):
        dataset_tasks(store, world, 1, 50, np.random.default_rng(0))

    # a world whose state can be set starts at a recorded step and aims at the recorded state `offset` later
    rooms = tmp_path / "rooms"
    assert main(["collect", "--world", "two-rooms", "--episodes", "2", "--steps", "10", "--image-size", "32",
                 "--out", str(rooms)]) == 0
    two, store = make_world("two-rooms", image_size=32), EpisodeStore(rooms)
    for task in dataset_tasks(store, two, 3, 4, np.random.default_rng(1)):
        e = next(e for e in store.episodes if any(np.array_equal(task.start, s) for s in e["state"]))
        t = next(i for i, s in enumerate(e["state"]) if np.array_equal(task.start, s))
        assert np.array_equal(task.goal, e["state"][t + 4]) and np.array_equal(task.goal_image, e["obs"][t + 4])
        assert np.array_equal(task.actions, e["action"][t:t + 4])

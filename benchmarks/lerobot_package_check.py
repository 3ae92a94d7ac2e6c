"""Does worldjepa read a dataset that the `lerobot` package itself wrote? Two steps, two environments.

    LEROBOT_VENV/bin/python benchmarks/lerobot_package_check.py write runs/lerobot-written   # lerobot's venv
    .venv/bin/python benchmarks/lerobot_package_check.py check runs/lerobot-written          # worldjepa's

`write` makes 3 episodes of 12 frames (64 px, a coloured square that each action moves; state = its corner)
with `LeRobotDataset.create` / `add_frame` / `save_episode` / `finalize`, lerobot's default video codec (AV1,
libsvtav1), and saves the exact actions and states beside it. `check` reads the folder with worldjepa's
`EpisodeStore` and prints whether actions and states came back exactly and the frames' PSNR against the
drawings. Not in CI: lerobot does not install beside a CPU-only torch without help (docs/episodes.md says how).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

import numpy as np

SIZE, SQUARE, EPISODES, FRAMES, FPS = 64, 12, 3, 12, 10
COLOURS = [(255, 40, 40), (40, 220, 40), (60, 80, 255)]
TINTS = [(30, 20, 60), (60, 40, 10), (10, 50, 50)]


def draw(xy: np.ndarray, episode: int, t: int) -> np.ndarray:
    """A tinted vertical gradient (brightening with t) and the episode's square with its corner at xy."""
    ramp = np.linspace(0, 80, SIZE, dtype=np.float32)[:, None, None]
    img = np.clip(np.array(TINTS[episode], np.float32) + ramp + 2 * t, 0, 255).astype(np.uint8)
    img = np.repeat(img, SIZE, axis=1)
    x, y = int(round(xy[0])), int(round(xy[1]))
    img[y:y + SQUARE, x:x + SQUARE] = COLOURS[episode]
    return img


def trajectories() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """States [E·T, 2], actions [E·T, 2] (integer moves: exact in float32) and episode indices, seeded."""
    rng = np.random.default_rng(1234)
    states, actions, index = [], [], []
    for e in range(EPISODES):
        xy = rng.integers(4, SIZE - SQUARE - 30, size=2).astype(np.float32)
        for _ in range(FRAMES):
            move = np.clip(xy + rng.integers(-2, 4, size=2), 0, SIZE - SQUARE).astype(np.float32) - xy
            states.append(xy.copy())
            actions.append(move)
            index.append(e)
            xy = xy + move
    return np.stack(states), np.stack(actions), np.array(index)


def write(folder: Path) -> None:
    import torch

    # lerobot imports torchvision; where only torchvision's CUDA build exists, it fails at import on registering
    # fake kernels for two ops its compiled part did not define: declaring them (no kernels) lets it load
    try:
        importlib.import_module("torchvision")
    except RuntimeError as err:
        if "torchvision::" not in str(err):
            raise
        for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        shim = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            shim.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    states, actions, index = trajectories()
    features = {"observation.image": {"dtype": "video", "shape": (SIZE, SIZE, 3),
                                      "names": ["height", "width", "channels"]},
                "observation.state": {"dtype": "float32", "shape": (2,), "names": ["x", "y"]},
                "action": {"dtype": "float32", "shape": (2,), "names": ["dx", "dy"]}}
    ds = LeRobotDataset.create(repo_id="local/squares", root=folder / "dataset", fps=FPS, features=features,
                               robot_type="squares", use_videos=True)
    for e in range(EPISODES):
        for t in range(FRAMES):
            k = e * FRAMES + t
            ds.add_frame({"observation.image": draw(states[k], e, t), "observation.state": states[k],
                          "action": actions[k], "task": f"move square {e}"})
        ds.save_episode()
    ds.finalize()
    np.savez(folder / "truth.npz", state=states, action=actions, episode_index=index)
    print(f"wrote {folder / 'dataset'} with lerobot")


def check(folder: Path) -> dict:
    from worldjepa.data.episodes import EpisodeStore

    store = EpisodeStore(folder / "dataset", image_size=SIZE)
    states, actions, index = trajectories()
    info = json.loads((folder / "dataset" / "meta" / "info.json").read_text())
    codec = info["features"]["observation.image"]["info"]["video.codec"]
    exact, psnr = True, []
    for e, episode in enumerate(store.episodes):
        mine = index == e
        n = len(episode["action"])  # action t moves frame t to t + 1: the last frame's action is not read
        exact &= np.array_equal(episode["action"], actions[mine][:n])
        exact &= np.array_equal(episode["proprio"], states[mine])
        drawn = np.stack([draw(states[mine][t], e, t) for t in range(FRAMES)]).astype(np.float64)
        mse = np.mean((episode["obs"].astype(np.float64) - drawn) ** 2)
        psnr.append(float(10 * np.log10(255 ** 2 / mse)))
    result = {"episodes": len(store), "codebase_version": info["codebase_version"], "codec": codec,
              "actions_and_states_exact": bool(exact), "frame_psnr_db": psnr}
    print(json.dumps(result))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("write", "check"))
    ap.add_argument("folder", type=Path)
    args = ap.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    write(args.folder) if args.step == "write" else check(args.folder)


if __name__ == "__main__":
    main()

"""Open-loop navigation (the TartanDrive analogue of V-JEPA 2.1 and NWM): from one frame and a sequence
of actions, where does the world model say the agent goes?

Held-out episodes of the world (seeds that data collection does not use) are rolled out open loop: the
first frame is encoded, the predictor is fed its own predictions under the episode's real actions for
`horizon` model steps, and a ridge probe, fitted on latents of real frames from other episodes, reads the
agent's position (the first two state values) from every predicted latent. Scores are ATE and RTE
(metrics.py) in world units (the arena is 1 wide), beside two references: the probe on the real frames'
latents (the floor the read-out itself sets) and standing still at the start position.
`NavigationTask` is the suite's task (eval/tasks.py): the world model of a `train-wm` run → these errors,
and navigation.png (the error after each model step).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..dynamics.protocol import WorldModel
from ..plots import pyplot, save_figure
from ..worlds import make_world
from ..worlds.collect import rollouts
from .metrics import ate, rte
from .probes import fit_ridge
from .tasks import Row, RunKind, fmt

if TYPE_CHECKING:
    from .suite import EvalContext

NAVIGATION_SEED = 20_261  # episode seeds no `worldjepa collect` default uses


def _episodes(world, n: int, steps: int, first: int):
    out = list(rollouts(world, n, steps, seed=NAVIGATION_SEED, first=first))
    return tuple(np.stack([e[i] for e in out]) for i in (1, 2, 3, 4))  # frames, actions, proprio, states


def _encode(model, frames: np.ndarray, batch: int = 256) -> torch.Tensor:
    flat = frames.reshape(-1, *frames.shape[-3:])
    z = torch.cat([model.encode(flat[i:i + batch]) for i in range(0, len(flat), batch)])
    return z.reshape(*frames.shape[:2], *z.shape[1:])


def open_loop(model: WorldModel, first_frames: np.ndarray, chunks: torch.Tensor,
              proprio0: torch.Tensor | None = None) -> torch.Tensor:
    """Latents [N, H, *latent] the model predicts from first frames [N, S, S, 3] (uint8) under action chunks
    [N, H, A]: the planner's own rollout (dynamics/unroll.py's proprio rule), one candidate per episode."""
    z0 = _encode(model, first_frames[:, None])[:, 0]
    with torch.no_grad():
        return model.rollout(z0, chunks[:, None], proprio0 if model.proprio_dim else None)[:, 0]


def navigation_errors(model: WorldModel, world_name: str, image_size: int, frameskip: int, horizon: int = 8,
                      train_episodes: int = 100, test_episodes: int = 50) -> dict:
    world = make_world(world_name, image_size=image_size)
    steps = horizon * frameskip
    frames, _, _, states = _episodes(world, train_episodes, steps, first=0)
    z = _encode(model, frames[:, ::frameskip])
    probe = fit_ridge(z.flatten(2).flatten(0, 1), torch.as_tensor(states[:, ::frameskip, :2]).flatten(0, 1))

    frames, actions, proprio, states = _episodes(world, test_episodes, steps, first=train_episodes)
    true = states[:, ::frameskip, :2][:, 1:]  # positions after each model step
    chunks = torch.as_tensor(actions, dtype=torch.float32).reshape(test_episodes, horizon, -1)
    pred_z = open_loop(model, frames[:, 0], chunks, torch.as_tensor(proprio[:, 0], dtype=torch.float32))
    predicted = probe.predict(pred_z.flatten(2).flatten(0, 1)).reshape(test_episodes, horizon, 2).numpy()
    real_z = _encode(model, frames[:, frameskip::frameskip])
    decoded = probe.predict(real_z.flatten(2).flatten(0, 1)).reshape(test_episodes, horizon, 2).numpy()
    still = np.repeat(states[:, :1, :2], horizon, axis=1)
    per_step = np.sqrt(((predicted - true) ** 2).sum(-1).mean(0))
    return {
        "ate": ate(predicted, true), "rte": rte(predicted, true),
        "ate_real_frames": ate(decoded, true), "rte_real_frames": rte(decoded, true),
        "ate_standing_still": ate(still, true), "rte_standing_still": rte(still, true),
        "ate_by_step": per_step.tolist(), "horizon": horizon, "frameskip": frameskip,
        "episodes": {"probe": train_episodes, "test": test_episodes},
    }


class NavigationTask:
    """Open-loop position error of a world model on held-out episodes of its own world."""

    name = "navigation"
    kind: RunKind = "world-model"
    needs_labels = False

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        from ..dynamics.model import load_world_model

        model, cfg, smeta = load_world_model(ctx.checkpoint, device=ctx.device)
        n = ctx.size.navigation_episodes
        result = navigation_errors(model, smeta.world, cfg.image_size, cfg.data.frameskip,
                                   train_episodes=n, test_episodes=max(2, n // 2))
        navigation_figure(result, ctx.out / "navigation.png")
        return {"world": smeta.world, **result}

    def rows(self, result: dict[str, Any]) -> list[Row]:
        r = result
        return [Row(self.name, f"ATE / RTE, {r['horizon']} steps open loop", f"{fmt(r['ate'])} / {fmt(r['rte'])}",
                    f"real frames {fmt(r['ate_real_frames'])} / {fmt(r['rte_real_frames'])}, standing still "
                    f"{fmt(r['ate_standing_still'])} / {fmt(r['rte_standing_still'])}")]


def navigation_figure(result: dict[str, Any], path: Path) -> Path:
    """The open-loop position error after each model step, against the read-out of real frames."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    steps = np.arange(1, result["horizon"] + 1)
    ax.plot(steps, result["ate_by_step"], marker="o", label="open-loop prediction")
    ax.axhline(result["ate_real_frames"], color="tab:green", ls="--", label="read-out of real frames")
    ax.set_xlabel(f"model step ({result['frameskip']} actions each)")
    ax.set_ylabel("position error (arena widths)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)

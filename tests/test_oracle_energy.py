"""The exact dynamics of two-rooms planned on another energy: the energy is the features' distance, and
the planner's success follows the energy (position features reach every goal, blind features none)."""

import numpy as np
import torch

from worldjepa.config import PlanConfig
from worldjepa.planning.mpc import run_mpc
from worldjepa.planning.oracle import ExactDynamicsFeatureEnergy, ExactTwoRoomsModel
from worldjepa.planning.solvers import make_solver
from worldjepa.worlds.two_rooms import TwoRooms


def position_features(frames: np.ndarray) -> torch.Tensor:
    """The agent's centroid read from the frames: features that are the position itself."""
    return ExactTwoRoomsModel(TwoRooms(), 1).encode(frames)


def test_the_energy_is_the_feature_distance_of_the_cells():
    world = TwoRooms()
    model = ExactDynamicsFeatureEnergy(world, 5, position_features, n=16, energy="l1", path_weight=0.0)
    rng = np.random.default_rng(0)
    pred = torch.tensor(rng.uniform(0.05, 0.95, (2, 3, 4, 2)), dtype=torch.float32)
    goal = torch.tensor(rng.uniform(0.05, 0.95, (2, 2)), dtype=torch.float32)
    e = model.energy(pred, goal)
    centre = lambda p: (np.floor(np.asarray(p) * 16) + 0.5) / 16  # noqa: E731  (the cell's centre)
    for b in range(2):
        f_goal = position_features(world.render_state(centre(goal[b]))[None])[0]
        for c in range(3):
            f_last = position_features(world.render_state(centre(pred[b, c, -1]))[None])[0]
            assert abs(float(e[b, c]) - float((f_last - f_goal).abs().mean())) < 1e-5
    # the centroid of a disk drawn at a cell's centre is that centre, to a fraction of a pixel
    assert abs(float(e[0, 0]) - float(np.abs(centre(pred[0, 0, -1]) - centre(goal[0])).mean())) < 0.01


def test_planning_success_follows_the_energy():
    worlds = [TwoRooms() for _ in range(8)]
    rng = np.random.default_rng(3)
    tasks = [worlds[0].sample_task(rng) for _ in worlds]
    cfg = PlanConfig(solver="cem", horizon=5, samples=150, iterations=12, elites=15, noise_correlation=0.8,
                     budget=50, seed=0)
    results = {}
    for name, features in {"position": position_features,
                           "blind": lambda frames: torch.zeros(len(frames), 4)}.items():
        model = ExactDynamicsFeatureEnergy(worlds[0], 5, features, n=32)
        results[name] = run_mpc(worlds, tasks, model, make_solver(cfg), cfg, frameskip=5, progress=False).success_rate
    assert results["position"] == 1.0 and results["blind"] <= 0.25, results

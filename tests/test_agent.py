"""The Agent (planning/agent.py) in a hand-written control loop makes the same episode as `run_mpc`, decision
for decision, and reaches goals with an exact model of two-rooms."""

import numpy as np

from worldjepa.config import PlanConfig
from worldjepa.planning.agent import Agent
from worldjepa.planning.mpc import run_mpc
from worldjepa.planning.oracle import ExactTwoRoomsModel
from worldjepa.planning.solvers import make_solver
from worldjepa.worlds.two_rooms import TwoRooms

CFG = PlanConfig(solver="cem", horizon=5, samples=150, iterations=12, elites=15, noise_correlation=0.8, budget=50,
                 seed=3)


def test_an_agent_in_a_loop_makes_the_episode_run_mpc_makes():
    world = TwoRooms()
    model = ExactTwoRoomsModel(world, frameskip=5)
    tasks = [world.sample_task(np.random.default_rng(k)) for k in (11, 12)]
    agent = Agent(model, CFG)
    for task in tasks:
        reference = run_mpc([TwoRooms()], [task], model, make_solver(CFG), CFG, frameskip=5, record=1,
                            progress=False, seed=CFG.seed).episodes[0]
        agent.reset()
        obs, info = world.reset(seed=CFG.seed, options={"state": task.start})
        goal, states, actions = world.render_state(task.goal), [info["state"]], []
        while len(actions) < CFG.budget and not world.reached(world.get_state(), task.goal):
            actions.append(agent.act(obs, goal))
            obs, _, _, _, info = world.step(actions[-1])
            states.append(info["state"])
        assert reference.success and world.reached(world.get_state(), task.goal)
        np.testing.assert_array_equal(np.stack(actions), np.stack(reference.actions))
        np.testing.assert_allclose(np.stack(states), np.stack(reference.states))
        assert agent.calls == len(reference.energies) and agent.last_energy == reference.energies[-1]


def test_a_new_goal_drops_the_queued_plan():
    world = TwoRooms()
    agent = Agent(ExactTwoRoomsModel(world, frameskip=5), CFG)
    rng = np.random.default_rng(0)
    a, b = world.sample_task(rng), world.sample_task(rng)
    obs, _ = world.reset(options={"state": a.start})
    agent.act(obs, world.render_state(a.goal))
    assert agent.calls == 1 and len(agent._queue) == 4  # one chunk of 5 primitive actions planned, 4 queued
    agent.act(obs, world.render_state(b.goal))
    assert agent.calls == 2  # planned again for the new goal, from scratch

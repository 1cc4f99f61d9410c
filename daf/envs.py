"""Vectorised MettaGrid environments for training.

`VecEnv` steps `num_envs` mettagrid `Simulation`s in one process. Each writes its
observations straight into a slice of one `(envs, agents, tokens, 3)` array (the
zero-copy buffers `MettaGridPufferEnv` uses), so the learner reads every agent of every
env as one batch. An env whose episode ends starts a new one at once (auto-reset) on a
fresh map drawn from the run's seed stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mettagrid.config.mettagrid_config import MettaGridConfig
from mettagrid.mettagrid_c import dtype_actions, dtype_observations
from mettagrid.simulator import Simulation
from mettagrid.simulator.simulator import Buffers


def make_buffers(cfg: MettaGridConfig, num_envs: int) -> tuple[np.ndarray, np.ndarray, list[Buffers]]:
    """Shared observation/action arrays and one mettagrid `Buffers` view per env."""
    agents = cfg.game.num_agents
    obs = np.full((num_envs, agents, cfg.game.obs.num_tokens, cfg.game.obs.token_dim), 255, dtype=dtype_observations)
    actions = np.zeros((num_envs, agents), dtype=dtype_actions)
    buffers = [
        Buffers(
            observations=obs[e],
            terminals=np.zeros(agents, dtype=bool),
            truncations=np.zeros(agents, dtype=bool),
            rewards=np.zeros(agents, dtype=np.float32),
            masks=np.ones(agents, dtype=bool),
            actions=actions[e],
            teacher_actions=np.zeros(agents, dtype=dtype_actions),
        )
        for e in range(num_envs)
    ]
    return obs, actions, buffers


def step(sim: Simulation) -> None:
    """Advance one tick. Without event handlers or talk, `Simulation.step` only adds
    Python bookkeeping around the C++ step (about half the cost on small maps)."""
    if sim._event_handlers or sim.config.game.talk.enabled:
        sim.step()
    else:
        sim._c_sim.step()


def new_simulation(cfg: MettaGridConfig, seed: int, buffers: Buffers) -> Simulation:
    """A simulation whose map and engine are both seeded with `seed`."""
    builder = cfg.game.map_builder
    if hasattr(builder, "seed"):  # copy only the path to the seed; a deep copy costs ~3 ms
        game = cfg.game.model_copy(update={"map_builder": builder.model_copy(update={"seed": seed})})
        cfg = cfg.model_copy(update={"game": game})
    return Simulation(cfg, seed=seed, buffers=buffers)


@dataclass
class Episode:
    reward: float  # mean episode reward per agent
    length: int


class VecEnv:
    def __init__(self, cfg: MettaGridConfig, num_envs: int, seeds: np.random.Generator):
        self.cfg = cfg
        self.num_envs = num_envs
        self.num_agents = cfg.game.num_agents
        self.seeds = seeds
        self.obs, self.actions, self.buffers = make_buffers(cfg, num_envs)
        self.rewards = np.zeros((num_envs, self.num_agents), dtype=np.float32)
        self.sims = [self._start(e) for e in range(num_envs)]

    def _start(self, e: int) -> Simulation:
        return new_simulation(self.cfg, int(self.seeds.integers(0, 2**31 - 1)), self.buffers[e])

    def step(self) -> tuple[np.ndarray, np.ndarray, list[Episode]]:
        """Apply `self.actions`; returns per-agent rewards `(E, N)`, per-env done `(E,)`
        and the episodes that just ended. Done envs are already reset."""
        dones = np.zeros(self.num_envs, dtype=bool)
        finished = []
        for e, sim in enumerate(self.sims):
            step(sim)
            buf = self.buffers[e]
            self.rewards[e] = buf.rewards
            if buf.terminals.all() or buf.truncations.all():
                dones[e] = True
                finished.append(Episode(float(np.mean(sim.episode_rewards)), int(sim.current_step)))
                sim.close()
                self.sims[e] = self._start(e)
        return self.rewards, dones, finished

    def close(self) -> None:
        for sim in self.sims:
            sim.close()
        self.sims = []

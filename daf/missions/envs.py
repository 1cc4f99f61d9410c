"""Vectorised MettaGrid environments for training.

`VecEnv` runs `num_envs` mettagrid `Simulation`s. Each writes its observations straight
into a slice of one `(envs, agents, tokens, 3)` array (the zero-copy buffers
`MettaGridPufferEnv` uses), so the learner reads every agent of every env as one batch.
An env whose episode ends starts a new one at once (auto-reset): it draws the next
mission (when it has several to choose from) and the map seed from its own seeded
stream, so what an env plays never depends on what the other envs did.

Several missions: every env has room for the largest agent count; rows of agents a
mission does not have are inactive (`active` is False, observation empty, reward 0) and
the trainer leaves them out of its losses.

Groups and workers: the envs form `groups` contiguous groups (the trainer uses 2) that
are stepped one after another, so the learner can compute the actions of one group
while another group's envs step. With `workers=N`, N processes each own a contiguous
range of envs on shared-memory arrays and step their part of a group on request. The
groups, not the workers, fix what is computed: env e plays the same episodes given the
same actions with any number of workers, so the worker count changes speed only.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import traceback
from dataclasses import dataclass, field
from multiprocessing import shared_memory

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
    buffers = [env_buffers(obs[e], actions[e]) for e in range(num_envs)]
    return obs, actions, buffers


def env_buffers(obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray | None = None) -> Buffers:
    """mettagrid `Buffers` over one env's rows (`obs` `(agents, tokens, 3)`, `actions` `(agents,)`)."""
    agents = len(actions)
    return Buffers(
        observations=obs,
        terminals=np.zeros(agents, dtype=bool),
        truncations=np.zeros(agents, dtype=bool),
        rewards=np.zeros(agents, dtype=np.float32) if rewards is None else rewards,
        masks=np.ones(agents, dtype=bool),
        actions=actions,
        teacher_actions=np.zeros(agents, dtype=dtype_actions),
    )


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


@dataclass(frozen=True)
class EnvMission:
    """A mission as the trainer plays it: its game (with any training-only reward terms
    added) and the shaping weights, to tell the mission's own reward apart."""

    name: str
    config: MettaGridConfig
    shaping: dict[str, float] = field(default_factory=dict)

    @property
    def num_agents(self) -> int:
        return self.config.game.num_agents


@dataclass
class Episode:
    mission: int  # index into the VecEnv's missions
    reward: float  # mean episode reward per agent, shaping included (what training optimises)
    score: float  # mean episode reward per agent under the mission's own reward
    length: int
    truncated: bool = False  # ended by the time limit (max_steps), not by the game


class EnvBlock:
    """Steps envs `[lo, hi)` of a VecEnv, writing into the (possibly shared) arrays."""

    def __init__(
        self, missions, weights, lo: int, hi: int, arrays: dict[str, np.ndarray], seed: np.random.SeedSequence
    ):
        self.missions, self.weights = missions, np.asarray(weights, dtype=np.float64)
        self.lo, self.hi = lo, hi
        self.obs, self.actions, self.rewards = arrays["obs"], arrays["actions"], arrays["rewards"]
        self.active, self.mission = arrays["active"], arrays["mission"]
        self.streams = [np.random.default_rng(s) for s in seed.spawn(arrays["obs"].shape[0])[lo:hi]]
        self.sims: list[Simulation | None] = [None] * (hi - lo)
        self.buffers: list[Buffers | None] = [None] * (hi - lo)
        for e in range(lo, hi):
            self._start(e)

    def _start(self, e: int) -> None:
        rng = self.streams[e - self.lo]
        m = int(rng.choice(len(self.missions), p=self.weights)) if len(self.missions) > 1 else 0
        seed = int(rng.integers(0, 2**31 - 1))
        agents = self.missions[m].num_agents
        self.obs[e, agents:] = 255  # rows this mission does not use: empty observation, no reward
        self.rewards[e, agents:] = 0
        self.active[e] = False
        self.active[e, :agents] = True
        self.mission[e] = m
        buffers = env_buffers(self.obs[e, :agents], self.actions[e, :agents], self.rewards[e, :agents])
        self.buffers[e - self.lo] = buffers
        self.sims[e - self.lo] = new_simulation(self.missions[m].config, seed, buffers)

    def step(self, lo: int, hi: int) -> tuple[list[int], list[Episode]]:
        """Step envs `[lo, hi)` (of this block) once; returns the envs whose episode ended
        (already restarted) and those episodes."""
        done, finished = [], []
        for i in range(lo - self.lo, hi - self.lo):
            sim = self.sims[i]
            step(sim)
            buf = self.buffers[i]
            if buf.terminals.all() or buf.truncations.all():
                e = self.lo + i
                done.append(e)
                # mettagrid marks its time limit as terminals: a time-limit end is told by the step count
                limit = self.missions[int(self.mission[e])].config.game.max_steps
                truncated = bool(buf.truncations.all()) or 0 < limit <= sim.current_step
                finished.append(self._episode(sim, int(self.mission[e]), truncated))
                sim.close()
                self._start(e)
        return done, finished

    def _episode(self, sim: Simulation, m: int, truncated: bool) -> Episode:
        rewards = np.asarray(sim.episode_rewards, dtype=np.float64)
        shaping = self.missions[m].shaping
        own = rewards
        if shaping:  # shaping terms pay w per unit of a counter that starts at 0: subtract them
            stats = sim.episode_stats["agent"]
            own = rewards - np.array([sum(w * a.get(k, 0.0) for k, w in shaping.items()) for a in stats])
        return Episode(m, float(rewards.mean()), float(own.mean()), int(sim.current_step), truncated)

    def close(self) -> None:
        for sim in self.sims:
            if sim is not None:
                sim.close()
        self.sims = []


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    bounds = np.linspace(0, n, parts + 1).astype(int)
    return [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]


def _array_specs(missions: list[EnvMission], num_envs: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    agents = max(m.num_agents for m in missions)
    obs_cfg = missions[0].config.game.obs
    return {
        "obs": ((num_envs, agents, obs_cfg.num_tokens, obs_cfg.token_dim), np.dtype(dtype_observations)),
        "actions": ((num_envs, agents), np.dtype(dtype_actions)),
        "rewards": ((num_envs, agents), np.dtype(np.float32)),
        "active": ((num_envs, agents), np.dtype(bool)),
        "mission": ((num_envs,), np.dtype(np.int16)),
    }


def _worker(missions, weights, lo, hi, shm_names, specs, seed, conn) -> None:
    """A worker process: step its block on request until told to stop."""
    shms = {k: shared_memory.SharedMemory(name=n) for k, n in shm_names.items()}
    arrays = {k: np.ndarray(specs[k][0], dtype=specs[k][1], buffer=shms[k].buf) for k in specs}
    try:
        block = EnvBlock(missions, weights, lo, hi, arrays, seed)
        conn.send(("ready", None))
        parent = os.getppid()
        while True:
            # forked siblings hold copies of this pipe's parent end, so a killed parent may never
            # show up as EOF: an orphaned worker (re-parented) leaves on its own
            if not conn.poll(1.0):
                if os.getppid() != parent:
                    return
                continue
            command = conn.recv()
            if command[0] != "step":
                break
            conn.send(("ok", block.step(*command[1:])))
        block.close()
        conn.send(("closed", None))
    except (EOFError, KeyboardInterrupt):  # the parent is gone or interrupted: just leave
        pass
    except Exception:
        conn.send(("error", traceback.format_exc()))
    finally:
        block = arrays = None  # drop views of the shared buffers before closing them
        for shm in shms.values():
            shm.close()


class VecEnv:
    """`num_envs` envs over `missions` (drawn per episode with `weights`) in `groups`
    groups, stepped in this process (`workers=0`) or by `workers` processes."""

    def __init__(
        self,
        missions: list[EnvMission] | MettaGridConfig,
        num_envs: int,
        seed: np.random.SeedSequence | int,
        weights: list[float] | None = None,
        workers: int = 0,
        groups: int = 1,
    ):
        if isinstance(missions, MettaGridConfig):
            missions = [EnvMission(missions.label or "mission", missions)]
        self.missions = list(missions)
        weights = [1.0] * len(self.missions) if weights is None else list(weights)
        total = float(sum(weights))
        self.weights = [w / total for w in weights]
        self.num_envs = num_envs
        self.num_agents = max(m.num_agents for m in self.missions)
        seed = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        specs = _array_specs(self.missions, num_envs)
        self.workers = max(0, min(workers, num_envs))
        self.groups = _split(num_envs, max(1, min(groups, num_envs)))
        self.ranges = _split(num_envs, max(1, self.workers))  # env range of each worker
        self._shms: list[shared_memory.SharedMemory] = []
        self._procs, self._conns = [], []
        if self.workers == 0:
            arrays = {k: np.zeros(shape, dtype=dtype) for k, (shape, dtype) in specs.items()}
            arrays["obs"].fill(255)
            self._block = EnvBlock(self.missions, self.weights, 0, num_envs, arrays, seed)
        else:
            arrays = {}
            try:
                for key, (shape, dtype) in specs.items():
                    shm = shared_memory.SharedMemory(create=True, size=max(1, int(np.prod(shape)) * dtype.itemsize))
                    self._shms.append(shm)
                    arrays[key] = np.ndarray(shape, dtype=dtype, buffer=shm.buf)
                arrays["obs"].fill(255)
                # fork: no re-import of the caller's main module (which spawn needs); the
                # workers never touch torch, so the parent's thread pools do not matter
                ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
                names = {k: s.name for k, s in zip(specs, self._shms)}
                for lo, hi in self.ranges:
                    parent, child = ctx.Pipe()
                    proc = ctx.Process(
                        target=_worker,
                        args=(self.missions, self.weights, lo, hi, names, specs, seed, child),
                        daemon=True,
                    )
                    proc.start()
                    child.close()
                    self._procs.append(proc)
                    self._conns.append(parent)
                for w in range(self.workers):
                    self._receive(w)
            except BaseException:
                self.close()
                raise
        self._arrays = arrays
        self.obs, self.actions, self.rewards = arrays["obs"], arrays["actions"], arrays["rewards"]
        self.active, self.mission = arrays["active"], arrays["mission"]
        self._pending: dict[int, tuple[list[int], list[Episode]]] = {}

    def _receive(self, w: int):
        try:
            status, payload = self._conns[w].recv()
        except EOFError:
            raise RuntimeError(f"env worker {w} died (exit code {self._procs[w].exitcode})") from None
        if status == "error":
            raise RuntimeError(f"env worker {w} failed:\n{payload}")
        return payload

    def _parts(self, g: int) -> list[tuple[int, int, int]]:
        """(worker, lo, hi) pieces of group `g`."""
        lo, hi = self.groups[g]
        return [(w, max(lo, a), min(hi, b)) for w, (a, b) in enumerate(self.ranges) if max(lo, a) < min(hi, b)]

    def step_group_async(self, g: int) -> None:
        """Start stepping group `g` with the actions already in `self.actions`."""
        if self.workers == 0:
            self._pending[g] = self._block.step(*self.groups[g])
            return
        for w, lo, hi in self._parts(g):
            self._conns[w].send(("step", lo, hi))

    def wait_group(self, g: int) -> tuple[np.ndarray, list[Episode]]:
        """Wait for group `g`: per-env done flags of the group's envs `(hi - lo,)` and the
        episodes that ended (their envs already restarted), in env order."""
        if self.workers == 0:
            done, finished = self._pending.pop(g)
        else:
            done, finished = [], []
            for w, _, _ in self._parts(g):
                part_done, part_finished = self._receive(w)
                done += part_done
                finished += part_finished
        lo, hi = self.groups[g]
        flags = np.zeros(hi - lo, dtype=bool)
        flags[np.asarray(done, dtype=int) - lo] = True
        return flags, finished

    def step(self) -> tuple[np.ndarray, np.ndarray, list[Episode]]:
        """Apply `self.actions` to every env; returns per-agent rewards `(E, N)`, per-env
        done `(E,)` and the episodes that just ended. Done envs are already reset."""
        for g in range(len(self.groups)):
            self.step_group_async(g)
        dones, finished = [], []
        for g in range(len(self.groups)):
            flags, ended = self.wait_group(g)
            dones.append(flags)
            finished += ended
        return self.rewards, np.concatenate(dones), finished

    def close(self) -> None:
        if self.workers == 0:
            if getattr(self, "_block", None) is not None:
                self._block.close()
                self._block = None
            return
        for conn in self._conns:
            try:
                conn.send(("close",))
                conn.recv()
            except (OSError, EOFError):
                pass
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
        self._procs, self._conns = [], []
        for name in ("_arrays", "obs", "actions", "rewards", "active", "mission"):
            self.__dict__.pop(name, None)
        for shm in self._shms:
            with contextlib.suppress(BufferError):  # a caller still holds a view: it goes with the process
                shm.close()
            shm.unlink()
        self._shms = []

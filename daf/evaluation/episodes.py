"""Seeded, batched evaluation episodes on the real MettaGrid engine.

Episodes run in lockstep groups of `num_envs`: each env is a mettagrid `Simulation`
writing straight into one slice of a shared `(envs, agents, tokens, 3)` buffer (the
same zero-copy buffers `MettaGridPufferEnv` uses), so each actor gets all of its rows
in one array and a neural policy does one forward pass per step for the whole group.

Seeds (common random numbers): episode k of a run with base seed S uses
`episode_seed(S, k)` as both the map seed and the engine seed, whatever the policy, so
policy A's episode k and policy B's episode k are played on the same map and can be
compared pairwise. Policy randomness comes from separate per-episode streams.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mettagrid.simulator import Simulation

from daf.errors import PolicyFailed, UserError, one_line
from daf.evaluation.replays import Recorder
from daf.io import progress_bar
from daf.limits import TimeLimits, time_limit
from daf.missions import Mission, mission_env_info  # noqa: F401 (re-exported)
from daf.missions.envs import make_buffers, new_simulation, step
from daf.policies.actors import Actor, build_actor

CANDIDATE, REPLACEMENT = "candidate", "replacement"
STREAM_ASSIGN, STREAM_CANDIDATE, STREAM_REPLACEMENT = 1, 2, 3
CORE_COLUMNS = [
    "policy",
    "run",
    "role",
    "mission",
    "episode",
    "seed",
    "agent",
    "reward",
    "steps",
    "success",
    "num_agents",
    "candidate_agents",
]
STANDARD_STATS = [
    "action.move.success",
    "action.move.failed",
    "action.noop.success",
    "action.failed",
    "cell.unique_visited",
    "cell.max_distance_from_spawn",
    "status.max_steps_without_motion",
]


def episode_seed(base_seed: int, episode: int) -> int:
    """Map and engine seed of episode `episode` (independent of the policy)."""
    return int(np.random.SeedSequence([base_seed, episode]).generate_state(1)[0])


def stream(base_seed: int, episode: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([base_seed, episode, purpose]))


def allocate_counts(total: int, weights: list[float]) -> list[int]:
    """Split `total` agents among policies by largest-remainder apportionment (as cogames'
    metta_alo.scoring.allocate_counts: floor of the ideal shares, then the largest
    remainders get the rest; ties go to the earlier policy)."""
    weight_sum = float(sum(weights))
    if total < 0 or not weights or weight_sum <= 0 or any(w < 0 for w in weights):
        raise UserError(f"cannot split {total} agents by weights {weights}: need positive weights")
    ideals = [total * w / weight_sum for w in weights]
    counts = [int(np.floor(v)) for v in ideals]
    remainders = [v - c for v, c in zip(ideals, counts)]
    for idx in sorted(range(len(weights)), key=lambda i: remainders[i], reverse=True)[: total - sum(counts)]:
        counts[idx] += 1
    return counts


def seat_assignment(num_agents: int, seat_counts: list[int], base_seed: int, episode: int) -> np.ndarray:
    """Seat index (0 = candidate, 1.. = replacement pool) of every agent slot in an episode.

    Slots are drawn per episode from the episode's seed (the same for every candidate), so
    no policy is tied to particular spawn points; a single seat keeps slot order."""
    seats = np.repeat(np.arange(len(seat_counts)), seat_counts)
    if len(seat_counts) == 1 or max(seat_counts) == num_agents:
        return seats
    slots = stream(base_seed, episode, STREAM_ASSIGN).permutation(num_agents)
    assignment = np.empty(num_agents, dtype=np.int64)
    assignment[slots] = seats
    return assignment


@dataclass
class Seat:
    label: str  # the policy name written to the `policy` column
    actor: Actor
    spec: str = ""  # what it was built from, named when its code fails

    def name(self) -> str:
        spec = f" ({self.spec})" if self.spec and self.spec != self.label else ""
        return f"policy '{self.label}'{spec}"

    def failed(self, exc: Exception, mission: str, episodes: list[int]) -> PolicyFailed:
        """One line for an exception raised by the policy's own code: the policy, the mission,
        the episodes (the caller chains the traceback as its cause)."""
        return PolicyFailed(f"{self.name()} failed on mission '{mission}' in {_span(episodes)}: {one_line(exc)}")

    def culprit(self, mission: str, episodes: list[int]) -> str:
        """The policy, mission and episodes, for a time limit's line."""
        return f"{self.name()} on mission '{mission}' in {_span(episodes)}"


def build_seat(label: str, spec, env_info, seed: int, device: str = "cpu", mission: str | None = None) -> Seat:
    """A seat for `spec` (daf.policies.build_actor), its construction under the setup time
    limit (a third-party constructor that hangs ends the job with one line naming it)."""
    what = f"building policy '{label}'" + (f" ({spec.text})" if spec.text != label else "")
    with time_limit(TimeLimits.from_env().setup, what, "setup"):
        actor = build_actor(spec, env_info, seed, device, mission)
    return Seat(label, actor, spec.text)


def expected_stats(mission: Mission) -> list[str]:
    """Stat columns present in every evaluation of this mission (zero when absent)."""
    resources = mission.config().game.resource_names
    per_resource = [f"{r}.{kind}" for r in resources for kind in ("gained", "lost", "amount")]
    return sorted(set(STANDARD_STATS) | set(per_resource))


def run_episodes(
    mission: Mission,
    candidate: Seat,
    episodes: int,
    base_seed: int,
    replacement: Seat | list[tuple[Seat, float]] | None = None,
    candidate_agents: int | None = None,
    num_envs: int = 16,
    progress: bool = False,
    replays: int = 0,
    replay_dir: Path | None = None,
    first_episode: int = 0,
    run: int = 0,
    limits: TimeLimits | None = None,
) -> pd.DataFrame:
    """Play episodes `first_episode`..`first_episode + episodes - 1`; one row per episode x agent.

    Episode k is the same game whatever the range it is played in (its seeds depend on k
    and `base_seed` only), so an evaluation can grow by chunks without replaying old ones.
    `run` is written to the `run` column: the training seed of the candidate's network.

    Without `replacement` the candidate controls every agent. With it, the candidate
    controls `candidate_agents` agents (0..N) and the replacement the rest; a replacement
    pool `[(seat, weight), ...]` splits the rest by largest-remainder apportionment.
    Episodes 0..replays-1 are recorded to `replay_dir/episode_NNNN.npz` (see daf.evaluation.replays);
    recording does not change what is played. `limits` (default: DAF_TIME_LIMITS, else the
    defaults) bound each policy call and each batch of episodes (daf.limits).
    """
    limits = limits or TimeLimits.from_env()
    base_cfg = mission.config()
    num_agents = base_cfg.game.num_agents
    k = num_agents if candidate_agents is None else candidate_agents
    if not 0 <= k <= num_agents:
        raise UserError(f"--candidate-agents {k} is out of range for mission '{mission.name}' (0..{num_agents})")
    pool = [(replacement, 1.0)] if isinstance(replacement, Seat) else list(replacement or [])
    if k < num_agents and not pool:
        raise UserError("--candidate-agents below the mission's agent count needs --replacement SPEC")
    seat_counts = [k, *allocate_counts(num_agents - k, [w for _, w in pool])] if pool else [k]
    seats = [candidate, *[seat for seat, _ in pool]]
    purposes = [STREAM_CANDIDATE, *[STREAM_REPLACEMENT + i for i in range(len(pool))]]
    if not all(seat.actor.batched for seat in seats):
        num_envs = 1  # per-agent python policies may use global RNGs: one episode at a time
    num_envs = max(1, min(num_envs, episodes))
    buffers = make_buffers(base_cfg, num_envs)
    results: list[dict] = []
    bar = progress_bar(episodes, f"{candidate.label} on {mission.name}", progress, unit="ep")
    last = first_episode + episodes
    saved: list[Path] = []  # replays written by this call: removed if it fails, so no partial output
    fresh_dir = replay_dir is not None and not Path(replay_dir).exists()
    try:
        for first in range(first_episode, last, num_envs):
            group = list(range(first, min(first + num_envs, last)))
            assignments = [seat_assignment(num_agents, seat_counts, base_seed, ep) for ep in group]
            budget = limits.episode * len(group) if limits.episode else None
            span = _span(group)
            with time_limit(budget, f"{span} of mission '{mission.name}' ({len(group)} in lockstep)", "episode"):
                for record, path in _play_group(mission, base_cfg, buffers, seats, purposes, group, assignments,
                                                base_seed, replays, replay_dir, limits.step):  # fmt: skip
                    results.append(record)
                    saved += [path] if path else []
                    bar.update(1)
    except BaseException:
        for path in saved:
            path.unlink(missing_ok=True)
        if fresh_dir and Path(replay_dir).is_dir() and not any(Path(replay_dir).iterdir()):
            Path(replay_dir).rmdir()
        raise
    bar.close()
    return _to_frame(results, mission, [seat.label for seat in seats], k, run)


def _span(episodes: list[int]) -> str:
    return f"episode {episodes[0]}" if len(episodes) == 1 else f"episodes {episodes[0]}-{episodes[-1]}"


def _play_group(mission, base_cfg, buffers, seats, purposes, group, assignments, base_seed, replays, replay_dir,
                step_limit=None):  # fmt: skip
    """Play episodes `group` in lockstep, one env each; yields (episode record, replay path or
    None) as each episode ends. An exception of a policy's own code becomes one line naming it;
    so does a call of it that runs past `step_limit` seconds."""
    obs, actions, env_buffers = buffers
    seeds = [episode_seed(base_seed, ep) for ep in group]
    _seed_globals(seeds[0])
    sims = [new_simulation(base_cfg, seed, env_buffers[e]) for e, seed in enumerate(seeds)]
    recorders = {e: Recorder(sims[e]) for e, ep in enumerate(group) if ep < replays}
    rows = []
    for index, (seat, purpose) in enumerate(zip(seats, purposes)):
        env_idx, agent_idx = _rows(assignments, index)
        try:
            with time_limit(step_limit, seat.culprit(mission.name, group) + ": starting its episodes", "step"):
                seat.actor.start(env_idx, agent_idx, [stream(base_seed, ep, purpose) for ep in group])
        except UserError:
            raise
        except Exception as exc:  # the policy's own code
            raise seat.failed(exc, mission.name, group) from exc
        rows.append((seat, env_idx, agent_idx))
    active = list(range(len(group)))
    while active:
        for seat, env_idx, agent_idx in rows:
            if env_idx.size:
                try:
                    with time_limit(step_limit, seat.culprit(mission.name, group) + ": a step", "step"):
                        actions[env_idx, agent_idx] = seat.actor.act(obs[env_idx, agent_idx])
                except UserError:
                    raise
                except Exception as exc:  # the policy's own code
                    raise seat.failed(exc, mission.name, group) from exc
        still = []
        for e in active:
            step(sims[e])
            if e in recorders:
                recorders[e].capture(sims[e])
            if env_buffers[e].terminals.all() or env_buffers[e].truncations.all():
                record, path = _episode_record(sims[e], group[e], seeds[e], assignments[e]), None
                if e in recorders:
                    labels = [seats[s].label for s in assignments[e]]
                    path = Path(replay_dir or ".") / f"episode_{group[e]:04d}.npz"
                    recorders.pop(e).save(path, group[e], seeds[e], mission.name, labels)
                yield record, path  # the caller tracks the replay before anything else can fail
                sims[e].close()
            else:
                still.append(e)
        active = still


def _rows(assignments: list[np.ndarray], seat: int) -> tuple[np.ndarray, np.ndarray]:
    env_idx, agent_idx = [], []
    for e, assignment in enumerate(assignments):
        agents = np.flatnonzero(assignment == seat)
        env_idx.append(np.full(agents.size, e))
        agent_idx.append(agents)
    return np.concatenate(env_idx).astype(np.int64), np.concatenate(agent_idx).astype(np.int64)


def _episode_record(sim: Simulation, episode: int, seed: int, assignment: np.ndarray) -> dict:
    return {
        "episode": episode,
        "seed": seed,
        "steps": int(sim.current_step),
        "rewards": np.asarray(sim.episode_rewards, dtype=np.float64).copy(),
        "stats": [dict(s) for s in sim.episode_stats["agent"]],
        "assignment": assignment,
    }


def _to_frame(results: list[dict], mission: Mission, labels: list[str], k: int, run: int) -> pd.DataFrame:
    results.sort(key=lambda r: r["episode"])
    stat_names = set(expected_stats(mission))
    for r in results:
        for s in r["stats"]:
            stat_names.update(s)
    stat_names = sorted(stat_names)
    rows = []
    for r in results:
        team = _team_total(mission.success.stat, r)
        success = bool(mission.success.evaluate(np.array([team]))[0])
        for agent, (reward, stats, seat) in enumerate(zip(r["rewards"], r["stats"], r["assignment"])):
            row = {
                "policy": labels[seat],
                "run": run,
                "role": CANDIDATE if seat == 0 else REPLACEMENT,
                "mission": mission.name,
                "episode": r["episode"],
                "seed": r["seed"],
                "agent": agent,
                "reward": float(reward),
                "steps": r["steps"],
                "success": success,
                "num_agents": len(r["rewards"]),
                "candidate_agents": k,
            }
            row.update({f"stat.{name}": float(stats.get(name, 0.0)) for name in stat_names})
            rows.append(row)
    frame = pd.DataFrame(rows, columns=CORE_COLUMNS + [f"stat.{n}" for n in stat_names])
    return frame.astype(
        {
            "run": "int64",
            "episode": "int32",
            "seed": "int64",
            "agent": "int16",
            "steps": "int32",
            "num_agents": "int16",
            "candidate_agents": "int16",
            "success": "bool",
        }
    )


def merge_chunks(paths: list[str | Path]) -> pd.DataFrame:
    """One policy x mission table from its chunks (runs x episode ranges), sorted by run,
    episode and agent. Every run must cover the same episodes 0..N-1 (common random numbers)."""
    from daf.io import read_parquets

    frame = read_parquets(paths)
    if frame.empty:
        raise UserError("no evaluation rows in the chunks")
    if "run" not in frame:
        frame.insert(1, "run", np.int64(0))
    for column in ("policy", "mission"):
        values = sorted(frame.loc[frame["role"] == CANDIDATE, column].unique()) if "role" in frame else []
        if len(values) != 1:
            raise UserError(f"chunks to merge must share one {column}; got {values} in {', '.join(map(str, paths))}")
    episodes = frame.groupby("run")["episode"].unique()
    counts = frame.groupby(["run", "episode"])["agent"].count()
    agents = frame.groupby(["run", "episode"])["num_agents"].first()
    if not (counts == agents).all():
        run, episode = counts[counts != agents].index[0]
        raise UserError(f"run {run} episode {episode} appears in more than one chunk (or is incomplete)")
    expected = set(range(max(len(e) for e in episodes)))
    for run, present in episodes.items():
        if set(present) != expected:
            missing = sorted(expected - set(present))[:5]
            raise UserError(f"run {run} lacks episodes {missing} that other runs have: every run plays episodes "
                            f"0..{len(expected) - 1}")  # fmt: skip
    stats = sorted(c for c in frame.columns if c.startswith("stat."))
    frame[stats] = frame[stats].fillna(0.0)  # a stat no agent of a chunk touched is zero there
    frame = frame.sort_values(["run", "episode", "agent"], kind="stable").reset_index(drop=True)
    return frame[[*CORE_COLUMNS, *stats]]


def _team_total(stat: str, record: dict) -> float:
    if stat == "reward":
        return float(np.sum(record["rewards"]))
    return float(sum(s.get(stat, 0.0) for s in record["stats"]))


def _seed_globals(seed: int) -> None:
    """For third-party policies that draw from global RNGs."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def throughput(frame: pd.DataFrame, seconds: float) -> float:
    """Agent-steps per second of an evaluation (for provenance and benchmarks)."""
    per_episode = frame.groupby("episode")[["steps", "num_agents"]].first()
    return float((per_episode["steps"] * per_episode["num_agents"]).sum() / max(seconds, 1e-9))

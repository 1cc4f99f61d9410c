"""An evaluation as a library call: seats built from SPECs, seeded episodes, the table and its
provenance sidecar (what `daf evaluate` writes), and evaluation chunks merged into one table
(`daf merge-evals`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from daf.errors import UserError
from daf.io import SHA_KEY, ensure_writable, file_sha256, git_commit, package_versions, write_json, write_parquet


@dataclass(frozen=True)
class EvaluationRequest:
    """What to play: `policy` (a SPEC or, with `config`, a policy name) on `mission`, episodes
    `first_episode`..`first_episode + episodes - 1` of base seed `seed`. With `replacement`
    SPECs the candidate controls `candidate_agents` agents and the pool (split by `weights`,
    named by `labels`) the rest."""

    policy: str
    mission: str
    episodes: int
    seed: int
    label: str | None = None
    config: str | None = None
    candidate_agents: int | None = None
    replacement: list[str] = field(default_factory=list)
    weights: list[float] | None = None
    labels: list[str] | None = None
    num_envs: int = 16
    device: str = "cpu"
    first_episode: int = 0
    run: int = 0
    replays: int = 0
    replay_dir: Path | None = None

    def check(self) -> None:
        if self.episodes < 1:
            raise UserError(f"--episodes must be at least 1 (got {self.episodes})")
        if self.seed < 0:
            raise UserError(f"--seed must be non-negative (got {self.seed})")
        if self.first_episode < 0 or self.run < 0:
            raise UserError(f"--first-episode and --run must be non-negative (got {self.first_episode}, {self.run})")


def resolve_policy(text: str, config: str | None):
    """A config policy name, or a SPEC. Returns (label, parsed spec)."""
    from daf.policies import parse_spec

    if config:
        from daf.config.load import load_study

        study = load_study(config)
        if text in study.policies:
            return text, parse_spec(study.policy_spec(text))
    return text, parse_spec(text)


def build_seats(request: EvaluationRequest, mission):
    """The candidate's seat and the replacement pool [(seat, weight), ...] (built seeded, so an
    untrained network is the same for every mission of its shape); names must differ."""
    from daf.evaluation.episodes import build_seat, mission_env_info

    info = mission_env_info(mission)
    label, spec = resolve_policy(request.policy, request.config)
    label = request.label or label
    candidate = build_seat(label, spec, info, request.seed, request.device, mission.name)
    specs = request.replacement
    weights = request.weights or [1.0] * len(specs)
    names = request.labels or [None] * len(specs)
    if len(names) != len(specs) or (request.labels is not None and not all(names)):
        raise UserError(f"--replacement-labels needs {len(specs)} names, one per --replacement")
    pool = []
    for text, weight, name in zip(specs, weights, names):
        r_label, r_spec = resolve_policy(text, request.config)
        seat = build_seat(name or r_label, r_spec, info, request.seed, request.device, mission.name)
        pool.append((seat, weight))
    labels = [seat.label for seat, _ in pool]
    if len(set(labels)) != len(labels) or (label in labels and request.candidate_agents != 0):
        raise UserError(
            f"policy names in one evaluation must differ (candidate '{label}', replacement {labels}); "
            "pass --label to tell them apart"
        )
    return candidate, spec, pool


@dataclass(frozen=True)
class Played:
    """An evaluation's table and what produced it (for the provenance sidecar)."""

    frame: object  # pandas.DataFrame: one row per episode x agent
    mission: object
    candidate: object
    spec: object
    pool: list
    seconds: float


def play(request: EvaluationRequest, progress: bool = False, before_play=None) -> Played:
    """Check the request, build its seats and play its episodes (`before_play()` runs after
    the input checks and before the first episode: where a caller creates its output dir)."""
    from daf.evaluation.episodes import run_episodes
    from daf.missions import get_mission

    request.check()
    mission = get_mission(request.mission)
    candidate, spec, pool = build_seats(request, mission)
    if before_play is not None:
        before_play()
    start = time.perf_counter()
    frame = run_episodes(
        mission,
        candidate,
        episodes=request.episodes,
        base_seed=request.seed,
        replacement=pool or None,
        candidate_agents=request.candidate_agents,
        num_envs=request.num_envs,
        progress=progress,
        replays=request.replays,
        replay_dir=request.replay_dir,
        first_episode=request.first_episode,
        run=request.run,
    )
    return Played(frame, mission, candidate, spec, pool, time.perf_counter() - start)


def store_key(request: EvaluationRequest, mission) -> tuple[str, dict]:
    """The request's content key in an evaluation store and the description it hashes
    (daf.evaluation.store): the seats' policies resolved as `build_seats` resolves them."""
    from daf.evaluation.store import chunk_description, content_key

    label, spec = resolve_policy(request.policy, request.config)
    specs = [resolve_policy(text, request.config) for text in request.replacement]
    weights = request.weights or [1.0] * len(specs)
    names = request.labels or [name for name, _ in specs]
    pool = [(r_spec, w, name) for (_, r_spec), w, name in zip(specs, weights, names)]
    description = chunk_description(request, mission, spec, request.label or label, pool)
    return content_key(description), description


def evaluate_to_file(request: EvaluationRequest, out: Path, command: str, progress: bool = False, store=None) -> dict:
    """Play the request's episodes and write `out` (.parquet) with its `.json` provenance
    sidecar: command, policies and their specs, mission fingerprint, seeds, speed, versions,
    git commit. Returns the run's metrics. With a `store` (daf.evaluation.store.Store) a chunk
    stored under the same content key is copied instead of played (`reused` in the metrics),
    and a played one is stored."""
    from dataclasses import replace

    from daf.evaluation.episodes import episode_seed, throughput
    from daf.missions import get_mission

    if out.suffix != ".parquet":
        raise UserError(f"--out '{out}' must end in .parquet")
    request = replace(request, replay_dir=request.replay_dir or out.with_suffix(".replays"))
    key = description = None
    if store is not None:
        request.check()
        key, description = store_key(request, get_mission(request.mission))
        entry = store.get(key)
        if entry is not None:
            ensure_writable(out)
            sidecar = store.serve(entry, out, request.replay_dir)
            sidecar["store"] = {"key": key, "reused": True, "command": command}
            write_json(out.with_suffix(".json"), sidecar)
            return {"rows": int(sidecar.get("rows", 0)), "episodes": request.episodes, "wall_seconds": 0.0,
                    "agent_steps_per_second": 0.0, "reused": True, "store_key": key}  # fmt: skip
    # the output directory only after the input checks: bad input leaves no directory
    played = play(request, progress, before_play=lambda: ensure_writable(out))
    frame, mission, candidate, spec, pool, seconds = (
        played.frame, played.mission, played.candidate, played.spec, played.pool, played.seconds
    )  # fmt: skip
    episode_range = range(request.first_episode, request.first_episode + request.episodes)
    write_parquet(out, frame)
    sidecar = {
        "command": command,
        "policy": {
            "label": candidate.label,
            "spec": spec.text,
            "class_path": spec.class_path,
            "data": spec.data_path,
        },  # fmt: skip
        "replacement": [
            {"label": seat.label, "spec": text, "weight": w} for (seat, w), text in zip(pool, request.replacement)
        ],
        "candidate_agents": request.candidate_agents,
        "mission": {"name": mission.name, "source": mission.source, "sha256": mission.fingerprint()},
        "episodes": request.episodes,
        "first_episode": request.first_episode,
        "run": request.run,
        "base_seed": request.seed,
        "episode_seeds": [episode_seed(request.seed, k) for k in episode_range],
        "num_envs": request.num_envs,
        "rows": len(frame),
        SHA_KEY: file_sha256(out),  # a reader checks the table against it (daf.io.check_sidecar)
        "wall_seconds": round(seconds, 3),
        "agent_steps_per_second": round(throughput(frame, seconds), 1),
        "versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
    }
    if store is not None:
        sidecar["store"] = {"key": key, "reused": False, "command": command}
    write_json(out.with_suffix(".json"), sidecar)
    if store is not None:
        recorded = [request.replay_dir / f"episode_{k:04d}.npz" for k in range(request.replays)]
        store.put(key, description, out, out.with_suffix(".json"), [r for r in recorded if r.is_file()])
    return {"rows": len(frame), "episodes": request.episodes, "wall_seconds": round(seconds, 3),
            "agent_steps_per_second": round(throughput(frame, seconds), 1), "reused": False}  # fmt: skip


def merge_to_file(chunks: list[str], out: Path, outcomes: Path | None = None, mission: str | None = None) -> dict:
    """Merge one policy x mission's chunks (runs x episode ranges) into `out` with a sidecar
    naming each chunk's provenance; returns rows, runs and episodes. With `outcomes` (and the
    `mission`), also each episode's outcome (`daf.evaluation.outcomes.episode_outcomes`, what `daf
    analyze` writes): the workflow derives it here, in the same job, since it changes exactly
    when the merged table does."""

    from daf.evaluation.episodes import merge_chunks

    if out.suffix != ".parquet":
        raise UserError(f"--out '{out}' must end in .parquet")
    if (outcomes is None) != (mission is None):
        raise UserError("--outcomes and --mission go together (the outcomes need the mission's success rule)")
    ensure_writable(out)
    if outcomes is not None:
        from daf.missions import get_mission

        ensure_writable(outcomes)
        mission_config = get_mission(mission)  # an unknown mission fails before anything is written
    frame = merge_chunks(chunks)
    provenance = [_sidecar(Path(c).with_suffix(".json")) for c in chunks]
    if outcomes is not None:
        from daf.evaluation.outcomes import episode_outcomes

        outcome_table = episode_outcomes(frame, mission_config)
    write_parquet(out, frame)
    if outcomes is not None:
        write_parquet(outcomes, outcome_table)
    runs = sorted(int(r) for r in frame["run"].unique())
    episodes = int(frame["episode"].nunique())
    write_json(out.with_suffix(".json"), {"runs": runs, "episodes": episodes, SHA_KEY: file_sha256(out),
                                          "chunks": dict(zip(chunks, provenance))})  # fmt: skip
    return {"rows": len(frame), "runs": runs, "episodes": episodes}


def _sidecar(path: Path) -> dict | None:
    """A chunk's provenance sidecar (None when absent); one line when it is not JSON."""
    import json

    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"provenance sidecar '{path}' is not valid JSON ({exc}); rerun its evaluation") from None

"""One run of a trial: train with the trial's settings, evaluate the checkpoint on the sweep's
missions, score it. A run that raises (diverged loss, impossible batch shape, ...) is
recorded as *failed* with its error and never gets a score; a pruned run as *pruned*.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from daf.config.training import TrainConfig
from daf.sweeps.search import Pruning

if TYPE_CHECKING:  # daf.stats (scipy) loads where a run is scored
    from daf.stats.bootstrap import Estimate


def run_trial(
    settings: TrainConfig,
    out: Path,
    missions: list[str],
    episodes: int,
    eval_seed: int,
    metric: str,
    replacement: list[tuple[str, str]],
    label: str,
    pruning: Pruning | None = None,
    device: str = "cpu",
    weights: list[float] | None = None,
    num_envs: int = 16,
) -> dict:
    """Train one run of a trial and evaluate it. Errors of the trial itself (divergence,
    impossible settings, a crash in training code) are caught and recorded; errors of the
    machine (disk, memory) propagate so that the scheduler retries the job."""
    from daf.io import write_parquet
    from daf.missions import get_mission
    from daf.training import ppo

    record = {"status": "completed", "error": None, "objective": None}
    try:
        sidecar = ppo.train(
            [get_mission(m) for m in settings.mission_names()],
            settings.steps,
            settings.run_seeds()[0],
            out,
            arch=settings.arch,
            hp=settings.hyperparameters,
            device_name=device,
            progress=False,
            on_update=pruning,
            mission_weights=settings.mission_weights,
            shaping=settings.shaping,
            preset=settings.preset,
        )
        record.update(steps=sidecar["steps"], wall_seconds=sidecar["wall_seconds"])
        if sidecar["stopped_early"]:
            record.update(status="pruned", pruned_at_step=pruning.pruned_at)
        else:
            frame = evaluate_checkpoint(out / "model.pt", missions, episodes, eval_seed, metric, replacement, label,
                                        weights=weights, num_envs=num_envs)  # fmt: skip
            write_parquet(out / "evals.parquet", frame)
            estimate = objective(frame, metric, label)
            record.update(objective=estimate.point, objective_low=estimate.low, objective_high=estimate.high)
            record["checkpoint"] = str(out / "model.pt")
            record["evals"] = str(out / "evals.parquet")
    except (OSError, MemoryError):
        raise
    except Exception as exc:  # the trial's own failure: record it, never score it
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        record.update(status="failed", error=f"{type(exc).__name__}: {message}", traceback=traceback.format_exc())
    if pruning is not None and pruning.reports:
        record["reports"] = pruning.reports
    return record


def evaluate_checkpoint(
    model: Path,
    missions: list[str],
    episodes: int,
    seed: int,
    metric: str,
    replacement: list[tuple[str, str]],
    label: str,
    weights: list[float] | None = None,
    num_envs: int = 16,
) -> pd.DataFrame:
    """Episodes of a checkpoint on each mission, `num_envs` in lockstep; for the vor metric,
    every scenario k = 0..N against the replacement pool [(label, spec), ...], which splits
    the other agents by `weights` (default equal) as in `daf evaluate --replacement-weights`
    (a `scenario` column tells the scenarios apart)."""
    from daf.evaluation.episodes import build_seat, mission_env_info, run_episodes
    from daf.missions import get_mission
    from daf.policies import parse_spec

    weights = [1.0] * len(replacement) if weights is None else list(weights)
    if len(weights) != len(replacement):
        raise ValueError(f"{len(replacement)} replacement policies but {len(weights)} weights")

    frames = []
    for name in missions:
        mission = get_mission(name)
        info = mission_env_info(mission)
        spec = parse_spec(f"class=trained,data={model}")
        candidate = build_seat(label, spec, info, seed)
        if metric != "vor":
            frames.append(run_episodes(mission, candidate, episodes, seed, num_envs=num_envs))
            continue
        pool = [
            (build_seat(r_label, parse_spec(r_spec), info, seed), weight)
            for (r_label, r_spec), weight in zip(replacement, weights)
        ]
        for k in range(mission.config().game.num_agents + 1):
            frame = run_episodes(
                mission, candidate, episodes, seed, replacement=pool, candidate_agents=k, num_envs=num_envs
            )
            frames.append(frame.assign(scenario=f"k{k}"))
    return pd.concat(frames, ignore_index=True)


def objective(
    frame: pd.DataFrame, metric: str, label: str, confidence: float = 0.95, reps: int = 2000, seed: int = 0
) -> Estimate:
    """The objective with a bootstrap CI. Missions weigh equally for the mean and success
    rate; iqm and median pool the episodes of all missions (as rliable does). A trial trained
    with several seeds has one run per seed (`run` column): the CI is then run-level, a
    two-level bootstrap (runs, then episodes within each run), not one network's episodes."""
    from daf.evaluation.table import episode_scores
    from daf.stats.bootstrap import Estimate
    from daf.stats.estimates import bootstrap_estimate
    from daf.stats.scores import run_matrix

    if metric == "vor":
        from daf.stats.vor import vor

        result = vor(frame, label, confidence, reps, seed)
        return Estimate(result["vor"], result["ci_low"], result["ci_high"])
    scores = episode_scores(frame[frame["policy"] == label])
    column = "success" if metric == "success_rate" else "score"
    strata = [run_matrix(part, column) for _, part in scores.groupby("mission", sort=True)]
    statistic = "mean" if metric in ("mean", "success_rate") else metric
    return bootstrap_estimate(strata, statistic, confidence, reps, seed, equal_weight=True)


def run_record(
    outcome: dict, trial: str, seed: int, params: dict, settings: TrainConfig, metric: str, missions: list[str],
    replacement: list[tuple[str, str]], weights: list[float], num_envs: int,
) -> dict:  # fmt: skip
    """run.json: what the run was (trial, seed, hyperparameters, settings, objective, pool),
    its `run_trial` outcome, and the versions and commit that produced it."""
    from daf.io import git_commit, package_versions

    return {
        "trial": trial,
        "seed": seed,
        "params": params,
        "settings": settings.model_dump(mode="json"),
        "metric": metric,
        "missions": missions,
        "replacement": [{"label": label, "spec": spec, "weight": w} for (label, spec), w in zip(replacement, weights)],
        "num_envs": num_envs,
        **outcome,
        "versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
    }

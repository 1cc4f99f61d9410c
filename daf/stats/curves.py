"""Sample-efficiency curves: score against training agent-steps, over training runs.

Input: a curves table, one row per policy x run x checkpoint (agent_steps) x mission x
episode with that episode's `score` (`daf curves` writes it; extra columns are ignored).

Runs are the unit of replication (Agarwal et al. 2021, rliable): the spread between
training seeds is usually larger than the evaluation noise of one network. So at every
checkpoint, per policy x mission:

- `mean`: the mean over runs of each run's mean episode score, with a two-level bootstrap
  CI - draw runs with replacement, then episodes with replacement within each drawn run
  (the two-level scheme of `daf.stats.metrics`, so a curve's last point and the leaderboard
  agree). One run: the episode bootstrap. Resampling both levels counts the evaluation
  noise of a run's mean twice (once in the spread of run means, once in the episode draw),
  so the interval is slightly conservative; resampling runs alone would be badly
  anti-conservative with the 3-5 runs a study affords (Davison & Hinkley 1997, section 3.8).
- `iqm`: rliable's interquartile mean over the score matrix of run means (what
  `plot_sample_efficiency_curve` draws), with the CI from the same replicates. Per
  mission the matrix is one column, so with fewer than 4 runs the IQM trims nothing and
  equals the mean.

With a `normalization` (mission -> reference mean scores (low, high), e.g. a random
policy's and a baseline's evaluation means), `ALL` rows aggregate the normalised scores
(score - low) / (high - low) over missions as rliable does: the run x mission matrix,
runs (then episodes) resampled independently within each mission; the mean gives each
mission the same weight, the IQM pools the matrix's cells. A policy gets an `ALL` row only
at the agent_steps where it has a checkpoint evaluation on every mission of the table, so
every `ALL` point of every policy averages the same missions.

Vectorised: every (cell, mission, run, episode) goes into one NaN-padded array, and a
chunk of cells is resampled by a few array operations, so hundreds of checkpoints with
2,000 replicates take well under a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from daf.errors import UserError
from daf.stats.bootstrap import percentile_interval
from daf.stats.scores import ALL

CURVE_COLUMNS = ["policy", "run", "agent_steps", "mission", "episode", "score"]
SUMMARY_COLUMNS = [
    "policy", "mission", "agent_steps", "runs", "episodes", "mean", "ci_low", "ci_high",
    "iqm", "iqm_low", "iqm_high", "normalized",
]  # fmt: skip
FINAL_VS_BEST_COLUMNS = [
    "policy", "mission", "runs", "final_agent_steps", "final_mean", "final_std", "best_mean", "best_std",
    "best_agent_steps", "best_steps", "best_minus_final",
]  # fmt: skip
FINAL_VS_BEST_RUN_COLUMNS = [
    "policy", "mission", "run", "final_agent_steps", "final_score", "best_agent_steps", "best_score",
]  # fmt: skip
_CELL_BUDGET = 2_000_000  # resampled episode draws held in memory at once
IQM_TRIM = 0.25  # rliable's interquartile mean: 25% trimmed from each end


def check_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """The table's needed columns, validated: one-line UserErrors naming the problem."""
    missing = [c for c in CURVE_COLUMNS if c not in curves.columns]
    if missing:
        raise UserError(f"curves table lacks columns {missing} (needs {', '.join(CURVE_COLUMNS)}; "
                        "is it a `daf curves` parquet?)")  # fmt: skip
    if curves.empty:
        raise UserError(f"curves table is empty: no checkpoint evaluations (columns {', '.join(CURVE_COLUMNS)})")
    table = curves[CURVE_COLUMNS]
    score = pd.to_numeric(table["score"], errors="coerce")
    if score.isna().any():
        row = table[score.isna()].iloc[0]
        raise UserError(f"curves table has a missing or non-numeric score (policy '{row['policy']}', run "
                        f"{row['run']}, agent_steps {row['agent_steps']}, mission '{row['mission']}', "
                        f"episode {row['episode']})")  # fmt: skip
    table = table.assign(score=score.astype(np.float64))
    keys = ["policy", "run", "agent_steps", "mission", "episode"]
    duplicated = table.duplicated(keys)
    if duplicated.any():
        row = table[duplicated].iloc[0]
        raise UserError(f"curves table has two scores for policy '{row['policy']}', run {row['run']}, agent_steps "
                        f"{row['agent_steps']}, mission '{row['mission']}', episode {row['episode']} "
                        "(the same curve file given twice?)")  # fmt: skip
    return table


def _check_settings(confidence: float, reps: int) -> None:
    if not 0 < confidence < 1:
        raise UserError(f"confidence must be between 0 and 1 (got {confidence})")
    if reps < 1:
        raise UserError(f"reps must be at least 1 (got {reps})")


# --- the padded resampling engine ------------------------------------------------------------


def _padded(table: pd.DataFrame, cell_keys: list[str]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Lay out `table` (cell keys, mission, run, episode, score) as V[cell, mission, run,
    episode], NaN-padded, with the episodes of each run (n_eps[cell, mission, run], 0 for
    padding) and the runs of each mission (n_runs[cell, mission], 0 for padding).
    Returns (cells: one row of keys per cell, V, n_eps, n_runs)."""
    table = table.sort_values([*cell_keys, "mission", "run", "episode"], kind="stable")
    cell = table.groupby(cell_keys, sort=True).ngroup().to_numpy()
    stratum = table.groupby([*cell_keys, "mission"], sort=True).ngroup().to_numpy()
    run = table.groupby([*cell_keys, "mission", "run"], sort=True).ngroup().to_numpy()
    # positions within the parent: first stratum of each cell, first run of each stratum, ...
    s_pos = stratum - _first_of(cell, stratum)
    r_pos = run - _first_of(stratum, run)
    e_pos = table.groupby([*cell_keys, "mission", "run"], sort=True).cumcount().to_numpy()
    shape = (cell.max() + 1, s_pos.max() + 1, r_pos.max() + 1, e_pos.max() + 1)
    values = np.full(shape, np.nan)
    values[cell, s_pos, r_pos, e_pos] = table["score"].to_numpy()
    n_eps = np.zeros(shape[:3], dtype=np.int64)
    np.add.at(n_eps, (cell, s_pos, r_pos), 1)
    n_runs = (n_eps > 0).sum(axis=2)
    cells = table.drop_duplicates(cell_keys)[cell_keys].reset_index(drop=True)
    return cells, values, n_eps, n_runs


def _first_of(parent: np.ndarray, child: np.ndarray) -> np.ndarray:
    """For sorted group ids: the smallest `child` id within each row's `parent` group."""
    first = np.full(parent.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, parent, child)
    return first[parent]


def _trimmed_mean(cells: np.ndarray, trim: float) -> np.ndarray:
    """scipy.stats.trim_mean over the last axis, ignoring NaN (padding): per row, drop
    floor(trim * n) values from each end of the n non-NaN ones, average the rest."""
    n = (~np.isnan(cells)).sum(axis=-1)
    ordered = np.sort(cells, axis=-1)  # NaN last
    total = np.concatenate([np.zeros((*cells.shape[:-1], 1)), np.cumsum(np.nan_to_num(ordered), axis=-1)], axis=-1)
    cut = np.floor(trim * n).astype(np.int64)
    upper = np.take_along_axis(total, (n - cut)[..., None], axis=-1)[..., 0]
    lower = np.take_along_axis(total, cut[..., None], axis=-1)[..., 0]
    return (upper - lower) / (n - 2 * cut)


def _aggregates(run_means: np.ndarray, run_valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, iqm) over the trailing (mission, run) axes of run means: the mean of mission
    means (each mission weighs the same) and the IQM of all cells of the score matrix."""
    runs = run_valid.sum(axis=-1)
    mission_mean = np.where(run_valid, run_means, 0.0).sum(axis=-1) / np.maximum(runs, 1)
    missions = (runs > 0).sum(axis=-1)
    mean = np.where(runs > 0, mission_mean, 0.0).sum(axis=-1) / missions
    flat = np.where(run_valid, run_means, np.nan).reshape(*run_means.shape[:-2], -1)
    return mean, _trimmed_mean(flat, IQM_TRIM)


def _two_level_bootstrap(
    values: np.ndarray, n_eps: np.ndarray, n_runs: np.ndarray, confidence: float, reps: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Point estimates and percentile CIs of the mean and the IQM for every cell of a padded
    V[cell, mission, run, episode]: per replicate and mission, draw the mission's runs with
    replacement, then each drawn run's episodes with replacement."""
    n_cells, n_missions, max_runs, max_eps = values.shape
    run_valid = n_eps > 0
    run_means = np.nansum(values, axis=-1) / np.maximum(n_eps, 1)
    mean, iqm = _aggregates(run_means, run_valid)
    filled = np.nan_to_num(values).reshape(-1)
    slot_valid = np.arange(max_runs) < n_runs[..., None]  # (cell, mission, slot)
    boot_mean = np.empty((reps, n_cells))
    boot_iqm = np.empty((reps, n_cells))
    per_cell = n_missions * max_runs * max_eps
    chunk = max(1, _CELL_BUDGET // (reps * per_cell))
    for first in range(0, n_cells, chunk):
        part = slice(first, min(first + chunk, n_cells))
        k = part.stop - part.start
        runs_here = n_runs[part][None, :, :, None]  # (1, k, mission, 1)
        picked = np.minimum((rng.random((reps, k, n_missions, max_runs)) * runs_here).astype(np.int64),
                            np.maximum(runs_here - 1, 0))  # fmt: skip
        cell_idx = np.arange(part.start, part.stop)[None, :, None, None]
        mission_idx = np.arange(n_missions)[None, None, :, None]
        width = n_eps[cell_idx, mission_idx, picked]  # episodes of each drawn run
        shape = (reps, k, n_missions, max_runs, max_eps)
        ragged = bool((n_eps[part][run_valid[part]] != max_eps).any())
        if ragged:  # uniform doubles scaled to each drawn run's episodes
            episode = (rng.random(shape) * width[..., None]).astype(np.int64)
        else:  # every run has max_eps episodes: integer draws, 4x faster
            episode = rng.integers(0, max_eps, shape, dtype=np.int32)
        base = ((cell_idx * n_missions + mission_idx) * max_runs + picked) * max_eps
        drawn = filled[base[..., None] + episode]
        if ragged:  # zero the episode slots beyond each drawn run's episodes
            drawn[np.arange(max_eps) >= width[..., None]] = 0.0
        means = drawn.sum(axis=-1) / np.maximum(width, 1)
        boot_mean[:, part], boot_iqm[:, part] = _aggregates(means, np.broadcast_to(slot_valid[part], means.shape))
    mean_low, mean_high = percentile_interval(boot_mean, confidence, axis=0)
    iqm_low, iqm_high = percentile_interval(boot_iqm, confidence, axis=0)
    return {"mean": mean, "ci_low": mean_low, "ci_high": mean_high, "iqm": iqm, "iqm_low": iqm_low,
            "iqm_high": iqm_high}  # fmt: skip


def _summarize(table: pd.DataFrame, cell_keys: list[str], confidence: float, reps: int, rng) -> pd.DataFrame:
    cells, values, n_eps, n_runs = _padded(table, cell_keys)
    stats = _two_level_bootstrap(values, n_eps, n_runs, confidence, reps, rng)
    runs = table.groupby(cell_keys, sort=True)["run"].nunique().to_numpy()
    episodes = table.groupby(cell_keys, sort=True)["episode"].nunique().to_numpy()
    return cells.assign(runs=runs, episodes=episodes, **stats)


# --- public API ---------------------------------------------------------------------------------


def normalize_curves(curves: pd.DataFrame, normalization: Mapping[str, tuple[float, float]]) -> pd.DataFrame:
    """Scores mapped per mission to (score - low) / (high - low)."""
    missions = sorted(curves["mission"].unique())
    lacking = [m for m in missions if m not in normalization]
    if lacking:
        raise UserError(f"normalization lacks mission(s) {', '.join(map(repr, lacking))}; "
                        f"it needs (low, high) reference means for every mission: {', '.join(missions)}")  # fmt: skip
    low = curves["mission"].map({m: float(normalization[m][0]) for m in missions})
    high = curves["mission"].map({m: float(normalization[m][1]) for m in missions})
    for mission in missions:
        lo, hi = normalization[mission]
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo == hi:
            raise UserError(f"cannot normalise mission '{mission}': reference means low={lo:g} and high={hi:g} "
                            "must be finite and different")  # fmt: skip
    return curves.assign(score=(curves["score"] - low) / (high - low))


def summarize_curves(
    curves: pd.DataFrame,
    normalization: Mapping[str, tuple[float, float]] | None = None,
    confidence: float = 0.95,
    reps: int = 2_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per policy x mission x agent_steps: runs, episodes, mean over runs (two-level bootstrap
    CI) and IQM of the run-mean score matrix (CI from the same replicates); with a
    `normalization`, `ALL` rows over normalised scores (see the module docstring).

    Deterministic for a given table and seed (one generator for the whole table)."""
    _check_settings(confidence, reps)
    table = check_curves(curves)
    rng = np.random.default_rng(seed)
    frames = [_summarize(table, ["policy", "mission", "agent_steps"], confidence, reps, rng).assign(normalized=False)]
    if normalization is not None:
        normalized = normalize_curves(table, normalization)
        missions = normalized["mission"].nunique()
        covered = normalized.groupby(["policy", "agent_steps"])["mission"].transform("nunique") == missions
        complete = normalized[covered]
        if not complete.empty:
            summary = _summarize(complete, ["policy", "agent_steps"], confidence, reps, rng)
            frames.append(summary.assign(mission=ALL, normalized=True))
    out = pd.concat(frames, ignore_index=True)[SUMMARY_COLUMNS]
    out["runs"] = out["runs"].astype(np.int64)
    out["episodes"] = out["episodes"].astype(np.int64)
    return out.sort_values(["policy", "mission", "agent_steps"], kind="stable", ignore_index=True)


def final_vs_best(curves: pd.DataFrame, per_run: bool = False) -> pd.DataFrame:
    """Does training end at its best? Per policy x mission x run, the final checkpoint's
    mean episode score and the best checkpoint (highest mean score; the earliest on ties).

    Aggregated (default), one row per policy x mission: `final_mean` / `best_mean` (and
    sample standard deviations, NaN with one run) over runs, `final_agent_steps` and
    `best_agent_steps` as the lower median over runs (an actual checkpoint),
    `best_steps` the per-run list ("run:agent_steps, ..."), and `best_minus_final`.

    Caveat for readers: picking the best of many checkpoints on the same episodes that
    score it is selection on noise, so `best_mean` is biased upward; a fair best-checkpoint
    score needs fresh episodes. A `best_minus_final` within the curve's CI width is noise."""
    table = check_curves(curves)
    points = table.groupby(["policy", "mission", "run", "agent_steps"], sort=True)["score"].mean().reset_index()
    keys = ["policy", "mission", "run"]
    final = points.loc[points.groupby(keys, sort=True)["agent_steps"].idxmax()]
    # sorted by agent_steps within each run: idxmax returns the earliest of tied best scores
    best = points.loc[points.groupby(keys, sort=True)["score"].idxmax()]
    runs = (
        final[keys]
        .reset_index(drop=True)
        .assign(
            final_agent_steps=final["agent_steps"].to_numpy(),
            final_score=final["score"].to_numpy(),
            best_agent_steps=best["agent_steps"].to_numpy(),
            best_score=best["score"].to_numpy(),
        )[FINAL_VS_BEST_RUN_COLUMNS]
    )
    if per_run:
        return runs
    rows = []
    for (policy, mission), part in runs.groupby(["policy", "mission"], sort=True):
        many = len(part) > 1
        rows.append({
            "policy": policy, "mission": mission, "runs": len(part),
            "final_agent_steps": _lower_median(part["final_agent_steps"]),
            "final_mean": float(part["final_score"].mean()),
            "final_std": float(part["final_score"].std(ddof=1)) if many else np.nan,
            "best_mean": float(part["best_score"].mean()),
            "best_std": float(part["best_score"].std(ddof=1)) if many else np.nan,
            "best_agent_steps": _lower_median(part["best_agent_steps"]),
            "best_steps": ", ".join(f"{r}:{s}" for r, s in zip(part["run"], part["best_agent_steps"])),
            "best_minus_final": float((part["best_score"] - part["final_score"]).mean()),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=FINAL_VS_BEST_COLUMNS)


def _lower_median(values: pd.Series) -> int:
    ordered = np.sort(values.to_numpy())
    return int(ordered[(ordered.size - 1) // 2])


def reference_means(references: pd.DataFrame, low: str, high: str, curves: pd.DataFrame) -> dict:
    """Per mission of `curves`: (low's, high's) mean episode score in the `references`
    evaluations, the pair that normalises its scores (low -> 0, high -> 1)."""
    from daf.evaluation.table import episode_scores

    means = episode_scores(references).groupby(["policy", "mission"])["score"].mean()
    normalization = {}
    for mission in sorted(curves["mission"].unique()):
        missing = [ref for ref in (low, high) if (ref, mission) not in means.index]
        if missing:
            raise UserError(f"--references lack {', '.join(missing)} on mission '{mission}' (needed to normalise)")
        normalization[mission] = (float(means[(low, mission)]), float(means[(high, mission)]))
    return normalization


def write_curve_tables(
    out: Path, curves: pd.DataFrame, normalization: dict | None, confidence: float, reps: int, seed: int
) -> dict:
    """`out/{policy}.parquet` (each policy's curve rows), `summary.parquet` (summarize_curves)
    and `final_vs_best.parquet`; returns row and policy counts."""
    from daf.io import write_parquet

    summary = summarize_curves(curves, normalization, confidence=confidence, reps=reps, seed=seed)
    for policy, part in curves.groupby("policy", sort=True):
        write_parquet(out / f"{policy}.parquet", part.reset_index(drop=True))
    write_parquet(out / "summary.parquet", summary)
    write_parquet(out / "final_vs_best.parquet", final_vs_best(curves))
    return {"rows": len(summary), "policies": int(curves["policy"].nunique())}


# --- Training logs: the smoothed training curve and the time it takes to reach a level ---------

SMOOTH_EPISODES = 32  # a fixed count of episodes, not a fraction of the run: budgets stay comparable


def smoothed_training_reward(log: pd.DataFrame, window: int = SMOOTH_EPISODES) -> pd.DataFrame:
    """The training curve of a `train_log.parquet`: at every update that ended episodes, the
    mean episode reward (the missions' own) over at least the last `window` episodes: the
    fewest most recent updates that ended that many (all so far at the start), each update's
    mean weighted by its episode count. Columns agent_steps, wall_seconds, reward."""
    if window < 1:
        raise ValueError(f"window must be >= 1 (got {window})")
    ended = log[log["episodes"] > 0]
    counts = ended["episodes"].to_numpy(dtype=np.float64)
    sums = ended["episode_reward"].to_numpy(dtype=np.float64) * counts  # reward summed over an update's episodes
    episodes, totals = np.cumsum(counts), np.cumsum(sums)
    episodes_before, totals_before = episodes - counts, totals - sums  # of the updates before each
    # the window ending at update i starts at the latest update j with episodes[i] - episodes_before[j] >= window
    first = np.maximum(np.searchsorted(episodes_before, episodes - window, side="right") - 1, 0)
    reward = (totals - totals_before[first]) / (episodes - episodes_before[first])
    return pd.DataFrame({
        "agent_steps": ended["agent_steps"].to_numpy(),
        "wall_seconds": ended["wall_seconds"].to_numpy(),
        "reward": reward,
    })  # fmt: skip


def time_to_threshold(log: pd.DataFrame, threshold: float, window: int = SMOOTH_EPISODES) -> tuple[float, float]:
    """(agent-steps, wall seconds) at the first update where the smoothed training curve
    (`smoothed_training_reward`) reaches `threshold`; (inf, inf) when it never does (a
    right-censored time: the run did not get there within its budget)."""
    curve = smoothed_training_reward(log, window)
    reached = np.flatnonzero(curve["reward"].to_numpy() >= threshold)
    if reached.size == 0:
        return float("inf"), float("inf")
    first = reached[0]
    return float(curve["agent_steps"].iloc[first]), float(curve["wall_seconds"].iloc[first])

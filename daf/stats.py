"""Statistics over evaluation tables: pure functions over numpy / pandas.

The unit of analysis is the episode: a policy's score in an episode is the mean
reward of the agents it controlled. Agents within an episode share a map and
interact, so they are not independent samples; episodes are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from daf.errors import UserError

SCORE_COLUMNS = ["policy", "mission", "episode", "seed", "score", "success"]
LEADERBOARD_COLUMNS = [
    "policy",
    "mission",
    "episodes",
    "mean",
    "ci_low",
    "ci_high",
    "std",
    "success_rate",
    "success_low",
    "success_high",
]


def episode_scores(evals: pd.DataFrame) -> pd.DataFrame:
    """One row per policy x mission x episode: mean reward of the policy's agents."""
    missing = {"policy", "mission", "episode", "seed", "reward", "success"} - set(evals.columns)
    if missing:
        raise UserError(f"evaluation table lacks columns {sorted(missing)} (is it a `daf evaluate` parquet?)")
    grouped = evals.groupby(["policy", "mission", "episode"], sort=True)
    scores = grouped.agg(seed=("seed", "first"), score=("reward", "mean"), success=("success", "first"))
    return scores.reset_index()[SCORE_COLUMNS]


def bootstrap_ci(
    values: np.ndarray,
    confidence: float = 0.95,
    reps: int = 10_000,
    seed: int = 0,
    statistic=np.mean,
) -> tuple[float, float]:
    """Percentile bootstrap CI of `statistic` (a numpy reducer taking `axis=`).

    One observation gives a degenerate interval at that value; zero observations are
    an error, never a silent NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise UserError("cannot compute a confidence interval from zero episodes")
    if values.size == 1 or np.all(values == values[0]):
        point = float(statistic(values))
        return point, point
    rng = np.random.default_rng(seed)
    boot = np.empty(reps)
    chunk = max(1, 2_000_000 // values.size)  # bound memory at ~16 MB of float64
    for start in range(0, reps, chunk):
        stop = min(reps, start + chunk)
        idx = rng.integers(0, values.size, size=(stop - start, values.size))
        boot[start:stop] = statistic(values[idx], axis=1)
    alpha = 1.0 - confidence
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion."""
    if n <= 0:
        raise UserError("cannot compute a success-rate interval from zero episodes")
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} outside 0..{n}")
    z = float(sps.norm.ppf(1 - (1 - confidence) / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def leaderboard(scores: pd.DataFrame, confidence: float = 0.95, reps: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """Per policy x mission: mean episode score with bootstrap CI, success rate with Wilson CI."""
    rows = []
    for (policy, mission), group in scores.groupby(["policy", "mission"], sort=True):
        values = group["score"].to_numpy()
        low, high = bootstrap_ci(values, confidence, reps, seed)
        wins = int(group["success"].sum())
        s_low, s_high = wilson_interval(wins, len(group), confidence)
        rows.append(
            {
                "policy": policy,
                "mission": mission,
                "episodes": len(group),
                "mean": float(values.mean()),
                "ci_low": low,
                "ci_high": high,
                "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "success_rate": wins / len(group),
                "success_low": s_low,
                "success_high": s_high,
            }
        )
    return pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS)

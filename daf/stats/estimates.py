"""Estimates with confidence intervals: a statistic (daf.stats.metrics) of the pooled strata
with its stratified, two-level bootstrap CI (daf.stats.bootstrap), rliable's score-matrix
aggregates, the probability of improvement, performance profiles, success-rate (Wilson)
intervals, and quantiles of right-censored samples.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats as sps

from daf.errors import UserError
from daf.stats.bootstrap import (
    Estimate,
    Interval,
    as_runs,
    bca_interval,
    jackknife_units,
    multinomial_counts,
    nested_counts,
    percentile_interval,
)
from daf.stats.metrics import (
    STATISTICS,
    cell_statistic,
    comparison_matrix,
    counts_fraction_above,
    mean_of_strata,
    probability_of_improvement,
)


def bootstrap_estimate(
    strata: list[np.ndarray],
    statistic: str | Callable = "mean",
    confidence: float = 0.95,
    reps: int = 10_000,
    seed: int = 0,
    interval: Interval = "percentile",
    equal_weight: bool = False,
) -> Estimate:
    """Point estimate and stratified-bootstrap CI of `statistic` over the pooled strata.

    `strata` is a list of samples (e.g. one per mission): 1-D (one run's episodes; episodes
    are resampled) or 2-D runs x episodes (two-level: runs, then episodes within each drawn
    run; `nested_counts`). Runs of a stratum have equally many episodes, so the pooled mean
    is the mean of run means. With `equal_weight`, the `mean` gives every stratum the same
    weight (a mean of stratum means); other statistics pool the observations. BCa's
    jackknife leaves out one top-level unit (a run, or an episode of a single-run stratum).
    """
    samples = as_runs(strata)
    values = np.concatenate([sample.ravel() for sample in samples])
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    sizes = [sample.size for sample in samples]
    shapes = [sample.shape for sample in samples]
    stat = STATISTICS[statistic] if isinstance(statistic, str) else statistic
    if equal_weight and statistic == "mean" and len(samples) > 1:
        stat = mean_of_strata(sizes, order, values)
    point = float(stat(np.ones(values.size), sorted_values)[0])
    if values.size == 1 or np.all(values == values[0]):
        return Estimate(point, point, point)
    rng = np.random.default_rng(seed)
    boot = np.empty(reps)
    chunk = max(1, 4_000_000 // values.size)  # bound memory
    position = np.empty(values.size, dtype=np.int64)
    position[order] = np.arange(values.size)  # observation -> its column among the sorted values
    for start in range(0, reps, chunk):
        counts = nested_counts(shapes, min(chunk, reps - start), rng, position)
        boot[start : start + counts.shape[0]] = stat(counts, sorted_values)
    units = jackknife_units(shapes) if interval == "bca" else None
    if units is not None:
        n_units = int(units.max()) + 1
        jackknife = np.concatenate([
            stat((units[None, order] != np.arange(i, min(i + 512, n_units))[:, None]).astype(np.int32), sorted_values)
            for i in range(0, n_units, 512)
        ])  # fmt: skip
        low, high = bca_interval(boot, point, jackknife, confidence)
    else:
        low, high = percentile_interval(boot, confidence)
    return Estimate(point, low, high)


def score_matrix_estimate(
    strata: list[np.ndarray],
    statistic: str = "iqm",
    confidence: float = 0.95,
    reps: int = 10_000,
    seed: int = 0,
    interval: Interval = "percentile",
) -> Estimate:
    """An aggregate over missions of rliable's score matrix (Agarwal et al. 2021), with CI.

    `strata` holds one (runs, episodes) matrix per mission. A cell of the score matrix is a
    run's mean episode score on a mission; the statistic (`cell_statistic`) is over cells.
    The CI resamples runs within each mission (rliable's StratifiedBootstrap) and, when runs
    have several episodes, episodes within each drawn run: the cell values are then
    recomputed per replicate. With one episode per run this is `bootstrap_estimate` over
    the run values (the same numbers, draw for draw)."""
    samples = as_runs(strata)
    runs = [sample.shape[0] for sample in samples]
    if all(sample.shape[1] == 1 for sample in samples) and statistic != "median":
        return bootstrap_estimate([sample[:, 0] for sample in samples], statistic, confidence, reps, seed,
                                  interval, equal_weight=True)  # fmt: skip
    stat = cell_statistic(statistic, runs)
    cells = np.concatenate([sample.mean(axis=1) for sample in samples])
    point = float(stat(cells[None, :])[0])
    values = np.concatenate([sample.ravel() for sample in samples])
    if np.all(values == values[0]):
        return Estimate(point, point, point)
    rng = np.random.default_rng(seed)
    boot = np.empty(reps)
    chunk = max(1, 4_000_000 // values.size)  # bound memory
    for start in range(0, reps, chunk):
        k = min(chunk, reps - start)
        replicate = []
        for sample in samples:  # per mission: draw runs, then episodes within each drawn run
            n_runs, n_episodes = sample.shape
            picked = (rng.random((k, n_runs)) * n_runs).astype(np.int64) * n_episodes
            episodes = (rng.random((k, n_runs, n_episodes)) * n_episodes).astype(np.int64)
            replicate.append(sample.ravel()[picked[:, :, None] + episodes].mean(axis=2))
        boot[start : start + k] = stat(np.concatenate(replicate, axis=1))
    if interval == "bca" and min(runs) > 1:  # jackknife: leave one run (one cell) out
        starts = np.cumsum([0, *runs[:-1]])
        jackknife = np.array([
            cell_statistic(statistic, [r - (m == mission) for m, r in enumerate(runs)])(np.delete(cells, i)[None])[0]
            for mission, first in enumerate(starts) for i in range(first, first + runs[mission])
        ])  # fmt: skip
        low, high = bca_interval(boot, point, jackknife, confidence)
    else:
        low, high = percentile_interval(boot, confidence)
    return Estimate(point, low, high)


def bootstrap_ci(values, confidence: float = 0.95, reps: int = 10_000, seed: int = 0, statistic: str = "mean"):
    """Percentile bootstrap CI of one sample (kept for callers of the summary table)."""
    estimate = bootstrap_estimate([np.asarray(values)], statistic, confidence, reps, seed)
    return estimate.low, estimate.high


def poi_estimate(
    pairs: list[tuple[np.ndarray, np.ndarray]],
    confidence: float = 0.95,
    reps: int = 10_000,
    seed: int = 0,
    paired: bool = False,
) -> Estimate:
    """Average over missions of P(X > Y), with a CI from resampling episodes within each
    mission. `paired` (x[i] and y[i] played on the same map, common random numbers)
    resamples episode indices jointly, so a replicate keeps matched episodes together;
    otherwise X's and Y's episodes are resampled independently, which is rliable's scheme
    (`StratifiedIndependentBootstrap`)."""
    if not pairs or any(len(x) == 0 or len(y) == 0 for x, y in pairs):
        raise UserError("probability of improvement needs episodes of both policies on every mission")
    point = float(np.mean([probability_of_improvement(x, y) for x, y in pairs]))
    rng = np.random.default_rng(seed)
    boot = np.zeros(reps)
    for x, y in pairs:
        if paired and len(x) != len(y):
            raise ValueError("paired resampling needs equally many episodes of X and Y")
        c = comparison_matrix(x, y)
        wx = multinomial_counts(len(x), reps, rng).astype(np.float64)
        wy = wx if paired else multinomial_counts(len(y), reps, rng).astype(np.float64)
        boot += np.einsum("rj,rj->r", wx @ c, wy) / (len(x) * len(y))
    boot /= len(pairs)
    low, high = percentile_interval(boot, confidence)
    return Estimate(point, low, high)


def performance_profile(
    strata: list[np.ndarray],
    taus: np.ndarray,
    confidence: float = 0.95,
    reps: int = 2_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Fraction of episodes scoring above each tau, with a stratified-bootstrap CI band.
    Strata as in `bootstrap_estimate`: 2-D (runs x episodes) ones are resampled on two levels."""
    samples = as_runs(strata)
    values = np.concatenate([sample.ravel() for sample in samples])
    taus = np.asarray(taus, dtype=np.float64)
    point = counts_fraction_above(np.ones(values.size), values, taus)[0]
    rng = np.random.default_rng(seed)
    boot = counts_fraction_above(nested_counts([sample.shape for sample in samples], reps, rng), values, taus)
    low, high = percentile_interval(boot, confidence, axis=0)
    return pd.DataFrame({"tau": taus, "fraction": point, "low": low, "high": high})


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
    # the bounds are exactly 0 (1) with no successes (failures); rounding would leave 5e-17
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return float(low), float(high)


def clear_winner(best: tuple[float, float], runner_up: tuple[float, float], maximize: bool = True) -> bool:
    """The one rule for "the best is clearly better" (the report's best policy per mission, a
    sweep's best trial): the CIs (low, high) do not overlap, the best's on the better side."""
    return best[0] > runner_up[1] if maximize else best[1] < runner_up[0]


def censored_quantiles(values, quantiles) -> np.ndarray:
    """Quantiles of a sample where `inf` marks a right-censored value (e.g. a run that never
    reached a threshold within its budget). The q-quantile is the smallest observed value
    with at least a share q of the sample at or below it: the time by which that share of
    runs got there (Kaplan-Meier's estimate when every censoring is at the end of the
    budget, after every observed time). It is `inf`, not a made-up number, when fewer than
    that share got there."""
    sample = np.asarray(values, dtype=np.float64)
    if sample.size == 0:
        raise UserError("cannot compute quantiles of zero values")
    if np.isnan(sample).any():
        raise ValueError("NaN in a censored sample: mark a censored value with inf")
    return np.quantile(sample, np.asarray(quantiles, dtype=np.float64), method="inverted_cdf")

"""The bootstrap machinery (rliable's library.py): resampling as multinomial counts, and the
percentile and BCa intervals. Statistics live in daf.stats.metrics, estimates with their
intervals in daf.stats.estimates.

A bootstrap replicate of a sample of N observations is a vector of multinomial counts (how
often each observation was drawn). Every statistic DAF bootstraps - mean, median,
interquartile mean, optimality gap, performance profile, probability of improvement - is a
function of (counts, values), so R replicates are one `(R, N)` count matrix and each
statistic is a few vectorised numpy operations (a matrix product for the probability of
improvement). Stratified resampling (episodes within each mission) is one multinomial draw
per stratum. This is what makes 10k-replicate intervals cheap. The two-level bootstrap
stays a count matrix: drawing K copies of a run and then E episodes within each copy draws
K * E episodes of that run, so one replicate is still one count vector over the
observations (`nested_counts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

from daf.errors import UserError

Interval = Literal["percentile", "bca"]


def multinomial_counts(n: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """(reps, n) counts of n draws with replacement from n observations (one bincount)."""
    return stratified_counts([n], reps, rng)


def stratified_counts(
    sizes: list[int], reps: int, rng: np.random.Generator, position: np.ndarray | None = None
) -> np.ndarray:
    """Resample within each stratum (e.g. episodes within a mission), strata side by side:
    (reps, sum(sizes)) counts. With `position` (observation -> column), the columns come
    out in that order (e.g. sorted by value) without a separate reordering pass."""
    return _count_draws(_stratified_draws(sizes, reps, rng), int(sum(sizes)), position)


def nested_counts(
    shapes: list[tuple[int, int]], reps: int, rng: np.random.Generator, position: np.ndarray | None = None
) -> np.ndarray:
    """Two-level stratified resampling: within each stratum (mission) of `runs x episodes`
    observations (laid out run by run), draw `runs` runs with replacement, then `episodes`
    episodes with replacement within each drawn run. (reps, N) counts, N = sum of sizes.

    With one run in every stratum this is `stratified_counts` over episodes, with one
    episode in every run `stratified_counts` over runs: the same draws, so the same
    intervals as the one-level bootstraps for the same seed."""
    runs = [int(r) for r, _ in shapes]
    episodes = [int(e) for _, e in shapes]
    if all(r == 1 for r in runs):
        return stratified_counts(episodes, reps, rng, position)
    if all(e == 1 for e in episodes):
        return stratified_counts(runs, reps, rng, position)
    total = int(np.dot(runs, episodes))
    run_width = np.repeat(episodes, runs)  # episodes of each run (all runs of the pooled sample)
    run_first = np.cumsum([0, *run_width[:-1]])  # its first observation
    picked = _stratified_draws(runs, reps, rng)  # (reps, runs): which run fills each run slot
    slot = np.repeat(np.arange(run_width.size), run_width)  # observation slot -> its run slot
    draws = run_first[picked][:, slot] + (rng.random((reps, total)) * run_width[slot]).astype(np.int64)
    return _count_draws(draws, total, position)


def _stratified_draws(sizes: list[int], reps: int, rng: np.random.Generator) -> np.ndarray:
    """(reps, sum(sizes)) indices drawn with replacement within each stratum. Uniform
    doubles scaled to each stratum: as good as integers(), twice as fast."""
    starts = np.repeat(np.cumsum([0, *sizes[:-1]]), sizes)
    return starts + (rng.random((reps, int(sum(sizes)))) * np.repeat(sizes, sizes)).astype(np.int64)


def _count_draws(draws: np.ndarray, total: int, position: np.ndarray | None) -> np.ndarray:
    """Counts of each observation per row of `draws` (one bincount over offset rows)."""
    reps = draws.shape[0]
    if position is not None:
        draws = position[draws]
    draws += (np.arange(reps, dtype=np.int64) * total)[:, None]
    return np.bincount(draws.ravel(), minlength=reps * total).reshape(reps, total).astype(np.int32)


def percentile_interval(boot: np.ndarray, confidence: float, axis: int | None = None):
    """The central `confidence` range of bootstrap replicates `boot` (R,) -> (low, high) floats;
    with `axis`, of each column of (R, K) -> two (K,) arrays. The one percentile interval of DAF."""
    alpha = 1.0 - confidence
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=axis)
    return (float(low), float(high)) if axis is None else (low, high)


def bca_interval(boot: np.ndarray, point: float, jackknife: np.ndarray, confidence: float) -> tuple[float, float]:
    """Bias-corrected and accelerated interval (Efron 1987), as scipy.stats.bootstrap computes it."""
    alpha = 1.0 - confidence
    z0 = special.ndtri(np.mean(boot < point))
    dev = jackknife.mean() - jackknife
    denom = 6.0 * np.sum(dev**2) ** 1.5
    accel = np.sum(dev**3) / denom if denom > 0 else 0.0
    if not np.isfinite(z0):  # every replicate on one side of the estimate: fall back to percentile
        return percentile_interval(boot, confidence)
    qs = []
    for z_alpha in (special.ndtri(alpha / 2), special.ndtri(1 - alpha / 2)):
        qs.append(special.ndtr(z0 + (z0 + z_alpha) / (1 - accel * (z0 + z_alpha))))
    low, high = np.quantile(boot, qs)
    return float(low), float(high)


@dataclass(frozen=True)
class Estimate:
    point: float
    low: float
    high: float


def as_runs(strata: list) -> list[np.ndarray]:
    """Each stratum as a float (runs, episodes) matrix; a 1-D sample is one run's episodes.
    Zero observations are an error, never a silent NaN."""
    samples = []
    for stratum in strata:
        sample = np.asarray(stratum, dtype=np.float64)
        if sample.ndim not in (1, 2):
            raise ValueError(f"a stratum must be 1-D (episodes) or 2-D (runs x episodes), not {sample.ndim}-D")
        samples.append(sample[None, :] if sample.ndim == 1 else sample)
    if not samples or any(sample.size == 0 for sample in samples):
        raise UserError("cannot compute a confidence interval from zero episodes")
    return samples


def jackknife_units(shapes: list[tuple[int, int]]) -> np.ndarray | None:
    """Observation -> its top-level resampling unit (a run where the stratum has several, else
    an episode), for the leave-one-unit-out jackknife of BCa; None when a stratum has a single
    unit (leaving it out would empty the stratum)."""
    units, first = [], 0
    for runs, episodes in shapes:
        count = runs if runs > 1 else episodes
        if count < 2:
            return None
        units.append(first + (np.repeat(np.arange(runs), episodes) if runs > 1 else np.arange(episodes)))
        first += count
    return np.concatenate(units)

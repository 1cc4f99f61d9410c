"""Statistics over evaluation tables: pure functions over numpy / pandas.

The unit of analysis is the episode: a policy's score in an episode is the mean reward
of the agents it controlled. Agents within an episode share a map and interact, so they
are not independent samples; episodes are.

Bootstrap engine. A bootstrap replicate of a sample of N observations is a vector of
multinomial counts (how often each observation was drawn). Every statistic here - mean,
median, interquartile mean, optimality gap, performance profile, probability of
improvement - is a function of (counts, values), so R replicates are one `(R, N)` count
matrix and each statistic is a few vectorised numpy operations (a matrix product for the
probability of improvement). Stratified resampling (episodes within each mission) is one
multinomial draw per stratum. This is what makes 10k-replicate intervals cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

from daf.errors import UserError

SCORE_COLUMNS = ["policy", "mission", "episode", "seed", "score", "success"]
LEADERBOARD_COLUMNS = [
    "policy", "mission", "episodes", "mean", "ci_low", "ci_high", "std",
    "success_rate", "success_low", "success_high",
]  # fmt: skip
ALL = "ALL"  # the mission label of aggregates over missions
Interval = Literal["percentile", "bca"]


# --- scores ------------------------------------------------------------------------------


def episode_scores(evals: pd.DataFrame) -> pd.DataFrame:
    """One row per policy x mission x episode: mean reward of the policy's agents."""
    missing = {"policy", "mission", "episode", "seed", "reward", "success"} - set(evals.columns)
    if missing:
        raise UserError(f"evaluation table lacks columns {sorted(missing)} (is it a `daf evaluate` parquet?)")
    grouped = evals.groupby(["policy", "mission", "episode"], sort=True)
    scores = grouped.agg(seed=("seed", "first"), score=("reward", "mean"), success=("success", "first"))
    return scores.reset_index()[SCORE_COLUMNS]


def normalize_scores(scores: pd.DataFrame, low: str, high: str) -> pd.DataFrame:
    """Per mission, map `low`'s mean score to 0 and `high`'s to 1 (e.g. random -> baseline)."""
    means = scores.groupby(["mission", "policy"])["score"].mean()
    out = []
    for mission, part in scores.groupby("mission", sort=True):
        for ref in (low, high):
            if (mission, ref) not in means.index:
                raise UserError(f"cannot normalise scores on mission '{mission}': reference policy '{ref}' has no "
                                f"evaluation there (normalization: low={low}, high={high})")  # fmt: skip
        lo, hi = means[(mission, low)], means[(mission, high)]
        if hi == lo:
            raise UserError(
                f"cannot normalise scores on mission '{mission}': '{low}' and '{high}' have the same mean ({lo:g})"
            )
        out.append(part.assign(score=(part["score"] - lo) / (hi - lo)))
    return pd.concat(out, ignore_index=True)


# --- statistics of (counts, values) --------------------------------------------------------
# `counts` is (R, N) (R replicates; a 1-D vector means one), `values` (N,) sorted ascending
# where a statistic needs order. Each returns (R,).


def _rows(counts: np.ndarray) -> np.ndarray:
    return counts[None, :] if counts.ndim == 1 else counts


def counts_mean(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    counts = _rows(counts).astype(np.float64)
    return counts @ values / counts.sum(axis=1)


def counts_trimmed_mean(counts: np.ndarray, values: np.ndarray, trim: float) -> np.ndarray:
    """Mean after removing floor(trim * M) observations from each end of the multiset
    (M = its size), like `scipy.stats.trim_mean`. `values` must be sorted."""
    counts = _rows(counts)
    size = counts.sum(axis=1, keepdims=True)
    dtype = np.int16 if size.max() < 2**15 else np.int64  # half the memory traffic of int32
    upper = np.cumsum(counts, axis=1, dtype=dtype)
    lower = upper - counts.astype(dtype, copy=False)
    cut = np.floor(trim * size).astype(dtype)
    np.minimum(upper, size.astype(dtype) - cut, out=upper)
    np.maximum(lower, cut, out=lower)
    upper -= lower
    np.maximum(upper, 0, out=upper)  # kept multiplicity of each value
    return (upper.astype(np.float64) @ values) / (size - 2 * cut)[:, 0]


def counts_iqm(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Interquartile mean (25% trimmed mean), the robust aggregate of Agarwal et al. (2021)."""
    return counts_trimmed_mean(counts, values, 0.25)


def counts_median(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    counts = _rows(counts).astype(np.int64)
    size = counts.sum(axis=1)
    upper = np.cumsum(counts, axis=1)
    lo_rank, hi_rank = (size - 1) // 2, size // 2
    lo = values[np.argmax(upper > lo_rank[:, None], axis=1)]
    hi = values[np.argmax(upper > hi_rank[:, None], axis=1)]
    return (lo + hi) / 2.0


def counts_optimality_gap(counts: np.ndarray, values: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """Mean shortfall below `gamma` (Agarwal et al.): how far from 'solved' on average."""
    return counts_mean(counts, np.maximum(gamma - values, 0.0))


def counts_fraction_above(counts: np.ndarray, values: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Performance profile: fraction of observations with value > tau, for each tau. (R, T)."""
    counts = _rows(counts).astype(np.float64)
    return counts @ (values[:, None] > taus[None, :]).astype(np.float64) / counts.sum(axis=1, keepdims=True)


STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "mean": counts_mean,
    "median": counts_median,
    "iqm": counts_iqm,
    "optimality_gap": counts_optimality_gap,
}


# --- resampling ----------------------------------------------------------------------------


def multinomial_counts(n: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """(reps, n) counts of n draws with replacement from n observations (one bincount)."""
    return stratified_counts([n], reps, rng)


def stratified_counts(
    sizes: list[int], reps: int, rng: np.random.Generator, position: np.ndarray | None = None
) -> np.ndarray:
    """Resample within each stratum (e.g. episodes within a mission), strata side by side:
    (reps, sum(sizes)) counts. With `position` (observation -> column), the columns come
    out in that order (e.g. sorted by value) without a separate reordering pass."""
    total = int(sum(sizes))
    starts = np.repeat(np.cumsum([0, *sizes[:-1]]), sizes)
    widths = np.repeat(sizes, sizes)
    # uniform doubles scaled to each stratum: as good as integers(), twice as fast
    draws = starts + (rng.random((reps, total)) * widths).astype(np.int64)
    if position is not None:
        draws = position[draws]
    draws += (np.arange(reps, dtype=np.int64) * total)[:, None]
    return np.bincount(draws.ravel(), minlength=reps * total).reshape(reps, total).astype(np.int32)


def _percentile_interval(boot: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = 1.0 - confidence
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _bca_interval(boot: np.ndarray, point: float, jackknife: np.ndarray, confidence: float) -> tuple[float, float]:
    """Bias-corrected and accelerated interval (Efron 1987), as scipy.stats.bootstrap computes it."""
    alpha = 1.0 - confidence
    z0 = special.ndtri(np.mean(boot < point))
    dev = jackknife.mean() - jackknife
    denom = 6.0 * np.sum(dev**2) ** 1.5
    accel = np.sum(dev**3) / denom if denom > 0 else 0.0
    if not np.isfinite(z0):  # every replicate on one side of the estimate: fall back to percentile
        return _percentile_interval(boot, confidence)
    qs = []
    for z_alpha in (special.ndtri(alpha / 2), special.ndtri(1 - alpha / 2)):
        qs.append(special.ndtr(z0 + (z0 + z_alpha) / (1 - accel * (z0 + z_alpha))))
    low, high = np.quantile(boot, qs)
    return float(low), float(high)


def _mean_of_strata(sizes: list[int], order: np.ndarray, values: np.ndarray) -> Callable:
    """The mean of per-stratum means, as a statistic of counts over the sorted pooled sample."""
    starts = np.cumsum([0, *sizes])

    def stat(counts: np.ndarray, _sorted_values: np.ndarray) -> np.ndarray:
        counts = _rows(counts).astype(np.float64)
        unsorted = np.empty_like(counts)
        unsorted[:, order] = counts
        total = np.zeros(counts.shape[0])
        for a, b in zip(starts[:-1], starts[1:]):
            total += unsorted[:, a:b] @ values[a:b] / unsorted[:, a:b].sum(axis=1)
        return total / len(sizes)

    return stat


@dataclass(frozen=True)
class Estimate:
    point: float
    low: float
    high: float


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

    `strata` is a list of 1-D samples (e.g. one per mission). With `equal_weight`, the
    `mean` gives every stratum the same weight (a mean of stratum means); other statistics
    pool the observations. Zero observations are an error, never a silent NaN.
    """
    samples = [np.asarray(s, dtype=np.float64) for s in strata]
    if not samples or any(s.size == 0 for s in samples):
        raise UserError("cannot compute a confidence interval from zero episodes")
    values = np.concatenate(samples)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    sizes = [s.size for s in samples]
    stat = STATISTICS[statistic] if isinstance(statistic, str) else statistic
    if equal_weight and statistic == "mean" and len(samples) > 1:
        stat = _mean_of_strata(sizes, order, values)
    point = float(stat(np.ones(values.size), sorted_values)[0])
    if values.size == 1 or np.all(values == values[0]):
        return Estimate(point, point, point)
    rng = np.random.default_rng(seed)
    boot = np.empty(reps)
    chunk = max(1, 4_000_000 // values.size)  # bound memory
    position = np.empty(values.size, dtype=np.int64)
    position[order] = np.arange(values.size)  # observation -> its column among the sorted values
    for start in range(0, reps, chunk):
        counts = stratified_counts(sizes, min(chunk, reps - start), rng, position)
        boot[start : start + counts.shape[0]] = stat(counts, sorted_values)
    if interval == "bca" and min(sizes) > 1:
        loo = 1 - np.eye(values.size, dtype=np.int32)[:, order]  # leave one observation out
        jackknife = np.concatenate([stat(loo[i : i + 512], sorted_values) for i in range(0, values.size, 512)])
        low, high = _bca_interval(boot, point, jackknife, confidence)
    else:
        low, high = _percentile_interval(boot, confidence)
    return Estimate(point, low, high)


def bootstrap_ci(values, confidence: float = 0.95, reps: int = 10_000, seed: int = 0, statistic: str = "mean"):
    """Percentile bootstrap CI of one sample (kept for callers of the summary table)."""
    estimate = bootstrap_estimate([np.asarray(values)], statistic, confidence, reps, seed)
    return estimate.low, estimate.high


# --- probability of improvement and performance profiles -------------------------------------


def comparison_matrix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """C[i, j] = 1 if x_i > y_j, 1/2 if equal, 0 otherwise."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) + P(X = Y) / 2 = U / (n_x n_y), the Mann-Whitney U statistic normalised."""
    return float(comparison_matrix(x, y).mean())


def poi_estimate(
    pairs: list[tuple[np.ndarray, np.ndarray]],
    confidence: float = 0.95,
    reps: int = 10_000,
    seed: int = 0,
    paired: bool = False,
) -> Estimate:
    """Average over missions of P(X > Y), with a CI from resampling episodes within each
    mission. `paired` (x[i] and y[i] played on the same map, common random numbers)
    resamples episode indices jointly, as rliable does for equal-sized samples; otherwise
    X's and Y's episodes are resampled independently."""
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
    low, high = _percentile_interval(boot, confidence)
    return Estimate(point, low, high)


def performance_profile(
    strata: list[np.ndarray],
    taus: np.ndarray,
    confidence: float = 0.95,
    reps: int = 2_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Fraction of episodes scoring above each tau, with a stratified-bootstrap CI band."""
    values = np.concatenate([np.asarray(s, dtype=np.float64) for s in strata])
    taus = np.asarray(taus, dtype=np.float64)
    point = counts_fraction_above(np.ones(values.size), values, taus)[0]
    rng = np.random.default_rng(seed)
    boot = counts_fraction_above(stratified_counts([len(s) for s in strata], reps, rng), values, taus)
    alpha = 1.0 - confidence
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
    return pd.DataFrame({"tau": taus, "fraction": point, "low": low, "high": high})


# --- hypothesis tests and effect sizes --------------------------------------------------------


@dataclass(frozen=True)
class TestResult:
    test: str
    statistic: float
    p_value: float
    effect_size: float
    n: int
    note: str = ""


def paired_tests(a: np.ndarray, b: np.ndarray) -> list[TestResult]:
    """Wilcoxon signed-rank and paired t on seed-matched differences a - b.

    Effect sizes: matched-pairs rank-biserial correlation (Wilcoxon) and Cohen's d_z =
    mean(d) / sd(d) (paired t). Degenerate inputs get defined values and a note.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = a - b
    n = d.size
    if n < 2:
        note = "fewer than 2 paired episodes: no test"
        return [TestResult("wilcoxon", 0.0, 1.0, 0.0, n, note), TestResult("paired_t", 0.0, 1.0, 0.0, n, note)]
    nonzero = d[d != 0]
    if nonzero.size == 0:
        note = "all differences are zero"
        return [TestResult("wilcoxon", 0.0, 1.0, 0.0, n, note), TestResult("paired_t", 0.0, 1.0, 0.0, n, note)]
    w = sps.wilcoxon(a, b)
    ranks = sps.rankdata(np.abs(nonzero))
    r_plus, r_minus = ranks[nonzero > 0].sum(), ranks[nonzero < 0].sum()
    rank_biserial = float((r_plus - r_minus) / (r_plus + r_minus))
    results = [TestResult("wilcoxon", float(w.statistic), float(w.pvalue), rank_biserial, n)]
    sd = d.std(ddof=1)
    if sd == 0:  # every difference equal and non-zero: t is infinite, the difference certain
        results.append(TestResult("paired_t", float(np.sign(d.mean()) * np.inf), 0.0, float(np.sign(d.mean()) * np.inf),
                                  n, "zero variance of the differences"))  # fmt: skip
    else:
        t = sps.ttest_rel(a, b)
        results.append(TestResult("paired_t", float(t.statistic), float(t.pvalue), float(d.mean() / sd), n))
    return results


def unpaired_tests(a: np.ndarray, b: np.ndarray) -> list[TestResult]:
    """Mann-Whitney U and Welch's t when episodes cannot be matched by seed.

    Effect sizes: rank-biserial correlation 2 P(A > B) - 1 and Cohen's d (pooled sd)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n = min(a.size, b.size)
    if a.size < 2 or b.size < 2:
        note = "fewer than 2 episodes of a policy: no test"
        return [TestResult("mannwhitney", 0.0, 1.0, 0.0, n, note), TestResult("welch_t", 0.0, 1.0, 0.0, n, note)]
    poi = probability_of_improvement(a, b)
    if np.all(a == a[0]) and np.all(b == b[0]) and a[0] == b[0]:
        note = "all scores are equal"
        return [TestResult("mannwhitney", a.size * b.size / 2, 1.0, 0.0, n, note),
                TestResult("welch_t", 0.0, 1.0, 0.0, n, note)]  # fmt: skip
    u = sps.mannwhitneyu(a, b, alternative="two-sided")
    results = [TestResult("mannwhitney", float(u.statistic), float(u.pvalue), 2 * poi - 1, n)]
    pooled = np.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))
    if pooled == 0:
        sign = np.sign(a.mean() - b.mean())
        results.append(TestResult("welch_t", float(sign * np.inf), 0.0, float(sign * np.inf), n, "zero variance"))
    else:
        t = sps.ttest_ind(a, b, equal_var=False)
        results.append(
            TestResult("welch_t", float(t.statistic), float(t.pvalue), float((a.mean() - b.mean()) / pooled), n)
        )
    return results


def _adjust_sorted(p_values: np.ndarray, adjust: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply `adjust` to the non-NaN p-values in ascending order, cap at 1, restore the
    original order; NaNs stay NaN."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if not ok.any():
        return out
    order = np.argsort(p[ok], kind="stable")
    result = np.empty(int(ok.sum()))
    result[order] = np.minimum(adjust(p[ok][order]), 1.0)
    out[ok] = result
    return out


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1). NaNs stay NaN."""
    return _adjust_sorted(p_values, lambda p: np.maximum.accumulate((p.size - np.arange(p.size)) * p))


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg false-discovery-rate adjusted p-values. NaNs stay NaN."""
    return _adjust_sorted(
        p_values, lambda p: np.minimum.accumulate((p * p.size / np.arange(1, p.size + 1))[::-1])[::-1]
    )


CORRECTIONS = {"holm": holm, "bh": benjamini_hochberg}


# --- success rates ----------------------------------------------------------------------------


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


# --- the per-mission summary of issue 1 (daf summarize) ----------------------------------------


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

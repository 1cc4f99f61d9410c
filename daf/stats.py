"""Statistics over evaluation tables: pure functions over numpy / pandas.

Units. A policy's score in an episode is the mean reward of the agents it controlled.
Agents within an episode share a map and interact, so they are not independent samples;
episodes are. A policy trained by DAF can have several training runs (the `run` column:
the training seed of the network that played), every run playing the same episodes
(common random numbers). Runs are the unit of replication (Agarwal et al. 2021): the
spread between training seeds is usually larger than the evaluation noise, so an interval
over one run's episodes says how well *this network* plays, not how well the *training
procedure* does. Hence the two-level (runs, then episodes) bootstrap below, and the run x
mission score matrix for aggregates.

Bootstrap engine. A bootstrap replicate of a sample of N observations is a vector of
multinomial counts (how often each observation was drawn). Every statistic here - mean,
median, interquartile mean, optimality gap, performance profile, probability of
improvement - is a function of (counts, values), so R replicates are one `(R, N)` count
matrix and each statistic is a few vectorised numpy operations (a matrix product for the
probability of improvement). Stratified resampling (episodes within each mission) is one
multinomial draw per stratum. This is what makes 10k-replicate intervals cheap. The
two-level bootstrap stays a count matrix: drawing K copies of a run and then E episodes
within each copy draws K * E episodes of that run, so one replicate is still one count
vector over the observations (`nested_counts`).
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

SCORE_COLUMNS = ["policy", "mission", "run", "episode", "seed", "score", "success"]
ALL = "ALL"  # the mission label of aggregates over missions
Interval = Literal["percentile", "bca"]


# --- scores ------------------------------------------------------------------------------


def check_eval_table(frame: pd.DataFrame, needed: set[str], what: str = "evaluation table") -> None:
    """The one check that a table is a `daf evaluate` parquet with the columns a step needs."""
    missing = needed - set(frame.columns)
    if missing:
        raise UserError(f"{what} lacks columns {sorted(missing)} (is it a `daf evaluate` parquet?)")


def episode_scores(evals: pd.DataFrame) -> pd.DataFrame:
    """One row per policy x mission x run x episode: mean reward of the policy's agents.

    A table without a `run` column (or rows of one concatenated with tables that have it)
    predates training runs: its rows are run 0."""
    check_eval_table(evals, {"policy", "mission", "episode", "seed", "reward", "success"})
    raw = evals["run"] if "run" in evals else pd.Series(0, evals.index)
    run = pd.to_numeric(raw, errors="coerce")
    bad = (run.isna() & raw.notna()) | (run.notna() & (run % 1 != 0))
    if bad.any():
        raise UserError(f"evaluation table has a `run` value '{raw[bad].iloc[0]}': runs are integer training seeds")
    evals = evals.assign(run=run.fillna(0).astype(np.int64))
    grouped = evals.groupby(["policy", "mission", "run", "episode"], sort=True)
    scores = grouped.agg(seed=("seed", "first"), score=("reward", "mean"), success=("success", "first"))
    return scores.reset_index()[SCORE_COLUMNS]


def check_runs(scores: pd.DataFrame) -> None:
    """Every run of a policy on a mission must have played the same episodes (indices and
    seeds): the run x episode matrices and the two-level bootstrap rely on it, and common
    random numbers are what make runs comparable. Raises a one-line UserError otherwise."""
    for (policy, mission), part in scores.groupby(["policy", "mission"], sort=True):
        if part["run"].nunique() < 2:
            continue
        played = {run: set(zip(g["episode"], g["seed"])) for run, g in part.groupby("run", sort=True)}
        (first, reference), *others = played.items()
        for run, episodes in others:
            if episodes != reference:
                episode, seed = min(reference ^ episodes)
                raise UserError(
                    f"policy '{policy}' on mission '{mission}': runs {first} and {run} played different episodes "
                    f"({len(reference)} vs {len(episodes)}; episode {episode} with seed {seed} is in one only); "
                    "every training run must be evaluated on the same episodes"
                )


def run_matrix(part: pd.DataFrame, column: str = "score") -> np.ndarray:
    """(runs, episodes) matrix of one policy on one mission, runs and episodes in ascending
    order (one run: a single row, the episodes in the order of `episode_scores`)."""
    table = part.pivot(index="run", columns="episode", values=column)
    if table.isna().to_numpy().any():
        check_runs(part)  # names the runs that differ
        raise UserError(f"runs of policy '{part['policy'].iloc[0]}' on mission '{part['mission'].iloc[0]}' "
                        "played different episodes")  # fmt: skip
    return table.to_numpy(dtype=np.float64)


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


def _bca_interval(boot: np.ndarray, point: float, jackknife: np.ndarray, confidence: float) -> tuple[float, float]:
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


def _jackknife_units(shapes: list[tuple[int, int]]) -> np.ndarray | None:
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
        counts = nested_counts(shapes, min(chunk, reps - start), rng, position)
        boot[start : start + counts.shape[0]] = stat(counts, sorted_values)
    units = _jackknife_units(shapes) if interval == "bca" else None
    if units is not None:
        n_units = int(units.max()) + 1
        jackknife = np.concatenate([
            stat((units[None, order] != np.arange(i, min(i + 512, n_units))[:, None]).astype(np.int32), sorted_values)
            for i in range(0, n_units, 512)
        ])  # fmt: skip
        low, high = _bca_interval(boot, point, jackknife, confidence)
    else:
        low, high = percentile_interval(boot, confidence)
    return Estimate(point, low, high)


def _cell_statistic(statistic: str, runs: list[int]) -> Callable[[np.ndarray], np.ndarray]:
    """A statistic of (R, cells) score-matrix replicates, cells being run means laid out
    mission by mission (`runs` per mission), as rliable's aggregates define it: the mean and
    median of per-mission means, IQM and optimality gap over all cells."""
    starts = np.cumsum([0, *runs])
    weights = np.concatenate([np.full(r, 1.0 / (r * len(runs))) for r in runs])

    def mission_means(cells: np.ndarray) -> np.ndarray:
        return np.stack([cells[:, a:b].mean(axis=1) for a, b in zip(starts[:-1], starts[1:])], axis=1)

    def iqm(cells: np.ndarray) -> np.ndarray:
        cut = int(0.25 * cells.shape[1])  # scipy.stats.trim_mean's floor
        return np.sort(cells, axis=1)[:, cut : cells.shape[1] - cut].mean(axis=1)

    functions = {
        "mean": lambda cells: cells @ weights,
        "median": lambda cells: np.median(mission_means(cells), axis=1),
        "iqm": iqm,
        "optimality_gap": lambda cells: np.maximum(1.0 - cells, 0.0).mean(axis=1),
    }
    if statistic not in functions:
        raise ValueError(f"unknown score-matrix statistic '{statistic}'; valid: {', '.join(functions)}")
    return functions[statistic]


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
    run's mean episode score on a mission; the statistic (`_cell_statistic`) is over cells.
    The CI resamples runs within each mission (rliable's StratifiedBootstrap) and, when runs
    have several episodes, episodes within each drawn run: the cell values are then
    recomputed per replicate. With one episode per run this is `bootstrap_estimate` over
    the run values (the same numbers, draw for draw)."""
    samples = as_runs(strata)
    runs = [sample.shape[0] for sample in samples]
    if all(sample.shape[1] == 1 for sample in samples) and statistic != "median":
        return bootstrap_estimate([sample[:, 0] for sample in samples], statistic, confidence, reps, seed,
                                  interval, equal_weight=True)  # fmt: skip
    stat = _cell_statistic(statistic, runs)
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
            _cell_statistic(statistic, [r - (m == mission) for m, r in enumerate(runs)])(np.delete(cells, i)[None])[0]
            for mission, first in enumerate(starts) for i in range(first, first + runs[mission])
        ])  # fmt: skip
        low, high = _bca_interval(boot, point, jackknife, confidence)
    else:
        low, high = percentile_interval(boot, confidence)
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
    if sd == 0:  # every difference equal and non-zero: t is undefined, not proof (2 episodes would "prove" it)
        results.append(TestResult("paired_t", float("nan"), float("nan"), float("nan"), n,
                                  "zero variance of the differences: t undefined, never significant"))  # fmt: skip
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
    if pooled == 0:  # two different constants: t is undefined, not proof
        results.append(TestResult("welch_t", float("nan"), float("nan"), float("nan"), n,
                                  "zero variance: t undefined, never significant"))  # fmt: skip
    else:
        t = sps.ttest_ind(a, b, equal_var=False)
        results.append(
            TestResult("welch_t", float(t.statistic), float(t.pvalue), float((a.mean() - b.mean()) / pooled), n)
        )
    return results


def one_sample_tests(differences: np.ndarray) -> list[TestResult]:
    """Wilcoxon signed-rank and one-sample t of differences against 0, as `paired_tests`
    (effect sizes: matched-pairs rank-biserial correlation, Cohen's d = mean / sd)."""
    d = np.asarray(differences, dtype=np.float64)
    names = {"wilcoxon": "wilcoxon_one_sample", "paired_t": "t_one_sample"}
    results = paired_tests(d, np.zeros_like(d))
    return [TestResult(names[r.test], r.statistic, r.p_value, r.effect_size, r.n, r.note) for r in results]


def run_tests(a: np.ndarray, b: np.ndarray) -> list[TestResult]:
    """Tests over training runs: `a` and `b` are two policies' run means on a mission.

    Both with >= 2 runs: Mann-Whitney U and Welch's t (runs of two policies are independent
    trainings: nothing to pair). One side with a single run (e.g. a scripted policy): its
    mean is the reference, and the other side's run means are tested against it with
    one-sample tests of the differences a - b (`one_sample_tests`). That reference's own
    evaluation noise is not part of the test: with many episodes it is small next to the
    spread between training runs, which is what the run level is about."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size >= 2 and b.size >= 2:
        return unpaired_tests(a, b)
    if a.size >= 2 and b.size == 1:
        return one_sample_tests(a - b[0])
    if b.size >= 2 and a.size == 1:
        return one_sample_tests(a[0] - b)
    raise ValueError(f"run-level tests need >= 2 runs on one side (got {a.size} and {b.size})")


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

"""Statistics of bootstrap replicates: each is a function of (counts, values), so R replicates
are one (R, N) count matrix (daf.stats.bootstrap) and a statistic a few vectorised numpy
operations - mean, trimmed mean and IQM, median, optimality gap, performance profile, the
mean of stratum means, rliable's score-matrix aggregates, and the probability of
improvement.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

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


def mean_of_strata(sizes: list[int], order: np.ndarray, values: np.ndarray) -> Callable:
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


def cell_statistic(statistic: str, runs: list[int]) -> Callable[[np.ndarray], np.ndarray]:
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


# --- probability of improvement and performance profiles -------------------------------------


def comparison_matrix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """C[i, j] = 1 if x_i > y_j, 1/2 if equal, 0 otherwise."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) + P(X = Y) / 2 = U / (n_x n_y), the Mann-Whitney U statistic normalised."""
    return float(comparison_matrix(x, y).mean())

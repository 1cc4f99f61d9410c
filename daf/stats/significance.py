"""Significance tests and effect sizes (scipy), over seed-matched episodes or training runs,
and multiple-comparison corrections (Holm, Benjamini-Hochberg).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from daf.stats.metrics import probability_of_improvement


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

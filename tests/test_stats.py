"""Known-answer tests for the statistics: against scipy, hand-computed examples, coverage."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from daf.errors import UserError
from daf.stats import (
    benjamini_hochberg,
    bootstrap_ci,
    bootstrap_estimate,
    counts_iqm,
    counts_mean,
    counts_median,
    counts_optimality_gap,
    episode_scores,
    holm,
    leaderboard,
    multinomial_counts,
    normalize_scores,
    paired_tests,
    performance_profile,
    poi_estimate,
    probability_of_improvement,
    stratified_counts,
    unpaired_tests,
    wilson_interval,
)

# --- statistics of counts equal the statistics of the expanded sample -----------------------


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.integers(0, 12), min_size=1, max_size=30), st.lists(st.integers(0, 4), min_size=30, max_size=30))
def test_count_statistics_match_direct_computation(values, multiplicities):
    values = np.sort(np.asarray(values, dtype=float))
    counts = np.asarray(multiplicities[: len(values)])
    if counts.sum() == 0:
        counts[0] = 1
    sample = np.repeat(values, counts)
    assert counts_mean(counts, values)[0] == pytest.approx(sample.mean())
    assert counts_median(counts, values)[0] == pytest.approx(np.median(sample))
    assert counts_iqm(counts, values)[0] == pytest.approx(sps.trim_mean(sample, 0.25))
    assert counts_optimality_gap(counts, values, 5.0)[0] == pytest.approx(np.mean(np.maximum(5.0 - sample, 0)))


def test_multinomial_counts_are_resamples():
    rng = np.random.default_rng(0)
    counts = multinomial_counts(7, 20_000, rng)
    assert (counts.sum(axis=1) == 7).all()
    assert counts.mean(axis=0) == pytest.approx(np.ones(7), abs=0.03)
    assert counts.var(axis=0) == pytest.approx(np.full(7, 7 * (1 / 7) * (6 / 7)), abs=0.03)
    strat = stratified_counts([3, 5], 100, rng)
    assert strat.shape == (100, 8) and (strat[:, :3].sum(1) == 3).all() and (strat[:, 3:].sum(1) == 5).all()


# --- bootstrap intervals -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("statistic", ["mean", "median"])
def test_bootstrap_matches_scipy(method, statistic):
    """Same estimator as scipy.stats.bootstrap; endpoints agree within Monte-Carlo error."""
    data = np.random.default_rng(3).gamma(2.0, 1.5, size=80)
    ours = bootstrap_estimate([data], statistic, reps=40_000, seed=1, interval=method.lower())
    func = {"mean": np.mean, "median": np.median}[statistic]
    ref = sps.bootstrap(
        (data,), func, method="BCa" if method == "bca" else "percentile", n_resamples=40_000, random_state=2
    ).confidence_interval
    width = ref.high - ref.low
    assert ours.point == pytest.approx(func(data))
    assert ours.low == pytest.approx(ref.low, abs=0.06 * width)
    assert ours.high == pytest.approx(ref.high, abs=0.06 * width)


def test_bootstrap_coverage_on_normal_data():
    """About 95% of 95% intervals cover the true mean (n=30, 400 trials)."""
    rng = np.random.default_rng(1)
    covered = sum(
        (lambda est: est.low <= 10.0 <= est.high)(bootstrap_estimate([rng.normal(10.0, 2.0, 30)], reps=2000, seed=t))
        for t in range(400)
    )
    assert 0.90 <= covered / 400 <= 0.98  # the percentile bootstrap under-covers slightly at n=30


def test_stratified_bootstrap_coverage_of_mean_of_strata():
    """Strata with different spreads: the CI of the mean of stratum means covers ~95%."""
    rng = np.random.default_rng(2)
    covered = 0
    for t in range(300):
        strata = [rng.normal(0.0, 1.0, 40), rng.normal(5.0, 3.0, 40), rng.normal(-2.0, 0.5, 40)]
        est = bootstrap_estimate(strata, "mean", reps=2000, seed=t, equal_weight=True)
        covered += est.low <= 1.0 <= est.high  # true mean of the stratum means: (0 + 5 - 2) / 3
    assert 0.90 <= covered / 300 <= 0.98


def test_equal_weight_mean_weighs_strata_equally():
    est = bootstrap_estimate([np.array([0.0, 0.0, 0.0, 0.0]), np.array([4.0, 4.0])], "mean", equal_weight=True)
    assert est.point == 2.0  # (0 + 4) / 2, not the pooled 4/3
    assert bootstrap_estimate([np.array([0.0] * 4), np.array([4.0] * 2)], "mean").point == pytest.approx(4 / 3)


def test_bootstrap_is_seeded_and_brackets_the_point():
    values = np.random.default_rng(0).normal(3.0, 1.0, size=50)
    a = bootstrap_estimate([values], "iqm", reps=4000, seed=7)
    assert a == bootstrap_estimate([values], "iqm", reps=4000, seed=7)
    assert a != bootstrap_estimate([values], "iqm", reps=4000, seed=8)
    assert a.low < a.point < a.high


def test_bootstrap_degenerate_inputs():
    assert bootstrap_ci(np.array([4.0])) == (4.0, 4.0)
    est = bootstrap_estimate([np.array([2.0, 2.0, 2.0])], "iqm", interval="bca")
    assert (est.point, est.low, est.high) == (2.0, 2.0, 2.0)
    with pytest.raises(UserError, match="zero episodes"):
        bootstrap_ci(np.array([]))
    with pytest.raises(UserError, match="zero episodes"):
        bootstrap_estimate([np.array([1.0]), np.array([])])


def test_bca_with_one_sided_replicates_falls_back_to_percentile():
    # one different value: most replicates equal the point estimate
    est = bootstrap_estimate([np.array([0.0] * 30 + [1.0])], "median", interval="bca", reps=2000)
    assert est.low == est.point == 0.0 and est.high <= 1.0


# --- probability of improvement and performance profiles -------------------------------------


def test_probability_of_improvement_is_normalised_mann_whitney():
    rng = np.random.default_rng(5)
    x, y = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 35).astype(float)  # many ties
    u = sps.mannwhitneyu(x, y).statistic
    assert probability_of_improvement(x, y) == pytest.approx(u / (40 * 35))
    assert probability_of_improvement(x, x) == 0.5
    assert probability_of_improvement(np.array([2.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(0.5)


def test_poi_interval_and_aggregate():
    rng = np.random.default_rng(6)
    pairs = [(rng.normal(1, 1, 50), rng.normal(0, 1, 50)) for _ in range(4)]
    est = poi_estimate(pairs, reps=5000, seed=0)
    assert est.point == pytest.approx(np.mean([probability_of_improvement(x, y) for x, y in pairs]))
    assert est.low < est.point < est.high and 0.6 < est.point < 0.9
    same = poi_estimate([(np.ones(5), np.ones(5))])
    assert (same.point, same.low, same.high) == (0.5, 0.5, 0.5)
    with pytest.raises(UserError, match="both policies"):
        poi_estimate([(np.ones(3), np.array([]))])


def test_performance_profile_values():
    prof = performance_profile([np.array([0.0, 1.0, 2.0, 3.0])], np.array([-1.0, 0.5, 2.5, 3.0]), reps=500)
    assert prof["fraction"].tolist() == [1.0, 0.75, 0.25, 0.0]
    assert (prof["low"] <= prof["fraction"]).all() and (prof["fraction"] <= prof["high"]).all()


# --- tests and effect sizes against scipy --------------------------------------------------------


def test_paired_tests_match_scipy():
    rng = np.random.default_rng(7)
    a = rng.normal(1.0, 1.0, 25)
    b = a - rng.normal(0.3, 0.8, 25)
    wil, t = paired_tests(a, b)
    ref_w, ref_t = sps.wilcoxon(a, b), sps.ttest_rel(a, b)
    assert (wil.test, wil.statistic, wil.p_value) == (
        "wilcoxon",
        pytest.approx(ref_w.statistic),
        pytest.approx(ref_w.pvalue),
    )
    assert (t.test, t.statistic, t.p_value) == ("paired_t", pytest.approx(ref_t.statistic), pytest.approx(ref_t.pvalue))
    d = a - b
    assert t.effect_size == pytest.approx(d.mean() / d.std(ddof=1))  # Cohen's d_z
    ranks = sps.rankdata(np.abs(d))
    assert wil.effect_size == pytest.approx((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())


def test_unpaired_tests_match_scipy():
    rng = np.random.default_rng(8)
    a, b = rng.normal(0.0, 1.0, 20), rng.normal(0.4, 2.0, 31)
    mw, welch = unpaired_tests(a, b)
    ref_u, ref_t = sps.mannwhitneyu(a, b, alternative="two-sided"), sps.ttest_ind(a, b, equal_var=False)
    assert (mw.statistic, mw.p_value) == (pytest.approx(ref_u.statistic), pytest.approx(ref_u.pvalue))
    assert (welch.statistic, welch.p_value) == (pytest.approx(ref_t.statistic), pytest.approx(ref_t.pvalue))
    assert mw.effect_size == pytest.approx(2 * probability_of_improvement(a, b) - 1)


def test_unpaired_welch_is_not_students_t():
    """The original DAF used Student's t on pooled episodes; Welch differs when variances do."""
    a = np.array([0, 0, 0, 1, 1, 2, 9, 12.0])
    b = np.array([1, 1, 2, 2, 2, 3.0])
    welch = unpaired_tests(a, b)[1]
    assert welch.p_value == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    assert welch.p_value != pytest.approx(sps.ttest_ind(a, b).pvalue)


def test_degenerate_tests_are_defined():
    ties = paired_tests(np.ones(5), np.ones(5))
    assert all(t.p_value == 1.0 and t.effect_size == 0.0 and "zero" in t.note for t in ties)
    shift = paired_tests(np.ones(5) + 1, np.ones(5))  # every difference exactly +1
    assert shift[1].p_value == 0.0 and shift[1].statistic == np.inf and "zero variance" in shift[1].note
    assert shift[0].effect_size == 1.0
    one = paired_tests(np.array([3.0]), np.array([1.0]))
    assert all(t.p_value == 1.0 and "fewer than 2" in t.note for t in one)
    flat = unpaired_tests(np.full(4, 2.0), np.full(6, 2.0))
    assert all(t.p_value == 1.0 for t in flat)
    for result in ties + shift + one + flat:
        assert not np.isnan(result.p_value) and not np.isnan(result.statistic)


# --- multiple comparisons: hand-computed examples -------------------------------------------------


def test_holm_hand_computed():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm(np.array([0.5, 0.9])) == pytest.approx([1.0, 1.0])


def test_bh_hand_computed():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted p*m/rank: 0.005*4/1=0.02, 0.01*4/2=0.02, 0.03*4/3=0.04, 0.04*4/4=0.04 -> step-up min
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert benjamini_hochberg(np.array([0.2, 0.01, np.nan]))[:2] == pytest.approx([0.2, 0.02])
    assert np.isnan(holm(np.array([np.nan, 0.1]))[0])


# --- success rates ------------------------------------------------------------------------------


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (17, 40), (1, 1)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_scipy(k, n, confidence):
    expected = sps.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = wilson_interval(k, n, confidence)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)


def test_wilson_rejects_empty():
    with pytest.raises(UserError, match="zero episodes"):
        wilson_interval(0, 0)


# --- score tables ---------------------------------------------------------------------------------


def _evals():
    rows = []
    for policy, base in (("a", 1.0), ("b", 3.0)):
        for ep in range(4):
            for agent in range(2):
                rows.append(
                    {
                        "policy": policy,
                        "mission": "m",
                        "episode": ep,
                        "seed": 100 + ep,
                        "agent": agent,
                        "reward": base + ep + agent,
                        "success": ep >= 2,
                    }
                )
    return pd.DataFrame(rows)


def test_episode_scores_average_agents_within_episodes():
    scores = episode_scores(_evals())
    assert scores[scores["policy"] == "a"]["score"].tolist() == [1.5, 2.5, 3.5, 4.5]
    assert scores["seed"].tolist()[:4] == [100, 101, 102, 103]


def test_normalize_scores():
    scores = episode_scores(_evals())
    norm = normalize_scores(scores, "a", "b")
    assert norm.groupby("policy")["score"].mean().to_dict() == pytest.approx({"a": 0.0, "b": 1.0})
    with pytest.raises(UserError, match="reference policy 'zz' has no evaluation"):
        normalize_scores(scores, "a", "zz")
    with pytest.raises(UserError, match="same mean"):
        normalize_scores(scores, "a", "a")


def test_leaderboard_values():
    board = leaderboard(episode_scores(_evals()), confidence=0.95, reps=2000, seed=0)
    row = board[board["policy"] == "b"].iloc[0]
    assert row["episodes"] == 4 and row["mean"] == pytest.approx(5.0)
    assert row["std"] == pytest.approx(np.std([3.5, 4.5, 5.5, 6.5], ddof=1))
    low, high = sps.binomtest(2, 4).proportion_ci(method="wilson")
    assert row["success_rate"] == 0.5 and (row["success_low"], row["success_high"]) == pytest.approx((low, high))
    assert not board.isna().any().any()


def test_missing_columns_named():
    with pytest.raises(UserError, match=r"lacks columns \['success'\]"):
        episode_scores(_evals().drop(columns=["success"]))

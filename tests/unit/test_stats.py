"""Known-answer tests for the statistics: against scipy, hand-computed examples, coverage."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from daf.errors import UserError
from daf.evaluation.table import episode_scores
from daf.stats.bootstrap import multinomial_counts, nested_counts, stratified_counts
from daf.stats.comparison import summary_table
from daf.stats.estimates import (
    bootstrap_ci,
    bootstrap_estimate,
    censored_quantiles,
    performance_profile,
    poi_estimate,
    score_matrix_estimate,
    wilson_interval,
)
from daf.stats.metrics import counts_iqm, counts_mean, counts_median, counts_optimality_gap, probability_of_improvement
from daf.stats.scores import check_runs, normalize_scores, run_matrix
from daf.stats.significance import benjamini_hochberg, holm, paired_tests, run_tests, unpaired_tests

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
    assert np.isnan(shift[1].p_value) and np.isnan(shift[1].statistic) and "never significant" in shift[1].note
    assert shift[0].effect_size == 1.0
    one = paired_tests(np.array([3.0]), np.array([1.0]))
    assert all(t.p_value == 1.0 and "fewer than 2" in t.note for t in one)
    flat = unpaired_tests(np.full(4, 2.0), np.full(6, 2.0))
    assert all(t.p_value == 1.0 for t in flat)
    for result in ties + shift[:1] + one + flat:
        assert not np.isnan(result.p_value) and not np.isnan(result.statistic)
    constants = unpaired_tests(np.full(4, 3.0), np.full(6, 2.0))  # two different constants
    assert np.isnan(constants[1].p_value) and "never significant" in constants[1].note


def test_two_equal_shifts_are_never_significant():
    """Two episodes whose differences are both exactly +1 are not evidence: no paired-t row of
    the comparison is significant after correction, whatever alpha."""
    from daf.stats.comparison import CompareSettings, compare

    rows = []
    for policy, reward in (("a", 2.0), ("b", 1.0)):
        for episode in range(2):
            rows.append({"policy": policy, "mission": "m", "episode": episode, "seed": episode, "agent": 0,
                         "reward": reward, "success": False})  # fmt: skip
    _, pairwise, _ = compare(pd.DataFrame(rows), CompareSettings(reps=200, alpha=0.5))
    t_rows = pairwise[pairwise["test"] == "paired_t"]
    assert len(t_rows) == 1 and not t_rows["significant"].any() and t_rows["p_adjusted"].isna().all()


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
    board = summary_table(episode_scores(_evals()), confidence=0.95, reps=2000, seed=0)
    row = board[board["policy"] == "b"].iloc[0]
    assert row["episodes"] == 4 and row["mean"] == pytest.approx(5.0)
    assert row["std"] == pytest.approx(np.std([3.5, 4.5, 5.5, 6.5], ddof=1))
    low, high = sps.binomtest(2, 4).proportion_ci(method="wilson")
    assert row["success_rate"] == 0.5 and (row["success_low"], row["success_high"]) == pytest.approx((low, high))
    assert not board.isna().any().any()


def test_missing_columns_named():
    with pytest.raises(UserError, match=r"lacks columns \['success'\]"):
        episode_scores(_evals().drop(columns=["success"]))


# --- training runs: the two-level bootstrap and the score matrix ----------------------------------


def _direct_bootstrap(values: np.ndarray, runs: int, reps: int, seed: int, statistic) -> np.ndarray:
    """Replicates of a two-level bootstrap written out with fancy indexing: the draws the
    count engine makes, in the same order (runs first, then episodes; a level with one
    choice draws nothing), so the two agree to rounding."""
    rng = np.random.default_rng(seed)
    episodes = values.size // runs
    if runs == 1:
        picked = np.zeros((reps, 1), dtype=np.int64)
    else:
        picked = (rng.random((reps, runs)) * runs).astype(np.int64)
    if episodes == 1:
        within = np.zeros((reps, runs), dtype=np.int64)
    else:
        within = (rng.random((reps, runs * episodes)) * episodes).astype(np.int64)
    slot = np.repeat(np.arange(runs), episodes)
    return statistic(values[picked[:, slot] * episodes + within])


@pytest.mark.parametrize("statistic", ["mean", "iqm"])
@pytest.mark.parametrize("shape", [(1, 40), (12, 1), (4, 15)])
def test_two_level_bootstrap_equals_direct_resampling(shape, statistic):
    """One run = the episode bootstrap, one episode per run = the run bootstrap, and both
    levels together: the count engine gives the replicates of explicit index resampling."""
    values = np.random.default_rng(11).gamma(2.0, 1.0, size=shape)
    func = {"mean": lambda x: x.mean(axis=1), "iqm": lambda x: sps.trim_mean(x, 0.25, axis=1)}[statistic]
    boot = _direct_bootstrap(values.ravel(), shape[0], 4000, 5, func)
    ours = bootstrap_estimate([values], statistic, reps=4000, seed=5)
    assert (ours.low, ours.high) == pytest.approx(tuple(np.quantile(boot, [0.025, 0.975])), rel=1e-12)
    assert ours.point == pytest.approx(func(values.ravel()[None])[0])


def test_one_run_and_one_episode_per_run_reduce_exactly():
    rng = np.random.default_rng(12)
    episodes, runs = rng.normal(0, 1, 30), rng.normal(0, 1, 9)
    for interval in ("percentile", "bca"):
        # a single run is today's episode bootstrap of the 1-D sample, draw for draw
        assert bootstrap_estimate([episodes[None, :]], "iqm", interval=interval, reps=3000) == bootstrap_estimate(
            [episodes], "iqm", interval=interval, reps=3000
        )
        # runs of one episode each: the bootstrap of the run values
        assert bootstrap_estimate([runs[:, None]], interval=interval, reps=3000) == bootstrap_estimate(
            [runs], interval=interval, reps=3000
        )
    assert (nested_counts([(1, 5), (1, 3)], 50, np.random.default_rng(0)) == stratified_counts(
        [5, 3], 50, np.random.default_rng(0))).all()  # fmt: skip
    assert (nested_counts([(4, 1), (2, 1)], 50, np.random.default_rng(0)) == stratified_counts(
        [4, 2], 50, np.random.default_rng(0))).all()  # fmt: skip


def test_one_episode_per_run_matches_scipy_run_bootstrap():
    runs = np.random.default_rng(13).normal(5.0, 2.0, 10)
    ours = bootstrap_estimate([runs[:, None]], reps=40_000, seed=1)
    ref = sps.bootstrap((runs,), np.mean, method="percentile", n_resamples=40_000, random_state=2).confidence_interval
    width = ref.high - ref.low
    assert ours.low == pytest.approx(ref.low, abs=0.05 * width) and ours.high == pytest.approx(
        ref.high, abs=0.05 * width
    )


def test_nested_counts_resample_runs_then_episodes():
    counts = nested_counts([(3, 4), (2, 5)], 40_000, np.random.default_rng(3))
    assert counts.shape == (40_000, 22)
    assert (counts[:, :12].sum(axis=1) == 12).all() and (counts[:, 12:].sum(axis=1) == 10).all()
    per_run = counts[:, :12].reshape(-1, 3, 4).sum(axis=2)  # episodes drawn from each run: 4 x (copies drawn)
    assert (per_run % 4 == 0).all()
    copies = per_run / 4  # Binomial(3, 1/3) copies of each run
    assert copies.mean() == pytest.approx(1.0, abs=0.02) and copies.var() == pytest.approx(2 / 3, abs=0.02)


def test_spread_between_runs_dominates_the_interval():
    """Runs at 0, 10, 20 with little episode noise: the two-level CI spans most of that
    spread; an episode bootstrap treats the 600 pooled episodes as independent draws and
    gives an interval a tenth as wide or less."""
    rng = np.random.default_rng(14)
    matrix = np.array([0.0, 10.0, 20.0])[:, None] + rng.normal(0, 0.3, (3, 200))
    two_level = bootstrap_estimate([matrix], reps=4000)
    pooled = bootstrap_estimate([matrix.ravel()], reps=4000)
    assert two_level.point == pytest.approx(pooled.point) == pytest.approx(matrix.mean())
    assert two_level.low < 5.0 and two_level.high > 15.0
    assert (two_level.high - two_level.low) > 10 * (pooled.high - pooled.low)
    matrix_ci = score_matrix_estimate([matrix, matrix + 1.0], "mean", reps=4000)
    assert matrix_ci.low < 5.0 and matrix_ci.high > 15.0


def _rliable_reference(strata: list[np.ndarray], reps: int, seed: int, statistic: str) -> np.ndarray:
    """rliable's StratifiedBootstrap spelled out: per mission, runs drawn with replacement,
    then the aggregate of the score matrix (IQM over cells, mean of mission means)."""
    rng = np.random.default_rng(seed)
    cells = [s.mean(axis=1) for s in strata]
    drawn = [c[rng.integers(0, c.size, (reps, c.size))] for c in cells]
    if statistic == "iqm":
        return sps.trim_mean(np.concatenate(drawn, axis=1), 0.25, axis=1)
    return np.mean([d.mean(axis=1) for d in drawn], axis=0)


@pytest.mark.parametrize("statistic", ["iqm", "mean"])
def test_score_matrix_with_one_episode_per_run_is_rliable(statistic):
    rng = np.random.default_rng(15)
    strata = [rng.gamma(2.0, scale, size=(10, 1)) for scale in (0.5, 1.0, 3.0, 2.0)]
    cells = np.concatenate([s[:, 0] for s in strata])
    ours = score_matrix_estimate(strata, statistic, reps=40_000, seed=1)
    expected = sps.trim_mean(cells, 0.25) if statistic == "iqm" else np.mean([s.mean() for s in strata])
    assert ours.point == pytest.approx(expected)
    ref = np.quantile(_rliable_reference(strata, 40_000, 2, statistic), [0.025, 0.975])
    width = ref[1] - ref[0]
    assert ours.low == pytest.approx(ref[0], abs=0.04 * width) and ours.high == pytest.approx(ref[1], abs=0.04 * width)


def test_score_matrix_with_episodes_resamples_them_within_runs():
    rng = np.random.default_rng(16)
    strata = [rng.normal(loc, 1.0, size=(5, 20)) + rng.normal(0, 0.5, (5, 1)) for loc in (0.0, 2.0, 4.0)]
    cells = np.concatenate([s.mean(axis=1) for s in strata])
    iqm = score_matrix_estimate(strata, "iqm", reps=4000)
    assert iqm.point == pytest.approx(sps.trim_mean(cells, 0.25))
    assert iqm.low < iqm.point < iqm.high
    median = score_matrix_estimate(strata, "median", reps=500)
    assert median.point == pytest.approx(np.median([s.mean() for s in strata]))  # rliable: median of mission means
    gap = score_matrix_estimate(strata, "optimality_gap", reps=500)
    assert gap.point == pytest.approx(np.mean(np.maximum(1 - cells, 0)))
    # episodes within runs add to the run-only interval (cell values vary per replicate)
    runs_only = score_matrix_estimate([s.mean(axis=1, keepdims=True) for s in strata], "mean", reps=4000)
    both = score_matrix_estimate(strata, "mean", reps=4000)
    assert both.point == pytest.approx(runs_only.point) and both.high - both.low > runs_only.high - runs_only.low
    bca = score_matrix_estimate(strata, "mean", reps=4000, interval="bca")
    assert bca.low < bca.point < bca.high
    with pytest.raises(ValueError, match="unknown score-matrix statistic"):
        score_matrix_estimate(strata, "max")


def test_two_level_bca_leaves_out_runs():
    rng = np.random.default_rng(17)
    matrix = rng.normal(0, 1, (6, 10)) + rng.normal(0, 2, (6, 1))
    bca = bootstrap_estimate([matrix], reps=4000, interval="bca")
    pct = bootstrap_estimate([matrix], reps=4000)
    assert bca.low < bca.point < bca.high and bca != pct
    # a stratum with a single unit cannot be jackknifed: percentile, as for one episode
    assert bootstrap_estimate([matrix, np.array([[1.0]])], reps=500, interval="bca") == bootstrap_estimate(
        [matrix, np.array([[1.0]])], reps=500
    )


def test_performance_profile_with_runs():
    matrix = np.array([[0.0, 1.0], [2.0, 3.0]])
    prof = performance_profile([matrix], np.array([0.5, 2.5]), reps=500)
    assert prof["fraction"].tolist() == [0.75, 0.25]
    assert (prof["low"] <= prof["fraction"]).all() and (prof["high"] >= prof["fraction"]).all()


def test_run_tests_match_scipy():
    rng = np.random.default_rng(18)
    a, b = rng.normal(1.0, 0.5, 5), rng.normal(0.0, 1.0, 4)
    mw, welch = run_tests(a, b)
    assert (mw.test, welch.test) == ("mannwhitney", "welch_t")
    assert mw.p_value == pytest.approx(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    assert welch.p_value == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    reference = np.array([0.3])  # a policy with one run: its mean is the reference
    wil, t = run_tests(a, reference)
    assert (wil.test, t.test) == ("wilcoxon_one_sample", "t_one_sample") and wil.n == t.n == 5
    assert t.p_value == pytest.approx(sps.ttest_1samp(a, 0.3).pvalue)
    assert t.statistic == pytest.approx(sps.ttest_1samp(a, 0.3).statistic)
    assert t.effect_size == pytest.approx((a - 0.3).mean() / (a - 0.3).std(ddof=1))
    assert wil.p_value == pytest.approx(sps.wilcoxon(a - 0.3).pvalue)
    flipped = run_tests(reference, a)  # A - B keeps its sign
    assert flipped[1].statistic == pytest.approx(-t.statistic) and flipped[1].p_value == pytest.approx(t.p_value)
    with pytest.raises(ValueError, match=">= 2 runs"):
        run_tests(np.array([1.0]), np.array([2.0]))


def _run_evals(runs=(0, 1), episodes=3):
    rows = [{"policy": "p", "mission": "m", "run": run, "episode": ep, "seed": 100 + ep, "agent": agent,
             "reward": 10.0 * run + ep + agent, "success": False}
            for run in runs for ep in range(episodes) for agent in range(2)]  # fmt: skip
    return pd.DataFrame(rows)


def test_episode_scores_keep_runs_and_read_old_tables_as_run_0():
    scores = episode_scores(_run_evals())
    assert list(scores.columns) == ["policy", "mission", "run", "episode", "seed", "score", "success"]
    assert scores.groupby("run")["score"].mean().to_dict() == {0: 1.5, 1: 11.5}
    assert run_matrix(scores).tolist() == [[0.5, 1.5, 2.5], [10.5, 11.5, 12.5]]
    old = episode_scores(_evals())  # no `run` column
    assert (old["run"] == 0).all() and old["run"].dtype == np.int64
    mixed = episode_scores(pd.concat([_evals(), _run_evals(runs=(3,))], ignore_index=True))  # old rows: NaN run
    assert sorted(mixed["run"].unique()) == [0, 3]
    with pytest.raises(UserError, match="`run` value '1.5'"):
        episode_scores(_run_evals().assign(run=1.5))


def test_runs_with_different_episodes_are_named():
    frame = _run_evals(runs=(0, 4))
    frame = frame[~((frame["run"] == 4) & (frame["episode"] == 2))]
    with pytest.raises(UserError) as err:
        check_runs(episode_scores(frame))
    message = str(err.value)
    assert "\n" not in message
    assert "policy 'p' on mission 'm': runs 0 and 4 played different episodes" in message
    assert "episode 2 with seed 102" in message
    with pytest.raises(UserError, match="runs 0 and 4 played different episodes"):
        run_matrix(episode_scores(frame))
    reseeded = _run_evals().assign(seed=lambda f: f["seed"] + 50 * f["run"])  # same indices, other seeds
    with pytest.raises(UserError, match="runs 0 and 1 played different episodes"):
        check_runs(episode_scores(reseeded))
    check_runs(episode_scores(_run_evals()))  # the same episodes: fine


def test_leaderboard_of_runs_is_two_level():
    board = summary_table(episode_scores(_run_evals(episodes=4)), reps=2000)
    row = board.iloc[0]
    assert row["episodes"] == 8 and row["mean"] == pytest.approx(7.0)
    assert row["ci_low"] < 3.0 and row["ci_high"] > 11.0  # the two runs are 10 apart


def test_clear_winner_is_one_rule_of_non_overlapping_cis():
    from daf.report.findings import leader
    from daf.stats.comparison import PAIRWISE
    from daf.stats.estimates import clear_winner
    from daf.sweeps.selection import select_best

    assert clear_winner((2.0, 3.0), (1.0, 1.9)) and not clear_winner((2.0, 3.0), (1.0, 2.0))
    # the runner-up's point estimate (1.8) lies below the best's CI, but the CIs overlap: not clear
    assert not clear_winner((1.9, 3.0), (1.0, 2.5))
    assert clear_winner((0.1, 0.4), (0.5, 0.9), maximize=False) and not clear_winner((0.1, 0.6), (0.5, 0.9), False)
    board = pd.DataFrame({"mission": "m", "policy": ["a", "b"], "mean": [2.5, 1.8], "ci_low": [1.9, 1.0],
                          "ci_high": [3.0, 2.5], "runs": 1})  # fmt: skip
    assert leader(board, pd.DataFrame(columns=PAIRWISE), "m")["separated"] is False
    # a sweep whose best CI excludes the runner-up's estimate but overlaps its CI is not separated either
    frames = {t: _evals().query("policy == @p").assign(policy=t) for t, p in (("t1", "b"), ("t2", "a"))}
    table, choice = select_best(frames, "mean", "maximize", 0.95, 2000, 0)
    best, runner = table.iloc[0], table.iloc[1]
    assert choice["separated"] == (best["ci_low"] > runner["ci_high"])


def test_censored_quantiles_are_observed_values_or_inf():
    """inf marks a run that never got there: a quantile is the first observed value with that share of
    the sample at or below it (numpy's inverted CDF, checked on finite samples), else inf."""
    finite = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 9.0, 7.0])
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        assert censored_quantiles(finite, [q])[0] == np.quantile(finite, q, method="inverted_cdf")
    ten = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.inf, np.inf, np.inf, np.inf]  # 6 of 10 got there
    np.testing.assert_array_equal(censored_quantiles(ten, [0.25, 0.5, 0.6, 0.61, 0.75]), [3, 5, 6, np.inf, np.inf])
    assert censored_quantiles([np.inf] * 3, [0.5])[0] == np.inf
    with pytest.raises(ValueError, match="NaN"):
        censored_quantiles([1.0, np.nan], [0.5])
    with pytest.raises(UserError, match="zero values"):
        censored_quantiles([], [0.5])

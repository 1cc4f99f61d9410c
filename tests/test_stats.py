"""Known-answer tests for the statistics used by the summary."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from daf.errors import UserError
from daf.stats import bootstrap_ci, episode_scores, leaderboard, wilson_interval


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


def test_bootstrap_is_seeded_and_brackets_the_mean():
    values = np.random.default_rng(0).normal(3.0, 1.0, size=50)
    a = bootstrap_ci(values, reps=4000, seed=7)
    assert a == bootstrap_ci(values, reps=4000, seed=7)
    assert a != bootstrap_ci(values, reps=4000, seed=8)
    assert a[0] < values.mean() < a[1]
    # percentile bootstrap of the mean ~ normal-theory interval for n=50 (within MC error)
    half = 1.96 * values.std(ddof=0) / np.sqrt(values.size)
    assert a[0] == pytest.approx(values.mean() - half, abs=0.06)
    assert a[1] == pytest.approx(values.mean() + half, abs=0.06)


def test_bootstrap_coverage_on_normal_data():
    """About 95% of 95% intervals cover the true mean (n=30, 400 trials)."""
    rng = np.random.default_rng(1)
    covered = 0
    trials = 400
    for t in range(trials):
        sample = rng.normal(10.0, 2.0, size=30)
        low, high = bootstrap_ci(sample, reps=2000, seed=t)
        covered += low <= 10.0 <= high
    # percentile bootstrap under-covers slightly at n=30; binomial sd at 400 trials ~1.1%
    assert 0.90 <= covered / trials <= 0.98


def test_bootstrap_degenerate_inputs():
    assert bootstrap_ci(np.array([4.0])) == (4.0, 4.0)
    assert bootstrap_ci(np.array([2.0, 2.0, 2.0])) == (2.0, 2.0)
    with pytest.raises(UserError, match="zero episodes"):
        bootstrap_ci(np.array([]))


def test_bootstrap_chunking_matches_unchunked_distribution():
    values = np.arange(5000, dtype=float)  # forces several chunks
    low, high = bootstrap_ci(values, reps=1000, seed=0)
    assert low < values.mean() < high and (high - low) < 200


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
    a = scores[scores["policy"] == "a"]["score"].tolist()
    assert a == [1.5, 2.5, 3.5, 4.5]  # mean over the two agents of each episode
    assert scores["seed"].tolist()[:4] == [100, 101, 102, 103]


def test_leaderboard_values():
    board = leaderboard(episode_scores(_evals()), confidence=0.95, reps=2000, seed=0)
    row = board[board["policy"] == "b"].iloc[0]
    assert row["episodes"] == 4 and row["mean"] == pytest.approx(5.0)
    assert row["std"] == pytest.approx(np.std([3.5, 4.5, 5.5, 6.5], ddof=1))
    assert row["success_rate"] == 0.5
    low, high = sps.binomtest(2, 4).proportion_ci(method="wilson")
    assert (row["success_low"], row["success_high"]) == pytest.approx((low, high))
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    assert not board.isna().any().any()


def test_missing_columns_named():
    with pytest.raises(UserError, match=r"lacks columns \['success'\]"):
        episode_scores(_evals().drop(columns=["success"]))

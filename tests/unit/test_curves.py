"""Sample-efficiency curves (daf.stats.curves): known answers on constructed curve tables."""

import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from daf.errors import UserError
from daf.stats.curves import (
    FINAL_VS_BEST_COLUMNS,
    FINAL_VS_BEST_RUN_COLUMNS,
    SUMMARY_COLUMNS,
    final_vs_best,
    smoothed_training_reward,
    summarize_curves,
    time_to_threshold,
)
from daf.stats.estimates import bootstrap_estimate
from daf.stats.scores import ALL

EPISODE_PATTERN = np.linspace(-1.0, 1.0, 16)  # zero-mean: a run's mean is exactly its offset


def curve(policy, mission, run_means: dict[int, dict[int, float]], pattern=EPISODE_PATTERN) -> pd.DataFrame:
    """Rows of one policy on one mission: run_means[run][agent_steps] + a zero-mean pattern."""
    rows = [
        {"policy": policy, "run": run, "agent_steps": steps, "mission": mission, "episode": e, "score": mean + x}
        for run, points in run_means.items()
        for steps, mean in points.items()
        for e, x in enumerate(pattern)
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table():
    means = {
        "m1": {0: {100: 1.0, 200: 2.0}, 1: {100: 3.0, 200: 4.5}, 2: {100: 2.0, 200: 3.0}},
        "m2": {0: {100: 10.0, 200: 12.0}, 1: {100: 14.0, 200: 13.0}, 2: {100: 12.0, 200: 20.0}},
    }
    frames = [curve("ppo", m, runs) for m, runs in means.items()]
    frames.append(curve("solo", "m1", {0: {100: 5.0, 200: 6.0}}))  # one run, one mission
    return pd.concat(frames, ignore_index=True), means


def row(summary, policy, mission, steps):
    part = summary[(summary["policy"] == policy) & (summary["mission"] == mission) & (summary["agent_steps"] == steps)]
    assert len(part) == 1, part
    return part.iloc[0]


def test_mean_over_runs_and_ci(table):
    curves, means = table
    summary = summarize_curves(curves, reps=2000)
    assert list(summary.columns) == SUMMARY_COLUMNS
    for mission, runs in means.items():
        for steps in (100, 200):
            r = row(summary, "ppo", mission, steps)
            expected = np.mean([points[steps] for points in runs.values()])
            assert r["mean"] == pytest.approx(expected, abs=1e-12)
            assert r["ci_low"] <= r["mean"] <= r["ci_high"] and r["ci_low"] < r["ci_high"]
            assert r["iqm"] == pytest.approx(expected, abs=1e-12)  # 3 runs: the IQM trims nothing
            assert r["runs"] == 3 and r["episodes"] == len(EPISODE_PATTERN) and not r["normalized"]
    assert not (summary["mission"] == ALL).any()  # no normalisation, no ALL rows


def test_iqm_is_rliable_trimmed_mean_of_run_means():
    rng = np.random.default_rng(1)
    run_means = rng.normal(0, 3, 9)
    curves = curve("p", "m", {r: {1: float(m)} for r, m in enumerate(run_means)})
    r = summarize_curves(curves, reps=500).iloc[0]
    assert r["iqm"] == pytest.approx(sps.trim_mean(run_means, 0.25))
    assert r["mean"] == pytest.approx(run_means.mean())
    assert r["iqm_low"] <= r["iqm"] <= r["iqm_high"]


def test_one_run_is_the_episode_bootstrap():
    rng = np.random.default_rng(2)
    values = rng.normal(5.0, 2.0, 400)
    curves = curve("p", "m", {0: {1: 0.0}}, pattern=values)
    r = summarize_curves(curves, reps=4000).iloc[0]
    reference = bootstrap_estimate([values], "mean", reps=4000, seed=0)
    assert r["mean"] == pytest.approx(values.mean()) and r["iqm"] == pytest.approx(values.mean())
    width = reference.high - reference.low  # same resampling, other draws: equal up to Monte Carlo error
    assert r["ci_low"] == pytest.approx(reference.low, abs=0.05 * width)
    assert r["ci_high"] == pytest.approx(reference.high, abs=0.05 * width)
    assert (r["ci_high"] - r["ci_low"]) / 2 == pytest.approx(1.96 * values.std(ddof=1) / 20, rel=0.1)


def test_two_levels_widen_the_interval_when_runs_differ():
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 1, 64)
    same = summarize_curves(curve("p", "m", {r: {1: 0.0} for r in range(4)}, pattern=noise)).iloc[0]
    apart = summarize_curves(curve("p", "m", {r: {1: 3.0 * r} for r in range(4)}, pattern=noise)).iloc[0]
    assert apart["ci_high"] - apart["ci_low"] > 5 * (same["ci_high"] - same["ci_low"])


def test_coverage_of_the_true_mean():
    """Vectorised over checkpoints: each agent_steps value is an independent data set."""
    rng = np.random.default_rng(4)
    cells, runs, episodes = 300, 4, 16
    run_effect = np.repeat(rng.normal(0, 0.1, cells * runs), episodes)
    curves = pd.DataFrame({
        "policy": "p", "mission": "m", "agent_steps": np.repeat(np.arange(cells), runs * episodes),
        "run": np.tile(np.repeat(np.arange(runs), episodes), cells),
        "episode": np.tile(np.arange(episodes), cells * runs),
        "score": run_effect + rng.normal(0, 1, cells * runs * episodes),
    })  # fmt: skip
    summary = summarize_curves(curves, reps=1000)
    covered = ((summary["ci_low"] <= 0) & (summary["ci_high"] >= 0)).mean()
    assert covered >= 0.93  # two-level resampling is conservative when episodes dominate


def test_ragged_runs_weigh_runs_equally():
    short = curve("p", "m", {0: {1: 1.0}}, pattern=np.array([-1.0, 1.0]))
    long = curve("p", "m", {1: {1: 3.0}})
    r = summarize_curves(pd.concat([short, long], ignore_index=True)).iloc[0]
    assert r["mean"] == pytest.approx(2.0)  # mean of run means, not of pooled episodes
    assert r["runs"] == 2 and r["ci_low"] <= 2.0 <= r["ci_high"]


def test_all_rows_normalise_exactly(table):
    curves, means = table
    normalization = {"m1": (1.0, 3.0), "m2": (10.0, 20.0)}
    summary = summarize_curves(curves, normalization, reps=1000)
    for steps in (100, 200):
        r = row(summary, "ppo", ALL, steps)
        cells = np.array([
            [(means[m][run][steps] - normalization[m][0]) / (normalization[m][1] - normalization[m][0])
             for m in ("m1", "m2")]
            for run in range(3)
        ])  # fmt: skip
        assert r["mean"] == pytest.approx(cells.mean(axis=0).mean(), abs=1e-12)
        assert r["iqm"] == pytest.approx(sps.trim_mean(cells.ravel(), 0.25), abs=1e-12)
        assert r["ci_low"] <= r["mean"] <= r["ci_high"] and r["normalized"]
    # per-mission rows stay in raw units; `solo` lacks m2, so it has no ALL rows
    assert row(summary, "ppo", "m1", 100)["mean"] == pytest.approx(2.0)
    assert not ((summary["policy"] == "solo") & (summary["mission"] == ALL)).any()


def test_all_rows_only_where_every_mission_has_the_checkpoint(table):
    curves, _ = table
    partial = curves[~((curves["mission"] == "m2") & (curves["agent_steps"] == 200))]
    summary = summarize_curves(partial, {"m1": (0.0, 1.0), "m2": (0.0, 1.0)}, reps=200)
    assert list(summary[(summary["policy"] == "ppo") & (summary["mission"] == ALL)]["agent_steps"]) == [100]


def test_seeded_and_deterministic(table):
    curves, _ = table
    a = summarize_curves(curves, {"m1": (0.0, 1.0), "m2": (0.0, 1.0)}, reps=500, seed=7)
    b = summarize_curves(curves, {"m1": (0.0, 1.0), "m2": (0.0, 1.0)}, reps=500, seed=7)
    pd.testing.assert_frame_equal(a, b)
    c = summarize_curves(curves, {"m1": (0.0, 1.0), "m2": (0.0, 1.0)}, reps=500, seed=8)
    assert not np.allclose(a["ci_low"], c["ci_low"])


def test_final_vs_best(table):
    curves, means = table
    per_run = final_vs_best(curves, per_run=True)
    assert list(per_run.columns) == FINAL_VS_BEST_RUN_COLUMNS
    ppo_m2 = per_run[(per_run["policy"] == "ppo") & (per_run["mission"] == "m2")].set_index("run")
    assert list(ppo_m2["final_agent_steps"]) == [200, 200, 200]
    assert list(ppo_m2["final_score"]) == pytest.approx([12.0, 13.0, 20.0])
    assert list(ppo_m2["best_agent_steps"]) == [200, 100, 200]  # run 1 peaked early
    assert list(ppo_m2["best_score"]) == pytest.approx([12.0, 14.0, 20.0])
    table_ = final_vs_best(curves)
    assert list(table_.columns) == FINAL_VS_BEST_COLUMNS
    r = table_[(table_["policy"] == "ppo") & (table_["mission"] == "m2")].iloc[0]
    assert r["runs"] == 3 and r["final_agent_steps"] == 200 and r["best_agent_steps"] == 200
    assert r["final_mean"] == pytest.approx(15.0) and r["best_mean"] == pytest.approx(46 / 3)
    assert r["final_std"] == pytest.approx(np.std([12, 13, 20], ddof=1))
    assert r["best_minus_final"] == pytest.approx(1 / 3) and r["best_steps"] == "0:200, 1:100, 2:200"
    solo = table_[table_["policy"] == "solo"].iloc[0]
    assert solo["runs"] == 1 and np.isnan(solo["final_std"]) and solo["best_minus_final"] == 0.0


def test_best_ties_pick_the_earliest_checkpoint():
    curves = curve("p", "m", {0: {100: 2.0, 200: 2.0, 300: 1.0}})
    r = final_vs_best(curves, per_run=True).iloc[0]
    assert r["best_agent_steps"] == 100 and r["final_agent_steps"] == 300


def test_realistic_size_is_fast():
    """2 policies x 3 runs x 3 missions x 20 checkpoints x 16 episodes, with ALL rows."""
    rng = np.random.default_rng(5)
    index = pd.MultiIndex.from_product(
        [["a", "b"], range(3), range(1, 21), ["m1", "m2", "m3"], range(16)],
        names=["policy", "run", "agent_steps", "mission", "episode"],
    )
    curves = index.to_frame(index=False).assign(score=rng.normal(0, 1, len(index)))
    normalization = {m: (-1.0, 1.0) for m in ("m1", "m2", "m3")}
    start = time.perf_counter()
    summary = summarize_curves(curves, normalization, reps=2000)
    assert time.perf_counter() - start < 3.0
    assert len(summary) == 2 * 20 * (3 + 1)


@pytest.mark.parametrize(
    "change, needles",
    [
        (lambda t: t.drop(columns=["agent_steps", "run"]), ["lacks columns ['run', 'agent_steps']", "needs policy"]),
        (lambda t: t.iloc[0:0], ["curves table is empty", "policy, run, agent_steps"]),
        (lambda t: pd.concat([t, t.iloc[:1]]), ["two scores for policy 'ppo', run 0", "given twice"]),
        (lambda t: t.assign(score=[np.nan] + list(t["score"].iloc[1:])), ["missing or non-numeric score"]),
    ],
)
def test_bad_tables_are_user_errors(table, change, needles):
    with pytest.raises(UserError) as info:
        summarize_curves(change(table[0]), reps=10)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


def test_bad_normalization_is_a_user_error(table):
    with pytest.raises(UserError, match="normalization lacks mission\\(s\\) 'm2'.*m1, m2"):
        summarize_curves(table[0], {"m1": (0.0, 1.0)}, reps=10)
    with pytest.raises(UserError, match="cannot normalise mission 'm1'"):
        summarize_curves(table[0], {"m1": (1.0, 1.0), "m2": (0.0, 1.0)}, reps=10)
    with pytest.raises(UserError, match="confidence"):
        summarize_curves(table[0], confidence=1.5)


def test_reference_means_are_the_pairs_mean_episode_scores_per_mission():
    """The library call behind `daf curves-aggregate --normalize`: per curve mission, the low and
    high policies' mean episode score in the references (one agent per episode here)."""
    from daf.stats.curves import reference_means

    def evals(policy, mission, rewards):
        return pd.DataFrame({"policy": policy, "mission": mission, "episode": range(len(rewards)),
                             "seed": range(len(rewards)), "reward": rewards, "success": False})  # fmt: skip

    refs = pd.concat([evals("random", "m", [0.0, 1.0]), evals("baseline", "m", [4.0, 6.0]),
                      evals("random", "n", [2.0]), evals("baseline", "n", [3.0])])  # fmt: skip
    curves = pd.DataFrame({"mission": ["m", "n", "m"]})
    assert reference_means(refs, "random", "baseline", curves) == {"m": (0.5, 5.0), "n": (2.0, 3.0)}
    only_random = pd.concat([evals("random", "o", [1.0])])
    with pytest.raises(UserError, match="--references lack baseline on mission 'o'"):
        reference_means(only_random, "random", "baseline", pd.DataFrame({"mission": ["o"]}))


def training_log(rewards, episodes) -> pd.DataFrame:
    """A train_log's columns that the training curve reads: update k at agent-step 100 k, second 2 k."""
    n = len(rewards)
    return pd.DataFrame({
        "agent_steps": 100 * np.arange(1, n + 1), "wall_seconds": 2.0 * np.arange(1, n + 1),
        "episodes": episodes, "episode_reward": rewards,
    })  # fmt: skip


def test_smoothed_training_reward_is_the_mean_of_the_last_episodes():
    # update 2 ended no episode (NaN reward): skipped. Window 4 episodes: the fewest latest updates
    # that ended at least 4 (all so far at the start), each update's mean weighted by its episodes
    log = training_log([1.0, np.nan, 4.0, 10.0, 0.0, 2.0], [1, 0, 3, 1, 4, 1])
    curve = smoothed_training_reward(log, window=4)
    assert curve["agent_steps"].tolist() == [100, 300, 400, 500, 600]
    assert curve["wall_seconds"].tolist() == [2.0, 6.0, 8.0, 10.0, 12.0]
    # [1] = 1; [1, 3x4] = 13/4; [3x4, 10] = 22/4; [0 x4] = 0/4; [0 x4, 2] = 2/5
    np.testing.assert_allclose(curve["reward"], [1.0, 13 / 4, 22 / 4, 0.0, 2 / 5])
    np.testing.assert_allclose(smoothed_training_reward(log, window=1)["reward"], [1.0, 4.0, 10.0, 0.0, 2.0])
    whole = smoothed_training_reward(log, window=100)["reward"]  # everything so far
    np.testing.assert_allclose(whole, np.cumsum([1, 12, 10, 0, 2]) / np.cumsum([1, 3, 1, 4, 1]))
    with pytest.raises(ValueError, match="window"):
        smoothed_training_reward(log, window=0)


def test_time_to_threshold_is_the_first_smoothed_point_at_or_above_it():
    log = training_log([1.0, np.nan, 4.0, 10.0, 0.0, 2.0], [1, 0, 3, 1, 4, 1])
    assert time_to_threshold(log, 5.5, window=4) == (400.0, 8.0)  # reached exactly at update 4
    assert time_to_threshold(log, 3.0, window=4) == (300.0, 6.0)
    assert time_to_threshold(log, 10.0, window=1) == (400.0, 8.0)  # no smoothing: the raw update
    assert time_to_threshold(log, 5.6, window=4) == (np.inf, np.inf)  # never: censored at the budget
    # one lucky episode is not "learned" once smoothed
    assert time_to_threshold(log, 10.0, window=4) == (np.inf, np.inf)

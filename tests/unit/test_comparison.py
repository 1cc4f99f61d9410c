"""`daf compare`: the leaderboard and pairwise contracts on constructed evaluation tables."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from daf.errors import UserError
from daf.stats.comparison import LEADERBOARD, ONE_RUN_NOTE, PAIRWISE, CompareSettings, compare
from daf.stats.metrics import probability_of_improvement
from daf.stats.scores import ALL
from daf.stats.significance import benjamini_hochberg, holm

SETTINGS = CompareSettings(reps=2000, normalize=("low", "high"))


def evals(policy, mission, scores, seed0=0, success_at=None):
    """One agent per episode, so the episode score is the reward."""
    return pd.DataFrame(
        {
            "policy": policy,
            "role": "candidate",
            "mission": mission,
            "episode": range(len(scores)),
            "seed": [seed0 + i for i in range(len(scores))],
            "agent": 0,
            "reward": scores,
            "success": [success_at is not None and s >= success_at for s in scores],
        }
    )


@pytest.fixture(scope="module")
def study():
    rng = np.random.default_rng(0)
    frames = []
    for mission, scale in (("m1", 1.0), ("m2", 10.0)):
        noise = rng.normal(0, 0.3, 30)
        frames += [
            evals("low", mission, scale * (0 + noise), success_at=scale),
            evals("high", mission, scale * (1 + noise + rng.normal(0, 0.1, 30)), success_at=scale),
            evals("mid", mission, scale * (0.5 + rng.normal(0, 0.3, 30)), seed0=1000),  # other seeds: unpaired
        ]
    frames.append(evals("solo", "m1", rng.normal(0.2, 0.3, 30)))  # plays m1 only
    return compare(pd.concat(frames, ignore_index=True), SETTINGS)


def test_leaderboard_contract(study):
    board, _, _ = study
    assert list(board.columns) == LEADERBOARD
    assert (board["runs"] == 1).all() and (board["note"] == "").all()  # tables without `run`: one run each
    assert set(board["mission"]) == {"m1", "m2", ALL}
    allrows = board[board["mission"] == ALL].set_index("policy")
    assert allrows.loc["low", "mean"] == pytest.approx(0.0, abs=1e-12)  # normalised: low -> 0
    assert allrows.loc["high", "mean"] == pytest.approx(1.0)  # high -> 1
    assert allrows.loc["solo", "n_missions"] == 1 and allrows.loc["high", "n_missions"] == 2
    assert allrows["normalized"].all() and not board[board["mission"] != ALL]["normalized"].any()
    m2 = board[(board["mission"] == "m2") & (board["policy"] == "high")].iloc[0]
    assert m2["ci_low"] < m2["mean"] < m2["ci_high"] and m2["iqm_low"] < m2["iqm"] < m2["iqm_high"]
    low_m1 = board[(board["mission"] == "m1") & (board["policy"] == "low")].iloc[0]
    assert low_m1["success_rate"] == 0.0 and low_m1["success_low"] == 0.0 and low_m1["success_high"] > 0
    # the optimality gap (mean shortfall below 1) means something on normalised scores only
    assert board[board["mission"] != ALL]["optimality_gap"].isna().all()
    # NaN only where defined so: the gap on raw rewards, run-level success CIs of single-run policies
    assert not board.drop(columns=["optimality_gap", "success_run_low", "success_run_high"]).isna().any().any()
    assert board[["success_run_low", "success_run_high"]].isna().all().all()  # every policy here has one run


def test_optimality_gap_only_on_normalised_scores(study):
    """ALL rows with normalisation: mean over episodes of max(1 - normalised score, 0), by hand;
    per-mission rows (raw rewards) and ALL rows without normalisation: NaN, never a number
    measured against a threshold of 1 reward."""
    board, _, _ = study
    rng = np.random.default_rng(0)
    scores = {}
    for mission, scale in (("m1", 1.0), ("m2", 10.0)):
        noise = rng.normal(0, 0.3, 30)
        low, high = scale * (0 + noise), scale * (1 + noise + rng.normal(0, 0.1, 30))
        rng.normal(0.5, 0.3, 30)  # mid's draws, as in the fixture
        scores[mission] = (high - low.mean()) / (high.mean() - low.mean())
    expected = np.mean(np.maximum(1 - np.concatenate([scores["m1"], scores["m2"]]), 0))
    gap = board[(board["mission"] == ALL) & (board["policy"] == "high")]["optimality_gap"].iloc[0]
    assert gap == pytest.approx(expected, rel=1e-12)
    raw, _, _ = compare(
        pd.concat([evals("a", "m1", [1.0, 3.0]), evals("b", "m1", [0.0, 2.0])]), CompareSettings(reps=200)
    )
    assert raw["optimality_gap"].isna().all()


def test_pairwise_contract_and_pairing(study):
    _, pairwise, _ = study
    assert list(pairwise.columns) == PAIRWISE
    assert (pairwise["level"] == "episode").all() and (pairwise[["runs_a", "runs_b"]] == 1).all().all()

    def row(a, b, m, t):
        return pairwise.query("policy_a == @a and policy_b == @b and mission == @m and test == @t").iloc[0]

    paired = row("high", "low", "m1", "wilcoxon")
    assert paired["n_pairs"] == 30 and paired["poi"] > 0.9 and paired["significant"]
    unpaired = row("high", "mid", "m2", "mannwhitney")  # different seeds: unpaired tests
    assert set(pairwise.query("policy_a == 'high' and policy_b == 'mid' and mission == 'm2'")["test"]) == {
        "mannwhitney",
        "welch_t",
    }
    assert unpaired["effect_size"] == pytest.approx(2 * unpaired["poi"] - 1)
    agg = row("high", "low", ALL, "wilcoxon_missions")
    assert agg["n_pairs"] == 2
    assert pairwise.query("policy_a == 'low' and policy_b == 'solo'")["mission"].tolist() == ["m1", "m1", ALL]


def test_corrections_per_test_family(study):
    _, pairwise, _ = study
    for _test, part in pairwise.groupby("test"):
        assert part["p_holm"].to_numpy() == pytest.approx(holm(part["p_value"].to_numpy()))
        assert part["p_bh"].to_numpy() == pytest.approx(benjamini_hochberg(part["p_value"].to_numpy()))
    assert (pairwise["p_adjusted"] == pairwise["p_holm"]).all()  # holm is the default
    assert (pairwise["p_adjusted"] >= pairwise["p_value"] - 1e-15).all()
    assert not pairwise[["statistic", "p_value", "p_adjusted", "poi", "poi_low", "poi_high"]].isna().any().any()


def test_pairwise_p_values_equal_scipy(study):
    """The table's raw p-values are scipy's on the seed-matched episodes."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(1, 1, 20), rng.normal(0.5, 1, 20)
    _, pairwise, _ = compare(pd.concat([evals("a", "m", a), evals("b", "m", b)]), CompareSettings(reps=500))
    get = lambda t: pairwise.query("mission == 'm' and test == @t").iloc[0]  # noqa: E731
    assert get("wilcoxon")["p_value"] == pytest.approx(sps.wilcoxon(a, b).pvalue)
    assert get("paired_t")["p_value"] == pytest.approx(sps.ttest_rel(a, b).pvalue)


def test_profiles(study):
    _, _, profiles = study
    assert set(profiles.columns) == {"policy", "mission", "tau", "fraction", "low", "high"}
    curve = profiles.query("policy == 'high' and mission == @ALL")
    assert curve["fraction"].is_monotonic_decreasing and curve["fraction"].iloc[0] > 0.9


def test_partial_seed_match_is_noted():
    a = evals("a", "m", np.arange(10.0))
    b = evals("b", "m", np.arange(10.0) + 0.5).iloc[:6]
    _, pairwise, _ = compare(pd.concat([a, b]), CompareSettings(reps=200))
    notes = pairwise.query("mission == 'm'")["note"].tolist()
    assert all("6 of 10 episodes matched by seed" in n for n in notes)


def test_compare_errors():
    with pytest.raises(UserError, match="no evaluation rows"):
        compare(pd.DataFrame(), SETTINGS)
    with pytest.raises(UserError, match="reference policy 'high' has no evaluation"):
        compare(evals("low", "m", [1.0, 2.0]), SETTINGS)


def test_compare_cli(tmp_path, daf):
    paths = []
    for policy, shift in (("low", 0.0), ("high", 2.0)):
        path = tmp_path / f"{policy}.parquet"
        evals(policy, "m", np.random.default_rng(3).normal(shift, 1, 12)).to_parquet(path)
        paths.append(str(path))
    out = tmp_path / "cmp"
    result = daf(
        "compare",
        "--evals",
        *paths,
        "--out",
        str(out),
        "--reps",
        "500",
        "--normalize",
        "low,high",
        "--interval",
        "bca",
        "--correction",
        "bh",
    )
    assert result.returncode == 0, result.stderr
    assert list(pd.read_parquet(out / "leaderboard.parquet").columns) == LEADERBOARD
    pairwise = pd.read_parquet(out / "pairwise.parquet")
    assert (pairwise["p_adjusted"] == pairwise["p_bh"]).all()
    data = json.loads((out / "comparison.json").read_text())
    assert data["settings"]["interval"] == "bca" and len(data["leaderboard"]) == 4
    bad = daf("compare", "--evals", paths[0], "--out", str(tmp_path / "bad"), "--normalize", "low")
    assert bad.returncode == 2 and "LOW,HIGH" in bad.stderr and not (tmp_path / "bad" / "leaderboard.parquet").exists()


# --- training runs as the unit of replication -------------------------------------------------------

RUN_SETTINGS = CompareSettings(reps=2000, normalize=("low", "high"), trained=("ppo", "ppo2", "once"))


def run_evals(policy, mission, skill, runs, episodes=20, spread=1.0, seed=0):
    """Every run plays the same episodes (seeds 0..episodes-1); runs differ by a training offset."""
    rng = np.random.default_rng(seed)
    frames = [evals(policy, mission, skill + spread * rng.normal() + rng.normal(0, 0.3, episodes)).assign(run=run)
              for run in runs]  # fmt: skip
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def run_study():
    frames = []
    for i, (mission, scale) in enumerate((("m1", 1.0), ("m2", 5.0))):
        frames += [
            run_evals("low", mission, 0.0, [0], spread=0, seed=10 + i),  # scripted: run 0
            run_evals("high", mission, 4.0 * scale, [0], spread=0, seed=20 + i),
            run_evals("ppo", mission, 2.0 * scale, [0, 1, 2], seed=30 + i),
            run_evals("ppo2", mission, 1.0 * scale, [0, 1], seed=40 + i),
            run_evals("once", mission, 3.0 * scale, [7], seed=50 + i),
        ]
    table = pd.concat(frames, ignore_index=True)
    return table, compare(table, RUN_SETTINGS)


def test_leaderboard_runs_and_notes(run_study):
    table, (board, _, _) = run_study
    rows = board.set_index(["policy", "mission"])
    assert rows["runs"].to_dict() == {
        (p, m): r for p, r in (("low", 1), ("high", 1), ("ppo", 3), ("ppo2", 2), ("once", 1)) for m in ("m1", "m2", ALL)
    }
    assert rows.loc[("once", "m1"), "note"] == ONE_RUN_NOTE == "one training run: the CI reflects evaluation noise only"
    assert rows.loc[("once", ALL), "note"] == ONE_RUN_NOTE
    assert rows.loc[("ppo", "m2"), "note"] == "3 training runs: two-level bootstrap (runs, then episodes)"
    assert rows.loc[("ppo", ALL), "note"].startswith("3 training runs: score matrix")
    assert rows.loc[("low", "m1"), "note"] == "" and rows.loc[("high", ALL), "note"] == ""  # not trained by DAF
    assert rows.loc[("ppo", "m1"), "n"] == 60 and rows.loc[("ppo", ALL), "n"] == 120
    # per mission: mean of run means; ALL: rliable's aggregates of the normalised runs x missions matrix
    ppo = table[table["policy"] == "ppo"]
    assert rows.loc[("ppo", "m1"), "mean"] == pytest.approx(
        ppo[ppo["mission"] == "m1"].groupby("run")["reward"].mean().mean()
    )
    means = table.groupby(["policy", "mission"])["reward"].mean()
    cells = {m: (ppo[ppo["mission"] == m].groupby("run")["reward"].mean() - means[("low", m)])
                / (means[("high", m)] - means[("low", m)]) for m in ("m1", "m2")}  # fmt: skip
    allrow = rows.loc[("ppo", ALL)]
    assert allrow["mean"] == pytest.approx(np.mean([c.mean() for c in cells.values()]))
    assert allrow["iqm"] == pytest.approx(sps.trim_mean(np.concatenate(list(cells.values())), 0.25))
    assert allrow["median"] == pytest.approx(np.median([c.mean() for c in cells.values()]))
    assert (
        allrow["ci_low"] < allrow["mean"] < allrow["ci_high"] and allrow["iqm_low"] < allrow["iqm"] < allrow["iqm_high"]
    )


def test_runs_widen_the_interval_over_one_run(run_study):
    """The same policy scored on one of its runs has a narrower CI than on all three."""
    table, (board, _, _) = run_study
    one = compare(table[(table["policy"] != "ppo") | (table["run"] == 0)], RUN_SETTINGS)[0]
    width = lambda b: (lambda r: r["ci_high"] - r["ci_low"])(b.set_index(["policy", "mission"]).loc[("ppo", "m2")])  # noqa: E731
    assert width(board) > 2 * width(one)
    assert one.set_index(["policy", "mission"]).loc[("ppo", "m2"), "note"] == ONE_RUN_NOTE


def test_pairwise_levels_and_run_tests(run_study):
    table, (_, pairwise, _) = run_study
    assert list(pairwise.columns) == PAIRWISE

    def rows(a, b, m):
        return pairwise.query("policy_a == @a and policy_b == @b and mission == @m").set_index("test")

    def run_means(policy, mission):
        part = table[(table["policy"] == policy) & (table["mission"] == mission)]
        return part.groupby("run")["reward"].mean().to_numpy()

    episode = rows("high", "low", "m1")
    assert set(episode.index) == {"wilcoxon", "paired_t"} and (episode["level"] == "episode").all()
    # both sides with several runs: Welch and Mann-Whitney over run means
    both = rows("ppo", "ppo2", "m2")
    assert set(both.index) == {"welch_t", "mannwhitney"} and (both["level"] == "run").all()
    assert (both["runs_a"] == 3).all() and (both["runs_b"] == 2).all()
    a, b = run_means("ppo", "m2"), run_means("ppo2", "m2")
    assert both.loc["welch_t", "p_value"] == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    assert both.loc["mannwhitney", "p_value"] == pytest.approx(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    assert both.loc["welch_t", "poi"] == pytest.approx(probability_of_improvement(a, b))
    # one side with a single run: one-sample tests of the differences, A - B
    one = rows("high", "ppo", "m1")
    assert set(one.index) == {"t_one_sample", "wilcoxon_one_sample"} and (one["level"] == "run").all()
    assert (one["runs_a"] == 1).all() and (one["runs_b"] == 3).all() and (one["n_pairs"] == 3).all()
    d = run_means("high", "m1")[0] - run_means("ppo", "m1")
    assert one.loc["t_one_sample", "p_value"] == pytest.approx(sps.ttest_1samp(d, 0).pvalue)
    assert one.loc["t_one_sample", "statistic"] == pytest.approx(sps.ttest_1samp(d, 0).statistic) and d.mean() > 0
    assert one.loc["wilcoxon_one_sample", "p_value"] == pytest.approx(sps.wilcoxon(d).pvalue)
    assert "3 run means of ppo against the mean of high's single run" in one.loc["t_one_sample", "note"]
    assert one.loc["t_one_sample", "mean_diff"] == pytest.approx(d.mean())
    # ALL: Wilcoxon over mission means at the run level; POI over runs averaged over missions
    agg = rows("ppo", "ppo2", ALL)
    assert agg.index.tolist() == ["wilcoxon_missions"] and agg["level"].iloc[0] == "run"
    expected = np.mean([probability_of_improvement(run_means("ppo", m), run_means("ppo2", m)) for m in ("m1", "m2")])
    assert agg["poi"].iloc[0] == pytest.approx(expected)
    assert agg["poi_low"].iloc[0] <= agg["poi"].iloc[0] <= agg["poi_high"].iloc[0]
    assert rows("high", "low", ALL)["level"].iloc[0] == "episode"
    assert rows("low", "once", "m1")["level"].eq("episode").all()  # two single runs: seed-matched, as before


def test_corrections_per_level_and_test(run_study):
    _, (_, pairwise, _) = run_study
    families = pairwise.groupby(["level", "test"])
    assert ("run", "welch_t") in families.groups and ("episode", "paired_t") in families.groups
    for _family, part in families:
        assert part["p_holm"].to_numpy() == pytest.approx(holm(part["p_value"].to_numpy()))
        assert part["p_bh"].to_numpy() == pytest.approx(benjamini_hochberg(part["p_value"].to_numpy()))


def test_runs_with_different_episodes_are_refused():
    table = pd.concat([run_evals("ppo", "m1", 1.0, [0]), run_evals("ppo", "m1", 1.0, [3], episodes=15)])
    with pytest.raises(UserError, match=r"policy 'ppo' on mission 'm1': runs 0 and 3 played different episodes"):
        compare(table, CompareSettings(reps=100))


def test_compare_cli_with_runs(tmp_path, daf):
    paths = []
    for policy, frame in (
        ("low", run_evals("low", "m", 0.0, [0], spread=0)),
        ("ppo", run_evals("ppo", "m", 2.0, [0, 1, 2])),
    ):
        paths.append(str(tmp_path / f"{policy}.parquet"))
        frame.to_parquet(paths[-1])
    legacy = tmp_path / "legacy.parquet"  # a table from before the `run` column
    evals("old", "m", np.random.default_rng(4).normal(1, 1, 20)).to_parquet(legacy)
    out = tmp_path / "cmp"
    result = daf("compare", "--evals", *paths, str(legacy), "--out", str(out), "--reps", "300", "--trained", "ppo,old")
    assert result.returncode == 0, result.stderr
    board = pd.read_parquet(out / "leaderboard.parquet").set_index(["policy", "mission"])
    assert board.loc[("ppo", "m"), "runs"] == 3 and board.loc[("old", "m"), "note"] == ONE_RUN_NOTE
    assert board.loc[("low", "m"), "note"] == ""
    pairwise = pd.read_parquet(out / "pairwise.parquet")
    assert set(pairwise.loc[pairwise["policy_b"] == "ppo", "level"]) == {"run"}
    assert json.loads((out / "comparison.json").read_text())["settings"]["trained"] == ["ppo", "old"]


def test_best_policy_is_separated_only_from_a_runner_up():
    """The report's findings: a mission only one policy played has no runner-up, so it is not
    'separated' from one (None); otherwise the CIs decide."""
    from daf.report.findings import leader

    board = pd.DataFrame([
        {"policy": "a", "mission": "solo", "mean": 5.0, "ci_low": 4.0, "ci_high": 6.0},
        {"policy": "a", "mission": "pair", "mean": 5.0, "ci_low": 4.0, "ci_high": 6.0},
        {"policy": "b", "mission": "pair", "mean": 3.0, "ci_low": 2.0, "ci_high": 4.5},
        {"policy": "a", "mission": "apart", "mean": 5.0, "ci_low": 4.0, "ci_high": 6.0},
        {"policy": "b", "mission": "apart", "mean": 1.0, "ci_low": 0.5, "ci_high": 1.5},
    ]).assign(runs=1)  # fmt: skip
    no_tests = pd.DataFrame(columns=PAIRWISE)
    found = {m: leader(board, no_tests, m) for m in ("solo", "pair", "apart")}
    clear = {m: (f["policy"], f["separated"]) for m, f in found.items()}
    assert clear == {"solo": ("a", None), "pair": ("a", False), "apart": ("a", True)}


def test_success_intervals_over_runs_widen_with_between_run_spread():
    """Two runs that succeed at 10% and 90% vs two that both succeed at 50%: same pooled rate
    and Wilson interval, but the run-level interval is wider when the runs disagree."""

    def runs(rates):
        frames = []
        for run, rate in enumerate(rates):
            wins = np.arange(40) < rate * 40
            frames.append(evals("p", "m", wins.astype(float), success_at=1.0).assign(run=run))
        return pd.concat(frames, ignore_index=True)

    settings = CompareSettings(reps=3000)
    agree = compare(runs([0.5, 0.5]), settings)[0].iloc[0]
    disagree = compare(runs([0.1, 0.9]), settings)[0].iloc[0]
    assert agree["success_rate"] == disagree["success_rate"] == 0.5
    assert (agree["success_low"], agree["success_high"]) == (disagree["success_low"], disagree["success_high"])
    width = lambda row: row["success_run_high"] - row["success_run_low"]  # noqa: E731
    assert width(disagree) > width(agree) + 0.3
    single = compare(runs([0.5]), settings)[0].iloc[0]
    assert np.isnan(single["success_run_low"]) and np.isnan(single["success_run_high"])

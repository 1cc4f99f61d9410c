"""`daf compare`: the leaderboard and pairwise contracts on constructed evaluation tables."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from daf.comparison import LEADERBOARD, PAIRWISE, CompareSettings, compare
from daf.errors import UserError
from daf.stats import ALL

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
    assert not board.drop(columns=[]).isna().any().any()


def test_pairwise_contract_and_pairing(study):
    _, pairwise, _ = study
    assert list(pairwise.columns) == PAIRWISE

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
    from daf.stats import benjamini_hochberg, holm

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

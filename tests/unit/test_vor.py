"""VOR and weighted scores on hand-built tables with known answers (cogames' definitions)."""

import json

import numpy as np
import pandas as pd
import pytest

from daf.errors import UserError
from daf.evaluation.episodes import allocate_counts, seat_assignment
from daf.stats.vor import vor, weighted_scores


def table(scenario: str, episodes: list[list[tuple[str, float]]], mission: str = "m") -> pd.DataFrame:
    """Rows for one scenario file: episodes given as [(policy, reward) per agent]."""
    rows = []
    for ep, agents in enumerate(episodes):
        for agent, (policy, reward) in enumerate(agents):
            rows.append(
                {
                    "policy": policy,
                    "mission": mission,
                    "episode": ep,
                    "seed": ep,
                    "agent": agent,
                    "reward": reward,
                    "scenario": scenario,
                }
            )
    return pd.DataFrame(rows)


def known_scenarios(mission: str = "m") -> pd.DataFrame:
    return pd.concat(
        [
            table("k0", [[("r", 1), ("r", 3)], [("r", 2), ("r", 2)]], mission),  # replacement mean 2
            table("k1", [[("c", 5), ("r", 1)], [("r", 3), ("c", 7)]], mission),  # candidate mean 6
            table("k2", [[("c", 4), ("c", 6)], [("c", 8), ("c", 8)], [("c", 2), ("c", 4)]], mission),  # 16/3
        ],
        ignore_index=True,
    )


def test_vor_known_answer():
    result = vor(known_scenarios(), "c", reps=2000)
    # (6 * 1 * 2 + 16/3 * 2 * 3) / (1 * 2 + 2 * 3) - 2 = 44/8 - 2
    assert result["vor"] == pytest.approx(3.5)
    assert result["replacement_mean"] == pytest.approx(2.0)
    per_k = {row["k"]: row for row in result["per_k"]}
    assert per_k[1]["vor"] == pytest.approx(4.0) and per_k[1]["episodes"] == 2
    assert per_k[2]["vor"] == pytest.approx(16 / 3 - 2) and per_k[2]["episodes"] == 3
    assert result["ci_low"] <= result["vor"] <= result["ci_high"]
    assert result["replacement"] == ["r"] and result["missions"]["m"]["missing_k"] == []
    json.dumps(result)  # plain JSON


def test_weighted_scores_known_answer():
    scores = weighted_scores(known_scenarios())
    # candidate: (0.5*5 + 0.5*7 + 5 + 8 + 3) / (0.5 + 0.5 + 3); replacement: (2 + 2 + 0.5*1 + 0.5*3) / 3
    assert scores == pytest.approx({"c": 5.5, "r": 2.0})


def test_overall_vor_is_mean_over_missions():
    other = known_scenarios("n")
    other.loc[other["policy"] == "c", "reward"] += 10  # candidate 10 better on mission n
    result = vor(pd.concat([known_scenarios(), other.assign(scenario=other["scenario"] + "n")]), "c", reps=1000)
    assert result["missions"]["m"]["vor"] == pytest.approx(3.5)
    assert result["missions"]["n"]["vor"] == pytest.approx(13.5)
    assert result["vor"] == pytest.approx(8.5)


def test_vor_interval_coverage():
    """Synthetic scenarios with a known true VOR: ~95% of intervals cover it."""
    rng = np.random.default_rng(0)
    covered = 0
    trials = 200
    for t in range(trials):
        parts = [table("k0", [[("r", rng.normal(1, 1)), ("r", rng.normal(1, 1))] for _ in range(20)])]
        parts.append(table("k1", [[("c", rng.normal(3, 1)), ("r", rng.normal(1, 1))] for _ in range(20)]))
        parts.append(table("k2", [[("c", rng.normal(3, 1)), ("c", rng.normal(3, 1))] for _ in range(20)]))
        result = vor(pd.concat(parts, ignore_index=True), "c", reps=1000, seed=t)
        covered += result["ci_low"] <= 2.0 <= result["ci_high"]
    assert 0.89 <= covered / trials <= 0.99


def test_vor_errors():
    with pytest.raises(UserError, match="no k = 0 scenario"):
        vor(known_scenarios().query("scenario != 'k0'"), "c")
    with pytest.raises(UserError, match="candidate 'zz' controls no agent"):
        vor(known_scenarios(), "zz")
    mixed = known_scenarios()
    mixed.loc[(mixed["scenario"] == "k2") & (mixed["episode"] == 0), "policy"] = "r"
    with pytest.raises(UserError, match="fixed number of candidate agents"):
        vor(mixed, "c")


def test_missing_k_is_reported():
    result = vor(known_scenarios().query("scenario != 'k1'"), "c", reps=500)
    assert result["missions"]["m"]["missing_k"] == [1]
    assert result["vor"] == pytest.approx(16 / 3 - 2)


@pytest.mark.parametrize(
    "total, weights, expected",
    [
        (5, [1, 1, 1], [2, 2, 1]),
        (3, [2, 1], [2, 1]),
        (1, [1, 1], [1, 0]),
        (0, [1, 3], [0, 0]),
        (7, [1, 2, 4], [1, 2, 4]),
        (4, [1, 1, 1], [2, 1, 1]),
        (10, [0.5, 0.25, 0.25], [5, 3, 2]),
    ],
)
def test_largest_remainder_apportionment(total, weights, expected):
    counts = allocate_counts(total, weights)
    assert counts == expected and sum(counts) == total


def test_allocate_counts_rejects_bad_weights():
    with pytest.raises(UserError, match="positive weights"):
        allocate_counts(3, [0, 0])


def test_seat_assignment_is_a_per_episode_permutation():
    seen = set()
    for episode in range(20):
        seats = seat_assignment(6, [2, 3, 1], base_seed=0, episode=episode)
        assert sorted(seats.tolist()) == [0, 0, 1, 1, 1, 2]
        seen.add(tuple(seats))
    assert len(seen) > 5  # slots move between episodes
    assert (seat_assignment(6, [2, 3, 1], 0, 4) == seat_assignment(6, [2, 3, 1], 0, 4)).all()  # and are seeded
    assert seat_assignment(4, [4], 0, 0).tolist() == [0, 0, 0, 0]


def test_vor_cli_contract(tmp_path, daf):
    paths = []
    for name, part in known_scenarios().groupby("scenario"):
        path = tmp_path / f"{name}.parquet"
        part.drop(columns="scenario").assign(success=False, role="candidate").to_parquet(path)
        paths.append(str(path))
    out = tmp_path / "vor.json"
    result = daf("vor", "--scenarios", *paths, "--candidate", "c", "--out", str(out), "--reps", "500")
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert {"vor", "ci_low", "ci_high", "replacement_mean", "per_k"} <= set(data)
    assert data["vor"] == pytest.approx(3.5) and len(data["per_k"]) == 2
    bad = daf("vor", "--scenarios", paths[0], "--candidate", "c", "--out", str(tmp_path / "x.json"))
    assert bad.returncode == 2 and "controls no agent" in bad.stderr and not (tmp_path / "x.json").exists()


def two_run_scenarios(shift: float) -> pd.DataFrame:
    """The known scenarios played by two runs of `c`; run 1's agents earn `shift` more."""
    base = known_scenarios()
    k0 = base[base["scenario"] == "k0"].assign(run=0)
    runs = []
    for run, extra in ((0, 0.0), (1, shift)):
        part = base[base["scenario"] != "k0"].assign(run=run, scenario=lambda f, r=run: f["scenario"] + f"-run{r}")
        part.loc[part["policy"] == "c", "reward"] += extra
        runs.append(part)
    return pd.concat([k0, *runs], ignore_index=True)


def test_vor_over_two_runs_by_hand():
    result = vor(two_run_scenarios(2.0), "c", reps=4000)
    # run 0: 3.5 (as above); run 1: (8 * 1 * 2 + (16/3 + 2) * 2 * 3) / 8 - 2 = 5.5; the VOR is their mean
    assert [r["vor"] for r in result["per_run"]] == pytest.approx([3.5, 5.5])
    assert result["vor"] == pytest.approx(4.5) and result["runs"] == [0, 1] and result["level"] == "run"
    assert result["missions"]["m"]["per_run"] == [
        {"run": 0, "vor": pytest.approx(3.5)},
        {"run": 1, "vor": pytest.approx(5.5)},
    ]
    per_k = {row["k"]: row for row in result["per_k"]}
    assert per_k[1]["candidate_mean"] == pytest.approx(7.0) and per_k[1]["runs"] == 2
    assert result["ci_low"] <= 4.5 <= result["ci_high"]
    single = vor(known_scenarios(), "c", reps=4000)
    assert single["level"] == "episode" and single["note"].startswith("one training run")
    json.dumps(result)


def test_vor_interval_widens_with_between_run_spread():
    same, spread = vor(two_run_scenarios(0.0), "c", reps=4000), vor(two_run_scenarios(6.0), "c", reps=4000)
    assert [r["vor"] for r in same["per_run"]] == pytest.approx([3.5, 3.5])
    assert spread["ci_high"] - spread["ci_low"] > (same["ci_high"] - same["ci_low"]) + 3.0


def test_vor_runs_must_play_the_same_scenarios():
    scenarios = two_run_scenarios(1.0)
    scenarios = scenarios[~((scenarios["run"] == 1) & (scenarios["episode"] == 2))]  # run 1 lacks an episode
    with pytest.raises(UserError, match="every run of 'c' must play the same scenario episodes"):
        vor(scenarios, "c", reps=100)

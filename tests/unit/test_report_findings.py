"""The report's findings (daf.report.findings) and its power-analysis tables: every number a
finding states is a cell of the comparison tables it was generated from."""

import numpy as np
import pandas as pd
import pytest

from daf.report import _environment
from daf.report.context import plan_context
from daf.report.findings import findings, leader, pair_row
from daf.report.formatting import num
from daf.stats.comparison import CompareSettings, compare
from daf.stats.scores import ALL


def evals(policy, mission, scores, runs=1):
    """`runs` training runs of one agent per episode, every run on the same episodes."""
    scores = np.atleast_2d(scores)
    rows = []
    for r in range(runs):
        for e, reward in enumerate(scores[r % scores.shape[0]]):
            row = {"policy": policy, "role": "candidate", "mission": mission, "run": r, "episode": e, "seed": 100 + e}
            rows.append({**row, "agent": 0, "reward": float(reward), "success": bool(reward > 1)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tables():
    rng = np.random.default_rng(3)
    frames = []
    for mission, shift in (("clear", 3.0), ("close", 0.0)):
        frames += [
            evals("low", mission, rng.normal(0.0, 0.3, 24)),
            evals("high", mission, rng.normal(1.0, 0.3, 24)),
            # "ppo" (8 training runs: a signed-rank test over fewer than 6 can never reach p < 0.05)
            # beats "high" by `shift` per episode
            evals("ppo", mission, 1.0 + shift + rng.normal(0, 0.3, (8, 24)), runs=8),
        ]
    board, pairwise, _ = compare(pd.concat(frames, ignore_index=True),
                                 CompareSettings(reps=1000, normalize=("low", "high"), trained=("ppo",)))  # fmt: skip
    return board, pairwise


def test_a_leader_is_the_top_mean_and_its_margin_the_pair_row_oriented_leader_minus_runner_up(tables):
    board, pairwise = tables
    for mission in ("clear", ALL):
        part = board[board["mission"] == mission].sort_values("mean", ascending=False)
        found = leader(board, pairwise, mission)
        assert found["policy"] == part["policy"].iloc[0] == "ppo"
        assert found["runner_up"]["policy"] == part["policy"].iloc[1] == "high"
        assert (found["mean"], found["ci_low"], found["ci_high"]) == tuple(part[["mean", "ci_low", "ci_high"]].iloc[0])
        row = pairwise[
            (pairwise["mission"] == mission) & (pairwise["policy_a"] == "high") & (pairwise["policy_b"] == "ppo")
        ].iloc[0]  # the table's pair is (high, ppo): by name
        c = found["comparison"]
        assert c["mean_diff"] == -row["mean_diff"] > 0  # oriented ppo - high
        assert c["poi"] == pytest.approx(1 - row["poi"]) and c["poi_low"] == pytest.approx(1 - row["poi_high"])
        assert (c["test"], c["p_adjusted"], c["significant"], c["level"]) == (
            row["test"], row["p_adjusted"], row["significant"], row["level"])  # fmt: skip
        assert c["runs"] == (row["runs_b"], row["runs_a"]) == (8, 1)
    assert (
        pair_row(pairwise, "ppo", "high", "clear")["mean_diff"]
        == -pair_row(pairwise, "high", "ppo", "clear")["mean_diff"]
    )


def test_what_the_study_resolved_and_what_it_did_not(tables):
    board, pairwise = tables
    result = findings(board, pairwise)
    by_mission = {f["mission"]: f for f in result["missions"]}
    clear, close = by_mission["clear"], by_mission["close"]
    assert clear["resolved"] and clear["separated"] and clear["comparison"]["significant"]
    assert clear["comparison"]["level"] == "run"  # ppo has several training runs
    assert close["resolved"] is False and not close["separated"]
    assert result["unresolved"] == ["close"]
    assert result["too_few_units"] == []  # 8 runs: the signed-rank test can reach 0.05
    assert result["trained_once"] == []
    assert result["overall"]["policy"] == "ppo"


def test_a_policy_trained_once_is_named_and_a_mission_played_by_one_policy_has_no_runner_up():
    frames = [evals("ppo", "m", np.linspace(0, 2, 16)), evals("random", "m", np.zeros(16)),
              evals("random", "solo", np.ones(16))]  # fmt: skip
    board, pairwise, _ = compare(pd.concat(frames, ignore_index=True), CompareSettings(reps=500, trained=("ppo",)))
    result = findings(board, pairwise)
    assert result["trained_once"] == ["ppo"]
    assert result["too_few_units"] == []
    solo = next(f for f in result["missions"] if f["mission"] == "solo")
    assert solo["runner_up"] is None and solo["resolved"] is None and "solo" not in result["unresolved"]


def test_the_findings_section_states_the_tables_numbers(tables):
    board, pairwise = tables
    context = {"findings": findings(board, pairwise), "normalized": True, "alpha": 0.05, "figure": "",
               "poi_figure": None, "plan": None, "levels": {"run": "training runs", "episode": "episodes"},
               "normalization": {"low": "low", "high": "high"}}  # fmt: skip
    html = _environment().get_template("sections/findings.html.j2").render(**context)
    overall = board[(board["mission"] == ALL) & (board["policy"] == "ppo")].iloc[0]
    assert html.startswith('<h2 id="findings">Findings</h2>')
    assert f"mean {num(overall['mean'])} [{num(overall['ci_low'])}, {num(overall['ci_high'])}]" in html
    assert "1 of 2 mission leaders are resolved" in html and "ppo on clear" in html
    assert "<strong>Not resolved</strong> on close" in html


def test_three_training_runs_cannot_resolve_a_lead_however_large():
    rng = np.random.default_rng(0)
    frames = [evals("ppo", "m", 10 + rng.normal(0, 0.1, (3, 16)), runs=3), evals("random", "m", rng.normal(0, 0.1, 16))]
    board, pairwise, _ = compare(pd.concat(frames, ignore_index=True), CompareSettings(reps=500, trained=("ppo",)))
    result = findings(board, pairwise)
    (m,) = result["missions"]
    assert m["policy"] == "ppo" and m["separated"] and not m["comparison"]["significant"]
    assert m["comparison"]["smallest_p"] == 0.25 and result["too_few_units"] == result["unresolved"] == ["m"]


def test_the_smallest_p_a_rank_test_can_give_says_when_more_units_are_the_only_way():
    from scipy import stats as sps

    from daf.report.findings import smallest_p

    # signed-rank over 3 pairs all of one sign: scipy's exact p is the floor 2 / 2^3
    assert smallest_p("wilcoxon_missions", 3, 1, 1) == sps.wilcoxon([1.0, 2.0, 3.0]).pvalue == 0.25
    assert smallest_p("wilcoxon_one_sample", 6, 6, 1) == 2 / 64 < 0.05
    # Mann-Whitney over 3 vs 3 runs, completely separated: 2 / C(6, 3)
    assert smallest_p("mannwhitney", 3, 3, 3) == sps.mannwhitneyu([4, 5, 6], [1, 2, 3]).pvalue == pytest.approx(0.1)
    assert smallest_p("welch_t", 3, 3, 3) is None


def test_plan_tables_keep_the_smallest_design_that_reaches_the_target():
    precision = [
        {"policy": "p", "mission": "m", "runs": r, "episodes_needed": e, "reachable": ok}
        for r, e, ok in ((1, 999, False), (2, 64, True), (3, 32, True))
    ] + [{"policy": "q", "mission": "m", "runs": r, "episodes_needed": 1024, "reachable": False} for r in (1, 2)]
    plan = plan_context({"precision": precision, "power": [], "summary": ["a line"], "settings": {"alpha": 0.1}})
    assert [(r["policy"], r["runs"], r["episodes_needed"]) for r in plan["precision"]] == [("p", 2, 64), ("q", 2, 1024)]
    assert plan["power"] == [] and plan["lines"] == ["a line"] and plan["alpha"] == 0.1
    assert plan_context(None) is None

"""Mission analysis: outcome definitions on constructed episodes, and on real ones."""

import pandas as pd
import pytest

from daf.evaluation.episodes import Seat, mission_env_info, run_episodes
from daf.evaluation.outcomes import OUTCOMES, STUCK_MOVE_FRACTION, classify, episode_outcomes
from daf.missions import MISSIONS
from daf.policies import parse_spec
from daf.policies.actors import build_actor
from daf.stats.analysis import difficulty, summarize_outcomes


@pytest.mark.parametrize(
    "success, move_fraction, gathered, reward, expected",
    [
        (True, 0.0, 0, 5, "success"),  # success wins over everything
        (False, 0.01, 3, 0, "stuck"),  # barely moved
        (False, 0.5, 3, 0, "resource_starved"),  # gathered, converted nothing
        (False, 0.5, 0, 0, "no_reward"),
        (False, 0.5, 2, 1, "timeout"),  # progress, criterion not met
        (False, STUCK_MOVE_FRACTION, 0, 0, "no_reward"),  # the threshold itself is not stuck
    ],
)
def test_classify(success, move_fraction, gathered, reward, expected):
    assert classify(success, move_fraction, gathered, reward) == expected


def constructed(policy, episodes):
    """Episodes given as (success, moves per agent, carbon gained per agent, reward per agent), 2 agents, 100 steps."""
    rows = []
    for ep, (success, moves, carbon, reward) in enumerate(episodes):
        for agent in range(2):
            rows.append(
                {
                    "policy": policy,
                    "role": "candidate",
                    "mission": "cogs.tiny",
                    "episode": ep,
                    "seed": ep,
                    "agent": agent,
                    "reward": reward,
                    "steps": 100,
                    "success": success,
                    "stat.action.move.success": moves,
                    "stat.carbon.gained": carbon,
                    "stat.oxygen.gained": 0.0,
                }
            )
    return pd.DataFrame(rows)


def test_episode_outcomes_and_summary():
    evals = constructed(
        "p",
        [
            (True, 50, 5, 10),
            (False, 1, 0, 0),
            (False, 40, 2, 0),
            (False, 40, 0, 0),
            (False, 40, 2, 1),
            (False, 2, 4, 0),
        ],
    )
    outcomes = episode_outcomes(evals, MISSIONS["cogs.tiny"])
    assert outcomes["outcome"].tolist() == ["success", "stuck", "resource_starved", "no_reward", "timeout", "stuck"]
    assert outcomes["team_reward"].tolist() == [20, 0, 0, 0, 2, 0]
    assert outcomes["gathered"].tolist() == [10, 0, 4, 0, 4, 8]
    summary = summarize_outcomes(outcomes).iloc[0]
    assert summary["success_rate"] == pytest.approx(1 / 6) and summary["stuck_fraction"] == pytest.approx(2 / 6)
    assert sum(summary[f"{o}_fraction"] for o in OUTCOMES) == pytest.approx(1.0)
    assert summary["dominant_failure"] == "stuck"
    assert summary["success_low"] < 1 / 6 < summary["success_high"]


def test_runs_are_separate_episodes():
    """Two training runs play the same episode indices; each (run, episode) is its own outcome."""
    first = constructed("p", [(True, 50, 5, 10), (False, 1, 0, 0)]).assign(run=0)
    second = constructed("p", [(False, 40, 0, 0), (False, 40, 2, 1)]).assign(run=3)
    outcomes = episode_outcomes(pd.concat([first, second], ignore_index=True), MISSIONS["cogs.tiny"])
    assert list(zip(outcomes["run"], outcomes["episode"])) == [(0, 0), (0, 1), (3, 0), (3, 1)]
    assert outcomes["team_reward"].tolist() == [20, 0, 0, 2] and outcomes["agents"].tolist() == [2, 2, 2, 2]
    assert outcomes["outcome"].tolist() == ["success", "stuck", "no_reward", "timeout"]
    assert summarize_outcomes(outcomes).iloc[0]["episodes"] == 4


def test_missions_without_gathered_resources_are_never_starved():
    evals = constructed("p", [(False, 40, 3, 0)]).assign(mission="forage.open")
    assert episode_outcomes(evals, MISSIONS["forage.open"])["outcome"].tolist() == ["no_reward"]


def test_difficulty_ranks_hardest_first():
    a = summarize_outcomes(episode_outcomes(constructed("a", [(True, 50, 5, 10)] * 3), MISSIONS["cogs.tiny"]))
    b = summarize_outcomes(episode_outcomes(constructed("b", [(False, 1, 0, 0)] * 3), MISSIONS["cogs.tiny"]))
    hard = summarize_outcomes(
        episode_outcomes(constructed("a", [(False, 40, 0, 0)] * 3).assign(mission="cogs.small"), MISSIONS["cogs.small"])
    )
    table = difficulty(pd.concat([a, b, hard]))
    assert table["mission"].tolist() == ["cogs.small", "cogs.tiny"]
    tiny = table.set_index("mission").loc["cogs.tiny"]
    assert tiny["best_policy"] == "a" and tiny["policies_never_succeeding"] == 1 and tiny["mean_success_rate"] == 0.5


def test_real_episodes_noop_is_stuck_and_baseline_succeeds():
    mission = MISSIONS["cogs.tiny"]
    info = mission_env_info(mission)
    outcomes = {}
    for spec in ("noop", "baseline"):
        frame = run_episodes(mission, Seat(spec, build_actor(parse_spec(spec), info, seed=0)), 4, 0)
        outcomes[spec] = episode_outcomes(frame, mission)["outcome"].tolist()
    assert outcomes == {"noop": ["stuck"] * 4, "baseline": ["success"] * 4}


def test_analyze_cli(tmp_path, daf):
    evals = tmp_path / "e.parquet"
    constructed("p", [(False, 40, 2, 0)]).to_parquet(evals)
    out = tmp_path / "a.parquet"
    assert daf("analyze", "--evals", str(evals), "--mission", "cogs.tiny", "--out", str(out)).returncode == 0
    assert pd.read_parquet(out)["outcome"].tolist() == ["resource_starved"]
    result = daf("analysis-summary", "--analyses", str(out), "--out", str(tmp_path / "sum"))
    assert result.returncode == 0 and (tmp_path / "sum/difficulty.parquet").is_file()
    bad = daf("analyze", "--evals", str(tmp_path / "none.parquet"), "--mission", "cogs.tiny", "--out", str(out))
    assert bad.returncode == 2 and "none.parquet' does not exist" in bad.stderr

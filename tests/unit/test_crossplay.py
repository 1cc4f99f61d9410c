"""Cross-play statistics (daf.stats.crossplay): splits, cell rows from real mixed episodes, the
diagonal from the ordinary evaluation, and the cross-play gap against hand-computed values."""

import numpy as np
import pandas as pd
import pytest

from daf.errors import UserError
from daf.evaluation.episodes import Seat, mission_env_info, run_episodes
from daf.evaluation.table import episode_scores
from daf.missions import MISSIONS
from daf.missions.teams import split_agents
from daf.policies import parse_spec
from daf.policies.actors import build_actor
from daf.stats.crossplay import (
    CELL_COLUMNS,
    GAP_TABLE_COLUMNS,
    TABLE_COLUMNS,
    cell_row,
    cell_scores,
    crossplay_gap,
    crossplay_tables,
    skipped_row,
    split_cells,
)
from daf.stats.estimates import bootstrap_estimate


@pytest.mark.parametrize(
    "split, agents, expected", [("half", 4, 2), ("half", 3, 1), ("one", 4, 1), ("all_but_one", 4, 3), (2, 4, 2)]
)
def test_splits(split, agents, expected):
    assert split_agents(split, agents) == expected


@pytest.mark.parametrize(
    "split, agents, needle",
    [
        ("halves", 4, "unknown cross-play split 'halves'; valid splits: half, one, all_but_one"),
        ("half", 1, "gives A 0 of 1 agents; each policy needs 1..0"),
        (4, 4, "split 4 on mission 'm' gives A 4 of 4 agents; each policy needs 1..3"),
    ],
)
def test_bad_splits_are_one_line(split, agents, needle):
    with pytest.raises(UserError) as caught:
        split_agents(split, agents, "m")
    assert needle in str(caught.value) and "\n" not in str(caught.value)


def _seat(spec, mission):
    return Seat(spec, build_actor(parse_spec(spec), mission_env_info(mission), seed=0))


def test_a_cell_of_real_mixed_episodes():
    """baseline on 2 of cogs.small's 4 agents, random on the others: the team score is the mean
    reward of all agents, a/b the means of each side's agents (by hand from the rows)."""
    mission = MISSIONS["cogs.small"]
    frame = run_episodes(mission, _seat("baseline", mission), 6, 5, replacement=_seat("random", mission),
                         candidate_agents=2, num_envs=3)  # fmt: skip
    scores = cell_scores(frame)
    row = cell_row(scores, "baseline", "random", "half", 2, reps=500)
    assert list(row) == CELL_COLUMNS and row["episodes"] == 6 and row["runs"] == 1
    assert row["team_mean"] == pytest.approx(frame["reward"].mean())
    assert row["a_mean"] == pytest.approx(frame.loc[frame["role"] == "candidate", "reward"].mean())
    assert row["b_mean"] == pytest.approx(frame.loc[frame["role"] == "replacement", "reward"].mean())
    assert row["team_ci_low"] <= row["team_mean"] <= row["team_ci_high"]
    assert row["a_mean"] > row["b_mean"]  # the scripted baseline gathers, random barely does


def test_the_diagonal_is_the_ordinary_evaluation():
    """Self-play (A on every agent) is A's ordinary evaluation: the diagonal's team score equals
    the mean episode score `daf compare` computes from the same table."""
    mission = MISSIONS["cogs.tiny"]
    frame = run_episodes(mission, _seat("baseline", mission), 4, 2)
    row = cell_row(cell_scores(frame, self_play=True), "baseline", "baseline", "half", 1, reps=200)
    assert row["team_mean"] == pytest.approx(episode_scores(frame)["score"].mean())
    assert row["a_mean"] == row["b_mean"] == pytest.approx(row["team_mean"])


def _cell(team: np.ndarray) -> pd.DataFrame:
    """A synthetic cell's per run x episode scores."""
    runs, episodes = team.shape
    return pd.DataFrame({"run": np.repeat(np.arange(runs), episodes), "episode": np.tile(np.arange(episodes), runs),
                         "team": team.ravel(), "a": team.ravel(), "b": team.ravel()})  # fmt: skip


def test_the_gap_is_self_play_minus_the_mean_with_partners():
    own = np.array([[4.0, 6.0, 5.0]])
    partners = {"b": _cell(np.array([[1.0, 2.0, 3.0]])), "c": _cell(np.array([[3.0, 4.0, 1.0]]))}
    gap = crossplay_gap(_cell(own), partners, "a", "half", reps=2000, seed=3)
    # per episode: 4 - 2, 6 - 3, 5 - 2 -> 2, 3, 3; the gap is their mean, 8/3
    assert gap["gap"] == pytest.approx(8 / 3) and gap["self_play"] == 5.0 and gap["cross_play"] == pytest.approx(14 / 6)
    paired = bootstrap_estimate([np.array([[2.0, 3.0, 3.0]])], "mean", 0.95, 2000, 3)
    assert (gap["gap_ci_low"], gap["gap_ci_high"]) == (paired.low, paired.high)  # episodes resampled jointly
    assert gap["partners"] == 2 and gap["runs"] == 1


def test_the_gap_over_runs_is_two_level():
    own = np.array([[5.0, 5.0], [9.0, 9.0]])  # two runs of A, far apart
    partner = {"b": _cell(np.array([[1.0, 1.0], [1.0, 1.0]]))}
    gap = crossplay_gap(_cell(own), partner, "a", 1, reps=2000)
    assert gap["gap"] == pytest.approx(6.0) and gap["runs"] == 2
    assert gap["gap_ci_low"] <= 4.0 + 1e-9 and gap["gap_ci_high"] >= 8.0 - 1e-9  # the runs' spread is in the CI


def test_gap_and_cell_errors_are_one_line():
    with pytest.raises(UserError, match="policy 'a' has no cross-play partner for split 'half'"):
        crossplay_gap(_cell(np.ones((1, 2))), {}, "a", "half")
    with pytest.raises(UserError, match="played other runs or episodes than its self-play"):
        crossplay_gap(_cell(np.ones((1, 2))), {"b": _cell(np.ones((1, 3)))}, "a", "half")
    lone = pd.DataFrame({"mission": "m", "episode": [0, 0], "agent": [0, 1], "reward": [1.0, 2.0],
                         "role": "candidate"})  # fmt: skip
    with pytest.raises(UserError, match="needs agents of both policies in every episode"):
        cell_scores(lone)
    row = skipped_row("ppo", "random", "half", 2, "ppo cannot play forage.open (other observation features)")
    assert list(row) == CELL_COLUMNS and np.isnan(row["team_mean"]) and row["episodes"] == 0


def test_cells_with_other_episodes_are_not_paired():
    """Same shape, other episode indices: pairing them would compare different maps."""
    other = _cell(np.ones((1, 2))).assign(episode=[5, 6])
    with pytest.raises(UserError, match="played other runs or episodes than its self-play"):
        crossplay_gap(_cell(np.ones((1, 2))), {"b": other}, "a", "half")


def _evaluate(mission, a, episodes, b=None, k=None, run=0):
    """A's ordinary evaluation (b None) or a cell: A on k agents, B on the rest (seed 0)."""
    return run_episodes(mission, _seat(a, mission), episodes, 0, replacement=_seat(b, mission) if b else None,
                        candidate_agents=k, num_envs=4, run=run)  # fmt: skip


def test_a_mission_table_from_real_episodes():
    """random x baseline on cogs.small (4 agents, half split), ppo not playing the mission: the
    diagonal is each policy's ordinary evaluation, off-diagonal cells their mixed episodes,
    ppo's row and column are skipped with the note, and each playing policy gets a gap."""
    mission = MISSIONS["cogs.small"]
    own = {p: _evaluate(mission, p, 6) for p in ("random", "baseline")}
    cells = split_cells(
        [_evaluate(mission, "random", 4, "baseline", 2), _evaluate(mission, "baseline", 4, "random", 2)]
    )
    note = "'ppo' does not play cogs.small"
    table, gaps = crossplay_tables("cogs.small", ["random", "baseline", "ppo"], ["half"], own, cells, {"ppo": note},
                                   episodes=4, reps=500)  # fmt: skip
    assert list(table.columns) == TABLE_COLUMNS and list(gaps.columns) == GAP_TABLE_COLUMNS
    assert len(table) == 9 and (table["num_agents"] == 4).all() and (table["agents_a"] == 2).all()
    cell = table.set_index(["policy_a", "policy_b"])
    for p, frame in own.items():  # the diagonal: the first 4 episodes of the ordinary evaluation
        assert cell.loc[(p, p), "team_mean"] == pytest.approx(frame.loc[frame["episode"] < 4, "reward"].mean())
        assert cell.loc[(p, p), "episodes"] == 4
    mixed = cells[("baseline", "random", 2)]
    assert cell.loc[("baseline", "random"), "team_mean"] == pytest.approx(mixed["reward"].mean())
    assert cell.loc[("baseline", "random"), "a_mean"] > cell.loc[("baseline", "random"), "b_mean"]
    skipped = table[table["note"] != ""]
    assert len(skipped) == 5 and (skipped["note"] == note).all() and skipped["team_mean"].isna().all()
    assert list(gaps["policy"]) == ["random", "baseline"] and (gaps["partners"] == 1).all()
    baseline = gaps.set_index("policy").loc["baseline"]
    assert baseline["gap"] == pytest.approx(cell.loc[("baseline", "baseline"), "team_mean"]
                                            - cell.loc[("baseline", "random"), "team_mean"])  # fmt: skip


def test_swapped_half_split_differs_only_by_seat_assignment():
    """(A, B) and (B, A) at half of an even agent count are the same team composition: per
    episode, A sits where B sat and B where A sat (the episode's slot draw does not depend on
    the policies), so each side has the same agent count and the two cells estimate one team
    score (their CIs overlap)."""
    mission = MISSIONS["cogs.small"]
    ab, ba = _evaluate(mission, "baseline", 8, "random", 2), _evaluate(mission, "random", 8, "baseline", 2)
    for episode in range(8):
        slots_ab = ab[ab["episode"] == episode].set_index("agent")["policy"]
        slots_ba = ba[ba["episode"] == episode].set_index("agent")["policy"]
        swapped = slots_ab.map({"baseline": "random", "random": "baseline"})
        assert swapped.equals(slots_ba) and (slots_ab == "baseline").sum() == 2
        assert ab.loc[ab["episode"] == episode, "seed"].iloc[0] == ba.loc[ba["episode"] == episode, "seed"].iloc[0]
    own = {p: _evaluate(mission, p, 8) for p in ("random", "baseline")}
    table, _ = crossplay_tables("cogs.small", ["baseline", "random"], ["half"], own,
                                split_cells([ab, ba]), episodes=8, reps=2000)  # fmt: skip
    rows = table.set_index(["policy_a", "policy_b"])
    one, other = rows.loc[("baseline", "random")], rows.loc[("random", "baseline")]
    assert one["team_ci_low"] <= other["team_ci_high"] and other["team_ci_low"] <= one["team_ci_high"]
    assert one["a_mean"] == pytest.approx(ab.loc[ab["policy"] == "baseline", "reward"].mean())
    assert other["b_mean"] == pytest.approx(ba.loc[ba["policy"] == "baseline", "reward"].mean())


def test_mission_table_errors_are_one_line():
    mission = MISSIONS["cogs.tiny"]
    own = {p: _evaluate(mission, p, 2) for p in ("random", "baseline")}
    cases = [
        (dict(splits=["half"], cells={}), "no cross-play cell for 'random' on 1 agents with 'baseline'"),
        (dict(splits=["half"], cells={}, episodes=3), "lacks episodes [2] of the 3 cross-play episodes"),
        (dict(splits=["all_but_one", 2], cells={}), "split 2 on mission 'cogs.tiny' gives A 2 of 2 agents"),
    ]
    for kwargs, needle in cases:
        kwargs = {"episodes": 2, **kwargs}
        with pytest.raises(UserError) as caught:
            crossplay_tables("cogs.tiny", ["random", "baseline"], self_play=own, reps=100, **kwargs)
        assert needle in str(caught.value) and "\n" not in str(caught.value)
    other_run = split_cells([_evaluate(mission, "random", 2, "baseline", 1, run=1)])
    with pytest.raises(UserError, match=r"played runs \[1\].*its self-play runs \[0\]"):
        crossplay_tables("cogs.tiny", ["random", "baseline"], ["half"], own, other_run, episodes=2, reps=100)
    with pytest.raises(UserError, match="no two of the policies"):
        crossplay_tables("cogs.tiny", ["random", "baseline"], ["half"], {}, {}, {"random": "x", "baseline": "y"})


def test_cli_writes_both_tables_or_nothing(tmp_path, daf):
    """`daf crossplay` on files: both tables on success; bad input is one line, exit 2, no output."""
    mission = MISSIONS["cogs.tiny"]
    files = {}
    for name, frame in {"random": _evaluate(mission, "random", 2), "baseline": _evaluate(mission, "baseline", 2),
                        "rb": _evaluate(mission, "random", 2, "baseline", 1),
                        "br": _evaluate(mission, "baseline", 2, "random", 1)}.items():  # fmt: skip
        files[name] = tmp_path / f"{name}.parquet"
        frame.to_parquet(files[name])
    out, gaps = tmp_path / "out/cogs.tiny.parquet", tmp_path / "out/gaps/cogs.tiny.parquet"
    common = ["crossplay", "--mission", "cogs.tiny", "--policies", "random,baseline,ppo", "--reps", "200",
              "--out", str(out), "--gaps", str(gaps)]  # fmt: skip
    evals = ["--evals", str(files["random"]), str(files["baseline"])]
    cells = ["--cells", str(files["rb"]), str(files["br"])]
    result = daf(*common, *evals, *cells, "--unplayable", "ppo=ppo cannot play cogs.tiny")
    assert result.returncode == 0, result.stderr
    table = pd.read_parquet(out)
    assert len(table) == 9 and (table["note"] != "").sum() == 5 and len(pd.read_parquet(gaps)) == 2
    out.unlink(), gaps.unlink()
    bad_cases = [
        (["--unplayable", "ppo"], "--unplayable 'ppo' must be POLICY=WHY"),
        (["--unplayable", "ppo=x", "--splits", "halves"], "unknown cross-play split 'halves'"),
        (["--unplayable", "ppo=x", "--episodes", "3"], "lacks episodes [2] of the 3 cross-play episodes"),
        (["--cells", str(files["rb"])], "no evaluation of 'ppo' on mission 'cogs.tiny'"),
    ]
    for extra, needle in bad_cases:
        bad = daf(*common, *evals, *(cells if "--cells" not in extra else []), *extra)
        assert bad.returncode == 2 and needle in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr
        assert not out.exists() and not gaps.exists()
    more_bad = [
        (["--evals", str(files["random"]), str(files["random"]), *cells[:1]], "--evals lists"),
        (["--evals", *evals[1:], "--cells", str(tmp_path / "no.parquet")], "(the `crossplay_cell` rule makes it)"),
        ([*evals, *cells, "--episodes", "0"], "--episodes must be at least 1 (got 0)"),
    ]
    for args, needle in more_bad:
        bad = daf(*common, *args, "--unplayable", "ppo=x")
        assert bad.returncode == 2 and needle in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr
    wrong = daf(*common, "--evals", str(files["rb"]), *cells, "--unplayable", "ppo=x")
    assert wrong.returncode == 2 and "must be one of the policies'" in wrong.stderr


def test_a_partner_with_more_runs_is_paired_run_by_run():
    """A (one run) played B's two runs: the cell has two run pairings (its CI's top level), and
    A's gap compares A's run with the mean over the two pairings, episode by episode."""
    pairs = pd.concat([_cell(np.array([[1.0, 3.0]])).assign(pair=0), _cell(np.array([[3.0, 1.0]])).assign(pair=1)])
    row = cell_row(pairs, "a", "b", "half", 1, reps=200)
    assert row["runs"] == 2 and row["team_mean"] == pytest.approx(2.0)
    gap = crossplay_gap(_cell(np.array([[4.0, 6.0]])), {"b": pairs}, "a", "half", reps=200)
    assert gap["gap"] == pytest.approx(3.0) and gap["runs"] == 1  # (4 - 2 + 6 - 2) / 2

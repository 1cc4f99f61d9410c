"""Population tables (daf.stats.population_tables): Nash averaging of evaluation tables and
α-Rank of cross-play tables, against hand-computed games; the bootstrap over training runs;
`daf nash` / `daf alpharank` on files; one-line errors."""

import numpy as np
import pandas as pd
import pytest

from daf.errors import UserError
from daf.stats.crossplay import split_cells
from daf.stats.population import alpharank, alpharank_sweep
from daf.stats.population_tables import (
    ALPHARANK_COLUMNS,
    NASH_COLUMNS,
    alpharank_table,
    crossplay_blocks,
    nash_table,
)

# the hand-solved game of test_population: policies a, b mixed 3:4 guarantee 0.6 on both
# missions, the missions mixed 1:1 hold every policy to at most 0.6, c's 0.5 is below the value
GAME = {("a", "m1"): 1.0, ("a", "m2"): 0.2, ("b", "m1"): 0.3, ("b", "m2"): 0.9, ("c", "m1"): 0.5, ("c", "m2"): 0.5}


def _evals(means: dict, episodes: int = 4, runs: dict | None = None, noise: float = 0.0, seed: int = 0):
    """Evaluation rows (2 agents per episode): policy x mission means, each run of a policy
    shifted by runs[policy][run], episode noise around them (the same seeds for every policy)."""
    rng = np.random.default_rng(seed)
    rows = []
    for (policy, mission), mean in means.items():
        for run, shift in enumerate((runs or {}).get(policy, [0.0])):
            for episode in range(episodes):
                reward = mean + shift + noise * rng.normal()
                rows += [{"policy": policy, "mission": mission, "run": run, "episode": episode, "seed": 100 + episode,
                          "agent": agent, "reward": reward, "success": False} for agent in (0, 1)]  # fmt: skip
    return pd.DataFrame(rows)


def _with_references(means: dict) -> dict:
    """lo = 0 and hi = 1 on every mission: normalising by them leaves the scores as they are."""
    missions = sorted({m for _, m in means})
    return {**means, **{("lo", m): 0.0 for m in missions}, **{("hi", m): 1.0 for m in missions}}


def test_nash_table_solves_the_hand_solved_game():
    table = nash_table(_evals(_with_references(GAME)), ["a", "b", "c"], normalize=("lo", "hi"), reps=200)
    assert list(table.columns) == NASH_COLUMNS
    policies = table[table["kind"] == "policy"].set_index("name")
    missions = table[table["kind"] == "mission"].set_index("name")
    assert policies["nash"].to_list() == pytest.approx([0.6, 0.6, 0.5])
    assert policies["uniform"].to_list() == pytest.approx([0.6, 0.6, 0.5])
    assert policies["rank_nash"].to_list() == [1, 1, 3]  # a tie shares the better rank
    assert missions["nash"].to_list() == pytest.approx([0.5, 0.5]) and (missions["uniform"] == 0.5).all()
    assert table["game_value"].iloc[0] == pytest.approx(0.6)
    assert table["scale"].iloc[0] == "normalised (lo = 0, hi = 1)"
    # every episode equal: every replicate is the point estimate, so are the interval ends
    assert policies["ci_low"].to_list() == pytest.approx([0.6, 0.6, 0.5])
    assert policies["ci_high"].to_list() == pytest.approx([0.6, 0.6, 0.5])
    assert (policies["runs"] == 1).all() and (policies["episodes"] == 8).all() and (missions["episodes"] == 4).all()


def test_a_copied_mission_splits_its_weight_and_changes_no_skill():
    """The mean over missions ranks `a` first once m1 is copied twice; Nash averaging does not move."""
    copied = {**GAME, **{(p, name): GAME[(p, "m1")] for p in "abc" for name in ("m1_copy", "m1_again")}}
    table = nash_table(_evals(_with_references(copied)), ["a", "b", "c"], normalize=("lo", "hi"), reps=200)
    policies = table[table["kind"] == "policy"].set_index("name")
    weights = table[table["kind"] == "mission"].set_index("name")["nash"]
    assert policies["nash"].to_list() == pytest.approx([0.6, 0.6, 0.5])
    assert weights[["m1", "m1_copy", "m1_again"]].to_list() == pytest.approx([1 / 6] * 3)
    assert weights["m2"] == pytest.approx(0.5)
    assert policies["uniform"].to_list() == pytest.approx([0.8, 0.45, 0.5])
    assert policies.loc["a", "rank_uniform"] == 1 and policies.loc["b", "rank_uniform"] == 3


def test_min_max_scale_without_a_normalisation():
    """Per mission the lowest policy mean -> 0 and the highest -> 1 (Balduzzi et al., appendix D)."""
    table = nash_table(_evals(GAME), reps=200)
    # m1: a 1, b 0, c 2/7; m2: a 0, b 1, c 3/7: value 1/2 at p = q = (1/2, 1/2), c at (2/7 + 3/7) / 2
    skills = table[table["kind"] == "policy"].set_index("name")["nash"]
    assert skills.to_list() == pytest.approx([0.5, 0.5, 5 / 14])
    assert table["scale"].iloc[0].startswith("min-max per mission")


def test_between_run_spread_widens_the_skill_interval():
    """`a` trained twice: runs 0.3 apart around the same mean give a wider interval than runs that
    agree (the bootstrap draws runs, then episodes), and the point estimate does not move."""
    means = _with_references(GAME)
    agree, spread = (nash_table(_evals(means, 6, {"a": runs}, noise=0.05), ["a", "b", "c"], normalize=("lo", "hi"),
                                reps=300) for runs in ([0.0, 0.0], [-0.15, 0.15]))  # fmt: skip
    width = {}
    for name, table in (("agree", agree), ("spread", spread)):
        row = table.set_index("name").loc["a"]
        assert row["runs"] == 2
        width[name] = row["ci_high"] - row["ci_low"]
    assert agree.set_index("name").loc["a", "nash"] == pytest.approx(spread.set_index("name").loc["a", "nash"])
    assert width["spread"] > 2 * width["agree"]


def test_nash_errors_are_one_line():
    evals = _evals(_with_references(GAME))
    partial = evals[~((evals["policy"] == "c") & (evals["mission"] == "m2"))]
    cases = [
        (lambda: nash_table(evals, ["a", "z"]), "no evaluation of policy 'z' for Nash averaging; policies: a, b, c"),
        (lambda: nash_table(partial, ["a", "c"], ["m1", "m2"]), "no evaluation of 'c' on 'm2'"),
        (lambda: nash_table(evals, ["a"]), "Nash averaging ranks at least two policies"),
        (lambda: nash_table(_evals({("a", "m1"): 1.0, ("b", "m2"): 1.0})), "no mission is played by every one of a, b"),
        (lambda: nash_table(_evals({("a", "m1"): 1.0, ("b", "m1"): 1.0})), "every policy has the same mean (1)"),
        (lambda: nash_table(evals, ["a", "b"], normalize=("lo", "top")), "reference policy 'top' has no evaluation"),
    ]
    for call, needle in cases:
        with pytest.raises(UserError) as caught:
            call()
        assert needle in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


# --- α-Rank of cross-play tables ----------------------------------------------------------------

# team reward of (row policy with column policy) on a 2-agent mission, one agent each; in a
# mixed episode the row policy's agent earns OWN[a][b] and the partner the rest of 2 x TEAM
TEAM = {"x": {"x": 4.0, "y": 3.0, "z": 1.0}, "y": {"x": 3.0, "y": 2.0, "z": 2.5}, "z": {"x": 1.0, "y": 2.5, "z": 3.0}}
OWN = {"x": {"y": 2.0, "z": 1.5}, "y": {"x": 4.0, "z": 2.0}, "z": {"x": 0.5, "y": 3.0}}


def _play(a, b, episodes=3, runs=1):
    """A's ordinary evaluation (b None) or a cross-play cell, A on agent 0 and B on agent 1."""
    rows = []
    for run in range(runs):
        for episode in range(episodes):
            if b is None:
                seats = [(a, "candidate", TEAM[a][a]), (a, "candidate", TEAM[a][a])]
            else:
                own = OWN[a][b]
                seats = [(a, "candidate", own), (b, "replacement", 2 * TEAM[a][b] - own)]
            rows += [{"policy": policy, "role": role, "candidate_agents": 1, "mission": "m", "run": run,
                      "episode": episode, "seed": 7 + episode, "agent": agent, "reward": reward, "success": False}
                     for agent, (policy, role, reward) in enumerate(seats)]  # fmt: skip
    return pd.DataFrame(rows)


def _blocks(payoff="team", runs=None):
    runs = runs or {}
    own = {p: _play(p, None, runs=runs.get(p, 1)) for p in "xyz"}
    cells = split_cells([_play(a, b, runs=runs.get(a, 1)) for a in "xyz" for b in "xyz" if a != b])
    return crossplay_blocks("m", list("xyz"), ["half"], own, cells, payoff)


@pytest.mark.parametrize("payoff", ["team", "own"])
def test_alpharank_table_ranks_the_hand_built_game(payoff):
    if payoff == "team":
        payoffs = np.array([[TEAM[a][b] for b in "xyz"] for a in "xyz"])
    else:
        payoffs = np.array([[TEAM[a][a] if a == b else OWN[a][b] for b in "xyz"] for a in "xyz"])
    table = alpharank_table("m", list("xyz"), _blocks(payoff), alpha=0.5, m=10, payoff=payoff, reps=100)
    assert list(table.columns) == ALPHARANK_COLUMNS
    expected = alpharank(payoffs, 0.5, 10)
    assert table["mass"].to_list() == pytest.approx(expected)
    assert table["rank"].to_list() == list(pd.Series(-expected).rank(method="min").astype(int))
    assert table["self_play"].to_list() == pytest.approx([4.0, 2.0, 3.0])
    # no noise: every replicate is the point estimate
    assert table["ci_low"].to_list() == pytest.approx(expected) and table["ci_high"].to_list() == pytest.approx(
        expected
    )
    assert (
        (table["alpha_source"] == "config").all()
        and (table["agents_a"] == 1).all()
        and (table["split"] == "half").all()
    )
    swept = alpharank_table("m", list("xyz"), _blocks(payoff), m=10, payoff=payoff, reps=100)
    pi, alpha = alpharank_sweep(payoffs, 10)
    assert swept["mass"].to_list() == pytest.approx(pi) and (swept["alpha"] == alpha).all()
    assert (swept["alpha_source"] == "sweep").all()


def test_alpharank_bootstrap_draws_the_row_policys_runs():
    """x trained twice with the same payoffs: two runs in the table, the point estimate unchanged."""
    table = alpharank_table("m", list("xyz"), _blocks(runs={"x": 2}), alpha=0.5, m=10, reps=100)
    assert table["runs"].to_list() == [2, 1, 1]
    payoffs = np.array([[TEAM[a][b] for b in "xyz"] for a in "xyz"])
    assert table["mass"].to_list() == pytest.approx(alpharank(payoffs, 0.5, 10))


def test_alpharank_errors_are_one_line():
    own = {p: _play(p, None) for p in "xyz"}
    cells = split_cells([_play(a, b) for a in "xyz" for b in "xyz" if a != b and (a, b) != ("z", "x")])
    cases = [
        (
            lambda: crossplay_blocks("m", list("xyz"), ["half"], own, cells),
            "no cross-play cell for 'z' on 1 agents with 'x'",
        ),
        (lambda: crossplay_blocks("m", list("xyw"), ["half"], own, cells), "no evaluation of 'w' on mission 'm'"),
        (lambda: crossplay_blocks("m", list("xy"), ["half"], own, cells, "mean"), "unknown α-Rank payoff 'mean'"),
    ]
    for call, needle in cases:
        with pytest.raises(UserError) as caught:
            call()
        assert needle in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


# --- the commands ----------------------------------------------------------------------------------


def test_daf_nash_and_alpharank_write_their_tables_or_nothing(tmp_path, daf):
    evals = _evals(_with_references(GAME))
    files = []
    for policy in ("a", "b", "c", "lo", "hi"):
        files.append(tmp_path / f"{policy}.parquet")
        evals[evals["policy"] == policy].to_parquet(files[-1])
    out = tmp_path / "population/nash.parquet"
    result = daf("nash", "--evals", *map(str, files), "--policies", "a,b,c", "--normalize", "lo,hi", "--reps", "100",
                 "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Nash-averaged skill: a 0.6, b 0.6, c 0.5" in result.stderr
    assert pd.read_parquet(out).set_index("name").loc["c", "nash"] == pytest.approx(0.5)
    out.unlink()
    bad = daf("nash", "--evals", *map(str, files), "--policies", "a,q", "--out", str(out))
    assert bad.returncode == 2 and "no evaluation of policy 'q'" in bad.stderr and bad.stderr.count("\n") == 1
    assert not out.exists()

    cell_files, own_files = [], []
    for a in "xyz":
        own_files.append(tmp_path / f"own_{a}.parquet")
        _play(a, None).to_parquet(own_files[-1])
        for b in "xyz":
            if a != b:
                cell_files.append(tmp_path / f"cell_{a}{b}.parquet")
                _play(a, b).to_parquet(cell_files[-1])
    ranked = tmp_path / "population/alpharank/m.parquet"
    common = ["alpharank", "--mission", "m", "--policies", "x,y,z", "--evals", *map(str, own_files), "--reps", "100",
              "--out", str(ranked), "--population-size", "10"]  # fmt: skip
    result = daf(*common, "--cells", *map(str, cell_files), "--alpha", "0.5")
    assert result.returncode == 0, result.stderr
    payoffs = np.array([[TEAM[a][b] for b in "xyz"] for a in "xyz"])
    assert pd.read_parquet(ranked)["mass"].to_list() == pytest.approx(alpharank(payoffs, 0.5, 10))
    ranked.unlink()
    bad_cases = [
        (["--cells", *map(str, cell_files[1:])], "no cross-play cell for 'x' on 1 agents with 'y'"),
        (["--cells", *map(str, cell_files), "--alpha", "-1"], "--alpha must be positive (got -1.0)"),
        (["--cells", *map(str, cell_files), "--unplayable", "x=no", "--unplayable", "y=no"],
         "needs two policies that play it; only ['z'] of x, y, z do"),
    ]  # fmt: skip
    for extra, needle in bad_cases:
        bad = daf(*common, *extra)
        assert bad.returncode == 2 and needle in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr
        assert not ranked.exists()

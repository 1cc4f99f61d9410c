"""The Python API: the same numbers as the CLI (it calls the same library code), lazy import,
a self-contained comparison page, one-line errors."""

import subprocess
import sys

import pandas as pd
import pytest
from helpers import run_daf

import daf
from daf.errors import UserError


def test_import_daf_is_cheap_and_names_the_api():
    code = "import sys, daf; print('torch' in sys.modules, 'mettagrid' in sys.modules, callable(daf.compare))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True"]  # torch and the engine load on first use
    assert {"evaluate", "compare", "gate", "train", "Study", "doctor", "analyze"} <= set(dir(daf))
    with pytest.raises(AttributeError, match="no attribute 'evalute'"):
        daf.evalute  # noqa: B018


def test_evaluate_gives_the_cli_table(tmp_path):
    out = tmp_path / "baseline.parquet"
    result = run_daf("evaluate", "--policy", "baseline", "--mission", "forage.open", "--episodes", "3", "--seed", "7",
                     "--out", str(out), "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = daf.evaluate("baseline", "forage.open", episodes=3, seed=7)
    pd.testing.assert_frame_equal(table, pd.read_parquet(out))


def test_compare_gives_the_cli_tables(tmp_path):
    comparison = daf.compare({"r": "random", "b": "baseline"}, ["cogs.tiny"], episodes=3, seed=2, reps=300)
    paths = []
    for name in ("r", "b"):
        paths.append(tmp_path / f"{name}.parquet")
        comparison.evals[comparison.evals["policy"] == name].to_parquet(paths[-1], index=False)
    result = run_daf("compare", "--evals", *map(str, paths), "--out", str(tmp_path / "cmp"), "--reps", "300",
                     "--seed", "2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(comparison.leaderboard, pd.read_parquet(tmp_path / "cmp/leaderboard.parquet"))
    pd.testing.assert_frame_equal(comparison.pairwise, pd.read_parquet(tmp_path / "cmp/pairwise.parquet"))
    again = daf.Comparison.from_tables(paths, {"r": "random", "b": "baseline"}, reps=300, seed=2)
    pd.testing.assert_frame_equal(again.leaderboard, comparison.leaderboard)
    first, second = comparison.to_html(tmp_path / "a.html"), comparison.to_html(tmp_path / "b.html")
    html = first.read_text()
    assert first.read_bytes() == second.read_bytes()  # deterministic
    assert 'id="findings"' in html and "<script src=" not in html and "http://" not in html.replace(
        "http://www.w3.org", "")  # self-contained  # fmt: skip
    with pytest.raises(UserError, match=r"to_html needs each policy's SPEC; none for \['b', 'r'\]"):
        daf.Comparison.from_tables(paths, reps=300).to_html(tmp_path / "c.html")


def test_api_errors_are_one_line_user_errors(tmp_path):
    with pytest.raises(UserError, match="unknown mission 'cogs.tinny'"):
        daf.evaluate("random", "cogs.tinny", episodes=1)
    with pytest.raises(UserError, match="policies \\['random', 'random'\\] list a policy twice"):
        daf.compare(["random", "random"], ["cogs.tiny"], episodes=1)
    with pytest.raises(UserError, match="normalize policy 'baseline' is not compared"):
        daf.compare(["random", "noop"], ["cogs.tiny"], episodes=1, normalize=("random", "baseline"))
    with pytest.raises(UserError, match="unknown comparison setting 'rep'"):
        daf.Comparison.from_tables(pd.DataFrame(), rep=3)
    with pytest.raises(UserError, match="--steps must be positive"):
        daf.train("cogs.tiny", 0, 0, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # bad input leaves nothing behind
    with pytest.raises(UserError, match="is not a `daf train` checkpoint"):
        daf.Checkpoint.load(tmp_path)


def test_analyze_a_table_and_a_checkpoint(checkpoint):
    table = daf.evaluate(str(checkpoint), "cogs.tiny", episodes=3, label="mine")
    analysis = daf.analyze(table, "cogs.tiny")
    assert analysis.policy == "mine" and sum(analysis.outcome_counts.values()) == 3
    assert analysis.success_rate == table.groupby("episode")["success"].first().mean()
    loaded = daf.Checkpoint.load(checkpoint.parent)
    assert loaded.path == checkpoint and loaded.steps == 128 and loaded.seed == 3
    with pytest.raises(UserError, match="analyze needs the table of one policy"):
        daf.analyze(pd.concat([table, table.assign(policy="other")]), "cogs.tiny")

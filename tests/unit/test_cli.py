"""The `daf` CLI (daf/cli): bad input gives one line naming the culprit and the choices, exit 2,
no output left; the CLI contract only grows (commands renamed for clarity keep their first names
as aliases that reach the same handler, and both write the same bytes)."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from helpers import SUPPORT

from daf.cli import build_parser, main

# --- bad input: one line, exit 2, nothing written ----------------------------------------------


def assert_user_error(result, *needles):
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("daf: error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


EVAL = ["evaluate", "--episodes", "2", "--seed", "0"]


@pytest.mark.parametrize(
    "args, needles",
    [
        (
            ["--policy", "random", "--mission", "cogs.smal"],
            ["unknown mission 'cogs.smal'", "cogs.small", "forage.open"],
        ),
        (["--policy", "randm", "--mission", "cogs.tiny"], ["unknown policy 'randm'", "random, noop, lstm"]),
        (
            ["--policy", "class=random,data=/no/such/weights.pt", "--mission", "cogs.tiny"],
            ["checkpoint file '/no/such/weights.pt'", "does not exist"],
        ),
        (["--policy", "class=random,data", "--mission", "cogs.tiny"], ["malformed policy spec", "not key=value"]),
        (["--policy", "data=x.pt", "--mission", "cogs.tiny"], ["missing class="]),
        (
            ["--policy", "no_such_pkg.Policy", "--mission", "cogs.tiny"],
            ["cannot load policy class 'no_such_pkg.Policy'"],
        ),
        (  # a class path from before daf/ became domain packages names the new module
            ["--policy", "daf.nn.PolicyNet", "--mission", "cogs.tiny"],
            ["cannot load policy class 'daf.nn.PolicyNet'", "daf.nn moved to daf.policies.networks"],
        ),
        (
            ["--policy", "random", "--mission", "cogs.tiny", "--candidate-agents", "9", "--replacement", "noop"],
            ["--candidate-agents 9 is out of range", "0..2"],
        ),
        (["--policy", "random", "--mission", "cogs.tiny", "--candidate-agents", "1"], ["needs --replacement"]),
        (["--policy", "random", "--mission", "/no/such/mission.py"], ["mission file '/no/such/mission.py'"]),
    ],
)
def test_evaluate_bad_input(daf, tmp_path, args, needles):
    out = tmp_path / "out.parquet"
    result = daf(*EVAL, *args, "--out", str(out))
    assert_user_error(result, *needles)
    assert not out.exists() and not out.with_suffix(".json").exists()
    assert list(tmp_path.iterdir()) == []  # no temp files either


def test_unwritable_output(daf, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker / "sub" / "out.parquet"  # parent is a file: cannot be created
    assert_user_error(
        daf(*EVAL, "--policy", "random", "--mission", "cogs.tiny", "--out", str(out)), "cannot write output", str(out)
    )


def test_wrong_output_suffix(daf, tmp_path):
    assert_user_error(
        daf(*EVAL, "--policy", "random", "--mission", "cogs.tiny", "--out", str(tmp_path / "x.csv")),
        "must end in .parquet",
    )


def test_argparse_errors_are_one_line(daf):
    assert_user_error(daf("evaluate", "--policy", "random"), "required")
    assert_user_error(daf("frobnicate"), "invalid choice")
    assert_user_error(
        daf(*EVAL[:1], "--policy", "r", "--mission", "m", "--episodes", "two", "--seed", "0", "--out", "x.parquet"),
        "--episodes",
        "invalid int",
    )


def test_corrupt_checkpoint(daf, tmp_path):
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"this is not a torch file")
    out = tmp_path / "o.parquet"
    result = daf(*EVAL, "--policy", f"class=stateless,data={bad}", "--mission", "cogs.tiny", "--out", str(out))
    assert_user_error(result, "cannot initialise policy", "weights.pt")
    assert not out.exists()


def test_summarize_missing_input(daf, tmp_path):
    result = daf("summarize", "--evals", str(tmp_path / "none.parquet"), "--out", str(tmp_path / "s.parquet"))
    assert_user_error(result, "none.parquet' does not exist", "evaluate")


@pytest.mark.parametrize(
    "policy, needles",
    [
        ("TagCheckingPolicy", ["AssertionError: expected the CogsGuard tags (see the game's docs)"]),
        ("FirstStepFailingPolicy", ["KeyError: 'junction'", "episode 0"]),
        ("SecondEpisodeFailingPolicy", ["RuntimeError: out of memory on the policy server", "episode 1"]),
    ],
)
def test_third_party_policy_that_fails_is_one_line(daf, tmp_path, policy, needles):
    """A policy class that raises when built or on its first step: one line naming the policy, the
    mission and the exception, exit 2, nothing written (not even the replay of episode 0)."""
    out = tmp_path / "eval.parquet"
    spec = f"policies_for_tests.{policy}"
    args = [*EVAL, "--policy", spec, "--mission", "cogs.tiny", "--replays", "2", "--out", str(out)]
    result = daf(*args, cwd=SUPPORT)
    assert_user_error(result, f"policy '{spec}'", "mission 'cogs.tiny'", *needles)
    assert list(tmp_path.iterdir()) == []
    debug = daf("--log-json", str(tmp_path / "log.jsonl"), *args, cwd=SUPPORT, env={"DAF_DEBUG": "1"})
    assert debug.returncode == 2 and "Traceback (most recent call last)" in debug.stderr
    end = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])
    assert end["status"] == "error" and "Traceback (most recent call last)" in end["traceback"]


# --- the contract only grows: renamed commands keep their first names -------------------------


RENAMED = [  # (new name, first name, required flags)
    (["leaderboard"], ["summarize"], ["--evals", "e.parquet", "--out", "o.parquet"]),
    (["curves-aggregate"], ["curves-summary"], ["--curves", "c.parquet", "--out", "o"]),
    (["analysis-aggregate"], ["analysis-summary"], ["--analyses", "a.parquet", "--out", "o"]),
    (["sweep", "rank"], ["sweep", "summarize"], ["--sweep-json", "{}", "--runs", "r.json", "--out", "o"]),
]


@pytest.mark.parametrize("new, old, flags", RENAMED)
def test_first_names_are_aliases_of_the_new_ones(new, old, flags):
    parser = build_parser()
    assert parser.parse_args([*new, *flags]).func is parser.parse_args([*old, *flags]).func


def test_leaderboard_and_summarize_write_the_same_bytes(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "policy": np.repeat(["a", "b"], 6), "mission": "m", "episode": np.tile(range(6), 2),
        "seed": np.tile(range(6), 2), "agent": 0, "reward": rng.normal(size=12), "success": rng.random(12) > 0.5,
    })  # fmt: skip
    evals = tmp_path / "e.parquet"
    frame.to_parquet(evals)
    digests = []
    for name in ("leaderboard", "summarize"):
        out = tmp_path / f"{name}.parquet"
        assert main([name, "--evals", str(evals), "--out", str(out), "--reps", "200"]) == 0
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    table = pd.read_parquet(tmp_path / "leaderboard.parquet")
    assert list(table["episodes"]) == [6, 6]
    assert table["mean"].tolist() == pytest.approx(frame.groupby("policy")["reward"].mean().tolist())

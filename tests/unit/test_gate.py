"""`daf gate`: the promotion decision, its intervals (known answers from scipy.stats), exit
codes (0 holds, 1 does not, 2 bad input) and its JSON."""

import json

import numpy as np
import pandas as pd
import pytest
from helpers import run_daf
from scipy import stats as sps

from daf.api import gate
from daf.errors import UserError


def table(policy, scores, mission="m", run=0, seed0=0):
    """One agent per episode: the episode score is its reward."""
    return pd.DataFrame({
        "policy": policy, "role": "candidate", "mission": mission, "run": run, "episode": range(len(scores)),
        "seed": [seed0 + i for i in range(len(scores))], "agent": 0, "reward": scores, "success": False,
    })  # fmt: skip


RNG = np.random.default_rng(11)
BASE = RNG.normal(5.0, 1.0, 40)
NOISE = RNG.normal(0.0, 0.3, 40)


def pair(diff, noise_scale=1.0, n=40):
    a = table("a", BASE[:n] + diff + noise_scale * NOISE[:n])
    b = table("b", BASE[:n])
    return pd.concat([a, b], ignore_index=True)


def test_clear_win_passes_with_scipys_paired_interval():
    evals = pair(1.0)
    result = gate(evals, "a", "b")
    row = result.missions.iloc[0]
    d = (BASE + 1.0 + NOISE) - BASE
    ci = sps.ttest_rel(BASE + 1.0 + NOISE, BASE).confidence_interval(0.95)
    assert (row["level"], row["n"]) == ("episode", 40)
    assert row["estimate"] == pytest.approx(d.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert result.passed and result.verdict().startswith("gate PASS: a vs b, superiority")


def test_clear_loss_fails():
    result = gate(pair(-1.0), "a", "b")
    assert not result.passed and result.missions.iloc[0]["ci_high"] < 0
    assert result.verdict().startswith("gate FAIL")


def test_inconclusive_never_passes():
    """A positive point estimate whose interval spans zero fails superiority."""
    d = np.array([1.0, -0.8] * 5)  # mean 0.1, sd 0.95: a 95% CI of about +-0.68
    evals = pd.concat([table("a", BASE[:10] + d), table("b", BASE[:10])], ignore_index=True)
    row = gate(evals, "a", "b").missions.iloc[0]
    assert row["estimate"] > 0 and row["ci_low"] < 0 < row["ci_high"]
    assert not row["passed"]


def test_non_inferior_but_not_superior():
    evals = pair(-0.05)  # slightly worse: within a margin of 0.5, not better
    assert not gate(evals, "a", "b").passed
    result = gate(evals, "a", "b", test="non-inferiority", margin=0.5)
    row = result.missions.iloc[0]
    assert row["threshold"] == -0.5 and row["ci_low"] > -0.5 and row["ci_low"] < 0
    assert result.passed
    assert not gate(evals, "a", "b", test="non-inferiority", margin=0.01).passed


def test_superiority_margin_raises_the_bar():
    evals = pair(1.0)
    low = gate(evals, "a", "b").missions.iloc[0]["ci_low"]
    assert gate(evals, "a", "b", margin=low - 0.01).passed
    assert not gate(evals, "a", "b", margin=low + 0.01).passed


def test_run_level_uses_welch_over_run_means():
    a_runs = [6.0, 7.5, 6.8]
    b_runs = [5.0, 5.4, 4.9, 5.2]
    frames = [table("a", np.full(8, m) + np.linspace(-1, 1, 8), run=r) for r, m in enumerate(a_runs)]
    frames += [table("b", np.full(8, m) + np.linspace(-1, 1, 8), run=r) for r, m in enumerate(b_runs)]
    row = gate(pd.concat(frames, ignore_index=True), "a", "b", confidence=0.9).missions.iloc[0]
    ci = sps.ttest_ind(a_runs, b_runs, equal_var=False).confidence_interval(0.9)
    assert (row["level"], row["runs_a"], row["runs_b"], row["n"]) == ("run", 3, 4, 7)
    assert row["estimate"] == pytest.approx(np.mean(a_runs) - np.mean(b_runs))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high))


def test_one_run_side_is_held_fixed_and_orientation_is_a_minus_b():
    b_runs = [3.0, 4.0, 3.5]
    frames = [table("a", np.full(6, 5.0))]
    frames += [table("b", np.full(6, m), run=r) for r, m in enumerate(b_runs)]
    row = gate(pd.concat(frames, ignore_index=True), "a", "b").missions.iloc[0]
    ci = sps.ttest_1samp(np.array(b_runs) - 5.0, 0.0).confidence_interval(0.95)
    assert row["level"] == "run" and row["estimate"] == pytest.approx(5.0 - 3.5)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((-ci.high, -ci.low))


def test_every_mission_must_pass():
    evals = pd.concat([pair(1.0), pair(-1.0).assign(mission="other")], ignore_index=True)
    result = gate(evals, "a", "b")
    assert list(result.missions["mission"]) == ["m", "other"]
    assert list(result.missions["passed"]) == [True, False] and not result.passed
    assert "on 1 of 2 missions; closest: other" in result.verdict()
    assert gate(evals, "a", "b", missions=["m"]).passed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"candidate": "c"}, "--candidate 'c' is not in the evaluation tables; policies there: a, b"),
        ({"incumbent": "a"}, "are both 'a'"),
        ({"test": "better"}, "unknown gate test 'better'"),
        ({"test": "non-inferiority"}, "needs --margin > 0"),
        ({"margin": -1}, "--margin must be a non-negative"),
        ({"confidence": 1.5}, "--confidence must be between 0 and 1"),
        ({"missions": ["nowhere"]}, "--missions 'nowhere' was not played by both policies; shared missions: m"),
    ],
)
def test_bad_input_names_the_culprit(kwargs, message):
    args = {"candidate": "a", "incumbent": "b", **kwargs}
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        gate(pair(1.0), args.pop("candidate"), args.pop("incumbent"), **args)


def test_cli_exit_codes_verdict_and_json(tmp_path):
    win, loss = tmp_path / "win.parquet", tmp_path / "loss.parquet"
    pair(1.0).to_parquet(win)
    pair(-1.0).to_parquet(loss)
    out = tmp_path / "gate" / "decision.json"
    passed = run_daf("gate", "--evals", str(win), "--candidate", "a", "--incumbent", "b", "--out", str(out))
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.startswith("gate PASS: a vs b") and passed.stdout.count("\n") == 1
    decision = json.loads(out.read_text())
    assert decision["passed"] is True and decision["missions"][0]["level"] == "episode"
    failed = run_daf("gate", "--evals", str(loss), "--candidate", "a", "--incumbent", "b")
    assert failed.returncode == 1 and failed.stdout.startswith("gate FAIL")
    bad = run_daf("gate", "--evals", str(win), "--candidate", "nobody", "--incumbent", "b", "--out",
                  str(tmp_path / "bad" / "x.json"))  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "nobody" in bad.stderr
    assert not (tmp_path / "bad" / "x.json").exists()

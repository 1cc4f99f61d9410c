"""Power analysis from pilots (daf.stats.planning, `daf plan`): known answers on constructed pilots."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from daf.cli import main
from daf.errors import UserError
from daf.stats.pilots import BETWEEN_RUNS, COMPONENT_COLUMNS, PlanSettings, design_grid, variance_components
from daf.stats.planning import plan, summary_text
from daf.stats.sample_size import POWER_COLUMNS, PRECISION_COLUMNS
from daf.stats.scores import ALL

Z = float(sps.norm.ppf(0.975))


def pilot(policy, mission, scores: np.ndarray, seed0: int = 0) -> pd.DataFrame:
    """Evaluation rows of a runs x episodes score matrix: one candidate agent per episode
    (its reward is the episode score) plus a replacement agent whose reward must be ignored."""
    runs, episodes = scores.shape
    run = np.repeat(np.arange(runs), episodes)
    episode = np.tile(np.arange(episodes), runs)
    base = {"policy": policy, "mission": mission, "run": run, "episode": episode, "seed": seed0 + episode,
            "success": False}  # fmt: skip
    candidate = pd.DataFrame({**base, "role": "candidate", "agent": 0, "reward": scores.ravel()})
    other = pd.DataFrame({**base, "policy": "filler", "role": "replacement", "agent": 1, "reward": 1e6})
    return pd.concat([candidate, other], ignore_index=True)


def no_between_runs(rng, runs, episodes, sd=1.0, mean=0.0) -> np.ndarray:
    """Scores whose run means are exactly equal: the between-run variance is zero."""
    y = rng.normal(0, sd, (runs, episodes))
    return mean + y - y.mean(axis=1, keepdims=True)


def runs_apart(rng, runs, episodes, run_sd, sd=1.0, mean=0.0) -> np.ndarray:
    return mean + rng.normal(0, run_sd, (runs, 1)) + rng.normal(0, sd, (runs, episodes))


def test_design_grid():
    assert design_grid(20) == [1, 2, 3, 4, 6, 8, 12, 16, 20]
    assert design_grid(1024, 2)[:4] == [2, 3, 4, 6] and design_grid(1024)[-1] == 1024
    assert design_grid(5, 2) == [2, 3, 4, 5]


def test_variance_components_recover_the_model():
    rng = np.random.default_rng(0)
    runs, episodes = 60, 300
    y = (
        2.0
        + rng.normal(0, np.sqrt(0.5), (runs, 1))
        + rng.normal(0, np.sqrt(0.3), (1, episodes))
        + rng.normal(0, 1.0, (runs, episodes))
    )
    c = variance_components(y)
    assert c.var_run == pytest.approx(0.5, rel=0.3)
    assert c.var_episode == pytest.approx(0.3, rel=0.2)
    assert c.var_residual == pytest.approx(1.0, rel=0.03)
    assert c.run_known and c.variance(1, 1) == pytest.approx(c.var_run + c.var_episode + c.var_residual)
    single = variance_components(y[:1])
    assert not single.run_known and single.var_run == 0 and single.var_episode == pytest.approx(y[0].var(ddof=1))


def test_episodes_needed_without_between_run_variance():
    """Zero between-run variance, sd 1: one run needs (z sd / H)^2 episodes, R runs 1/R of it."""
    rng = np.random.default_rng(1)
    evals = pilot("p", "m", no_between_runs(rng, 4, 500))
    half_width = Z / 10  # (z sd / H)^2 = 100
    result = plan(evals, PlanSettings(half_width=half_width, sims=4000, max_runs=4))
    precision = result.precision.set_index("runs")
    assert list(result.precision.columns) == PRECISION_COLUMNS
    assert result.components.iloc[0]["var_run"] == 0.0
    assert precision.loc[1, "episodes_needed"] == pytest.approx(100, rel=0.1)
    assert precision.loc[4, "episodes_needed"] == pytest.approx(25, rel=0.2)
    assert precision["reachable"].all() and (precision["half_width"] <= half_width).all()
    # the simulation agrees: at the closed-form design its half-width is the target
    assert precision.loc[1, "half_width_sim"] <= half_width * 1.1
    assert precision.loc[1, "episodes_needed_sim"] in (96, 128)  # the grid values around 100


def test_between_run_variance_dominates():
    """Run offsets -2..2 (sample variance 2.5) and little episode noise: with H = 1.5 the
    runs alone use var_run / R of the budget (H / z)^2, so R >= 2.5 / 0.586 = 4.3 runs."""
    rng = np.random.default_rng(2)
    offsets = np.arange(-2.0, 3.0)[:, None]
    evals = pilot("p", "m", offsets + no_between_runs(rng, 5, 64, sd=0.2))
    settings = PlanSettings(half_width=1.5, sims=2000, max_runs=20)
    result = plan(evals, settings)
    var_run = result.components.iloc[0]["var_run"]
    assert var_run == pytest.approx(2.5 - result.components.iloc[0]["var_residual"] / 64)
    precision = result.precision.set_index("runs")
    for runs in (1, 2, 3, 4):  # more episodes cannot help: the floor z sqrt(var_run / R) exceeds H
        row = precision.loc[runs]
        assert not row["reachable"] and row["limited_by"] == BETWEEN_RUNS
        assert row["half_width_floor"] == pytest.approx(Z * np.sqrt(var_run / runs)) and row["half_width_floor"] > 1.5
        assert pd.isna(row["episodes_needed"])
    assert precision[precision["reachable"]].index.min() == 6  # the grid's first runs count >= 4.3
    assert precision.loc[6, "half_width_sim"] <= 1.5 * 1.1
    assert "more episodes cannot help" in summary_text(result, settings)


def test_unreachable_with_too_few_runs_says_more_runs_are_needed():
    rng = np.random.default_rng(3)
    evals = pilot("p", "m", runs_apart(rng, 5, 64, run_sd=3.0, sd=0.2))
    settings = PlanSettings(half_width=0.1, sims=200, max_runs=4, max_episodes=64)
    result = plan(evals, settings)
    assert not result.precision["reachable"].any()
    assert (result.precision["limited_by"] == BETWEEN_RUNS).all()
    var_run = result.components.iloc[0]["var_run"]
    at_least = int(np.floor(var_run / (0.1 / Z) ** 2)) + 1
    assert f"more runs are needed (at least {at_least})" in summary_text(result, settings)


def two_policies(rng, shift, runs=6, episodes=32):
    return pd.concat(
        [
            pilot("a", "m", runs_apart(rng, runs, episodes, 0.3, mean=shift)),
            pilot("b", "m", runs_apart(rng, runs, episodes, 0.3)),
        ],
        ignore_index=True,
    )


def test_power_for_a_huge_difference_is_reached_with_the_minimal_design():
    result = plan(two_policies(np.random.default_rng(4), 100.0), PlanSettings(sims=400, max_runs=8, max_episodes=64))
    assert list(result.power.columns) == POWER_COLUMNS
    first = result.power.iloc[0]
    assert first["test"] == "welch_runs" and first["paired_episodes"]
    assert first["runs"] == 2 and first["episodes_needed"] == 1 and first["power"] == 1.0
    assert (
        first["pilot_difference"] == pytest.approx(100.0, abs=1.0) and first["difference"] == first["pilot_difference"]
    )


def test_power_for_zero_difference_is_never_reached_and_rejects_at_alpha():
    settings = PlanSettings(difference=0.0, sims=4000, max_runs=6, max_episodes=32)
    result = plan(two_policies(np.random.default_rng(5), 1.0), settings)
    assert not result.power["reachable"].any()
    tolerance = 4 * np.sqrt(0.05 * 0.95 / settings.sims)
    # Welch's t is conservative with 2 runs a side, close to its level from a few more on
    assert (result.power["power"] <= 0.05 + tolerance).all()
    assert (result.power["null_rejection"] <= 0.05 + tolerance).all()
    assert result.power["power"].iloc[-1] == pytest.approx(0.05, abs=tolerance)
    assert "not reachable" in summary_text(result, settings)


def test_single_run_policies_use_the_paired_episode_test():
    rng = np.random.default_rng(6)
    shared = rng.normal(0, 1, (1, 200))  # map difficulty, common to both: pairing removes it
    evals = pd.concat([pilot("a", "m", shared + 0.5 + rng.normal(0, 0.2, (1, 200))),
                       pilot("b", "m", shared + rng.normal(0, 0.2, (1, 200)))], ignore_index=True)  # fmt: skip
    result = plan(evals, PlanSettings(sims=4000))
    (row,) = result.power.itertuples()
    assert row.test == "paired_episodes" and row.runs == 1 and row.power >= 0.8
    # the paired t's exact power (noncentral t) at the pilot's effect size, on the same grid
    d = evals[evals["role"] == "candidate"].pivot(index="seed", columns="policy", values="reward")
    effect = (d["a"] - d["b"]).mean() / (d["a"] - d["b"]).std(ddof=1)
    exact = {n: sps.nct.sf(sps.t.ppf(0.975, n - 1), n - 1, effect * np.sqrt(n)) for n in design_grid(1024, 2)}
    assert row.episodes_needed == min(n for n, p in exact.items() if p >= 0.8)
    null = plan(evals, PlanSettings(sims=4000, difference=0.0, max_episodes=64)).power.iloc[0]
    assert not null["reachable"] and null["power"] == pytest.approx(0.05, abs=0.015)


def test_trained_vs_single_run_reference():
    rng = np.random.default_rng(7)
    evals = pd.concat([pilot("ppo", "m", runs_apart(rng, 5, 32, 0.2, mean=1.0)),
                       pilot("random", "m", rng.normal(0, 1, (1, 32)))], ignore_index=True)  # fmt: skip
    result = plan(evals, PlanSettings(sims=1000, max_runs=8))
    assert set(result.power["test"]) == {"welch_runs_reference"}
    assert result.power["reachable"].any() and "one pilot run" in result.power["note"].iloc[0]


def test_normalized_all_rows():
    rng = np.random.default_rng(8)
    frames = []
    for mission, scale in (("m1", 1.0), ("m2", 10.0)):
        frames += [
            pilot("low", mission, scale * rng.normal(0, 0.1, (1, 16))),
            pilot("high", mission, scale * (1 + rng.normal(0, 0.1, (1, 16)))),
            pilot("ppo", mission, scale * runs_apart(rng, 3, 16, 0.1, sd=0.1, mean=0.5)),
        ]
    settings = PlanSettings(half_width=0.05, sims=400, normalize=("low", "high"), max_runs=6)
    result = plan(pd.concat(frames, ignore_index=True), settings)
    comps = result.components.set_index(["policy", "mission"])
    assert (result.components["units"] == "normalized").all()
    assert comps.loc[("low", ALL), "mean"] == pytest.approx(0.0, abs=1e-12)
    assert comps.loc[("high", ALL), "mean"] == pytest.approx(1.0)
    per_mission = comps.loc[[("ppo", "m1"), ("ppo", "m2")], "mean"].mean()
    assert comps.loc[("ppo", ALL), "mean"] == pytest.approx(per_mission)
    planned = set(zip(result.power["policy_a"], result.power["policy_b"], result.power["mission"]))
    assert ("high", "ppo", ALL) in planned and ("high", "ppo", "m1") in planned
    assert ALL in set(result.precision["mission"])


def test_deterministic_and_independent_of_other_policies():
    rng = np.random.default_rng(9)
    evals = two_policies(rng, 0.5)
    settings = PlanSettings(half_width=0.3, sims=300, max_runs=6, max_episodes=64)
    first, second = plan(evals, settings), plan(evals, settings)
    for a, b in zip(
        (first.components, first.precision, first.power), (second.components, second.precision, second.power)
    ):
        pd.testing.assert_frame_equal(a, b)
    extra = pd.concat([evals, pilot("c", "m", runs_apart(rng, 3, 32, 0.3))], ignore_index=True)
    more = plan(extra, settings)
    mine = more.precision[more.precision["policy"] != "c"].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, first.precision)
    reseeded = plan(evals, PlanSettings(half_width=0.3, sims=300, max_runs=6, max_episodes=64, seed=1))
    assert not np.allclose(reseeded.precision["half_width_sim"], first.precision["half_width_sim"])


def test_pairs_select_and_order():
    evals = pd.concat([two_policies(np.random.default_rng(10), 1.0), pilot("c", "other", np.ones((1, 4)))])
    result = plan(evals, PlanSettings(sims=200, max_runs=3, max_episodes=8, pairs=(("b", "a"),)))
    assert set(zip(result.power["policy_a"], result.power["policy_b"])) == {("b", "a")}
    assert (result.power["pilot_difference"] < 0).all()  # b - a


@pytest.mark.parametrize(
    "settings, needles",
    [
        (PlanSettings(pairs=(("a", "zz"),)), ["unknown policy 'zz'", "valid policys: a, b"]),
        (PlanSettings(pairs=(("a", "a"),)), ["compares a policy with itself"]),
        (PlanSettings(half_width=-1.0), ["--half-width must be a positive number"]),
        (PlanSettings(power=1.5), ["--power must be between 0 and 1"]),
        (PlanSettings(sims=10), ["--sims must be at least 40"]),
        (PlanSettings(normalize=("random", "b")), ["unknown policy 'random'", "a, b"]),
    ],
)
def test_bad_settings_are_user_errors(settings, needles):
    with pytest.raises(UserError) as info:
        plan(two_policies(np.random.default_rng(11), 1.0, runs=2, episodes=4), settings)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


def test_bad_tables_are_user_errors():
    with pytest.raises(UserError, match="no evaluation rows"):
        plan(pd.DataFrame(), PlanSettings())
    with pytest.raises(UserError, match="lacks columns \\['reward'\\]"):
        plan(pilot("a", "m", np.ones((2, 3))).drop(columns=["reward"]), PlanSettings())
    ragged = pilot("a", "m", np.ones((2, 3)))
    ragged = ragged[~((ragged["run"] == 1) & (ragged["episode"] > 0))]
    with pytest.raises(
        UserError, match="policy 'a' on mission 'm': the pilot needs at least 2 episodes played by every run"
    ):
        plan(ragged, PlanSettings())
    twice = pilot("a", "m", np.ones((2, 3))).assign(seed=0)
    with pytest.raises(UserError, match="run 0 played seed 0 in two episodes"):
        plan(twice, PlanSettings())


def test_tables_without_runs_are_one_run():
    evals = two_policies(np.random.default_rng(12), 1.0, runs=1).drop(columns=["run"])
    result = plan(evals, PlanSettings(sims=200, max_episodes=16))
    assert (result.components["pilot_runs"] == 1).all() and set(result.power["test"]) == {"paired_episodes"}


def test_cli_writes_the_plan(tmp_path, capsys):
    evals = two_policies(np.random.default_rng(13), 0.8)
    path = tmp_path / "pilot.parquet"
    evals.to_parquet(path)
    args = ["plan", "--evals", str(path), "--half-width", "0.3", "--sims", "200", "--max-runs", "6",
            "--max-episodes", "64"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    printed = capsys.readouterr().out
    assert "precision: 95% CI half-width <= 0.3" in printed and "a vs b on m" in printed
    assert main([*args, "--out", str(tmp_path / "two")]) == 0
    one, two = (json.loads((tmp_path / d / "plan.json").read_text()) for d in ("one", "two"))
    assert one["precision"] == two["precision"] and one["power"] == two["power"]
    assert one["settings"]["half_width"] == 0.3 and one["summary"]
    for name, columns in (
        ("components", COMPONENT_COLUMNS),
        ("precision", PRECISION_COLUMNS),
        ("power", POWER_COLUMNS),
    ):
        assert list(pd.read_parquet(tmp_path / "one" / f"{name}.parquet").columns) == columns
    assert not list((tmp_path / "one").glob(".*tmp"))  # atomic writes leave no temporaries


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--pairs", "a-b"], "--pairs 'a-b' must be A:B"),
        (["--normalize", "onlyone"], "--normalize 'onlyone' must be LOW,HIGH"),
        (["--pairs", "a:nope"], "unknown policy 'nope'"),
    ],
)
def test_cli_bad_input(tmp_path, capsys, extra, needle):
    path = tmp_path / "pilot.parquet"
    two_policies(np.random.default_rng(14), 1.0, runs=2, episodes=4).to_parquet(path)
    assert main(["plan", "--evals", str(path), "--out", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("daf: error: ") and needle in err[0], err
    assert not (tmp_path / "out" / "plan.json").exists()

"""Sweeps: search spaces, trial identity, hyperparameters reaching the trainer, failures,
pruning, Optuna ask/tell resume, importance and best-trial selection."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import REPO
from scipy import stats

from daf.config.load import validate_study
from daf.config.sweeps import SweepConfig
from daf.config.training import PPOConfig, TrainConfig
from daf.errors import UserError
from daf.evaluation.episodes import episode_seed
from daf.sweeps import search, selection
from daf.sweeps import space as sweep_space
from daf.sweeps import trials as sweep_trials
from daf.training import ppo

BASE = {"policies": {"ppo": {"train": {"mission": "cogs.tiny", "steps": 128}}}, "missions": ["cogs.tiny"]}


def make_sweep(**fields) -> SweepConfig:
    return SweepConfig.model_validate({"policy": "ppo", **fields})


# --- search spaces and trial identity ------------------------------------------------------


def test_grid_expands_every_combination_with_stable_ids():
    space = {
        "learning_rate": {"values": [1e-3, 3e-3, 1e-2]},
        "ent_coef": {"low": 0.0, "high": 0.03, "points": 4},
        "arch": {"values": ["cnn", "lstm"]},
    }
    trials = sweep_space.planned_trials(make_sweep(strategy="grid", space=space))
    assert len(trials) == 3 * 4 * 2
    assert len({t.id for t in trials}) == 24
    assert sorted({t.params["ent_coef"] for t in trials}) == pytest.approx([0.0, 0.01, 0.02, 0.03])
    # a new grid value adds trials; every existing trial keeps its id (and its results)
    space["learning_rate"]["values"].append(3e-2)
    grown = sweep_space.planned_trials(make_sweep(strategy="grid", space=space))
    assert len(grown) == 32 and {t.id for t in trials} < {t.id for t in grown}


def test_grid_points_on_a_log_scale_and_integers():
    space = {"hidden_size": {"low": 16, "high": 256, "log": True, "points": 5}}
    values = [t.params["hidden_size"] for t in sweep_space.planned_trials(make_sweep(strategy="grid", space=space))]
    assert values == [16, 32, 64, 128, 256] and all(type(v) is int for v in values)


def test_random_trials_are_seeded_in_range_and_a_larger_budget_appends():
    space = {
        "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
        "num_envs": {"low": 2, "high": 8},
        "norm_adv": {"values": [True, False]},
    }
    small = sweep_space.planned_trials(make_sweep(strategy="random", trials=6, space=space))
    large = sweep_space.planned_trials(make_sweep(strategy="random", trials=40, space=space))
    assert [t.id for t in large[:6]] == [t.id for t in small]
    lrs = np.array([t.params["learning_rate"] for t in large])
    assert lrs.min() >= 1e-4 and lrs.max() <= 1e-1
    assert (np.log10(lrs) < -2.5).sum() >= 10  # log-uniform: half the mass below 10^-2.5
    envs = {t.params["num_envs"] for t in large}
    assert envs <= set(range(2, 9)) and len(envs) >= 5 and all(type(v) is int for v in envs)
    other_seed = sweep_space.planned_trials(make_sweep(strategy="random", trials=6, space=space, sampler_seed=1))
    assert [t.id for t in other_seed] != [t.id for t in small]


def test_trial_settings_apply_hyperparameters_and_arch():
    base = TrainConfig(mission="cogs.tiny", steps=100, hyperparameters=PPOConfig(num_envs=2))
    settings = sweep_space.apply_params(base, {"learning_rate": 0.01, "arch": "lstm"})
    assert settings.arch == "lstm" and settings.hyperparameters.learning_rate == 0.01
    assert settings.hyperparameters.num_envs == 2  # the rest of the base stays


@pytest.mark.parametrize(
    "fields, message",
    [
        (
            {"strategy": "grid", "space": {"lr": {"values": [1]}}},
            "space.lr: not a hyperparameter; valid: learning_rate",
        ),
        (
            {"strategy": "grid", "space": {"learning_rate": {"low": 0.001, "high": 0.01}}},
            "a grid needs `values` or `points`",
        ),
        ({"strategy": "random", "space": {"learning_rate": {"values": [0.1]}}}, "needs a trial budget: `trials`"),
        ({"strategy": "grid", "trials": 3, "space": {"gamma": {"values": [0.9]}}}, "remove `trials`"),
        (
            {"strategy": "random", "trials": 3, "space": {"learning_rate": {"low": 0.0, "high": 0.1, "log": True}}},
            "log-scale range needs `low` > 0",
        ),
        (
            {"strategy": "random", "trials": 3, "space": {"num_envs": {"low": 1.5, "high": 8}}},
            "1.5 is not a valid num_envs",
        ),
        ({"strategy": "random", "trials": 3, "space": {"gamma": {"values": [0.9, 2.0]}}}, "2.0 is not a valid gamma"),
        (
            {"strategy": "random", "trials": 3, "space": {"arch": {"values": ["cnn", "mlp"]}}},
            "space.arch: give `values` from tokens, tokens_lstm, cnn, lstm",
        ),
        (
            {
                "strategy": "random",
                "trials": 3,
                "space": {"gamma": {"values": [0.9]}},
                "pruner": {"kind": "median", "interval": 100},
            },
            "`pruner` needs strategy tpe",
        ),
    ],
)
def test_bad_sweeps_name_the_field(fields, message):
    with pytest.raises(UserError, match="sweeps.s") as info:
        validate_study({**BASE, "sweeps": {"s": {"policy": "ppo", **fields}}})
    assert message in str(info.value)


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            {"sweeps": {"s": {"policy": "nope", "strategy": "grid", "space": {"gamma": {"values": [0.9]}}}}},
            "sweeps.s.policy: unknown policy 'nope'; valid policies: ppo",
        ),
        (
            {
                "policies": {**BASE["policies"], "r": {"spec": "random"}},
                "sweeps": {"s": {"policy": "r", "strategy": "grid", "space": {"gamma": {"values": [0.9]}}}},
            },
            "'r' has no `train:` settings to tune; trained policies: ppo",
        ),
        (
            {"policies": {**BASE["policies"], "best": {"spec": "sweep:other:best"}}},
            "policies.best.spec: unknown sweep 'other'",
        ),
        (
            {
                "sweeps": {
                    "s": {
                        "policy": "ppo",
                        "strategy": "grid",
                        "space": {"gamma": {"values": [0.9]}},
                        "objective": {"metric": "vor"},
                    }
                }
            },
            "the vor objective needs `replacement`",
        ),
        (
            {"variants": {"v": {"family": "cogz", "policies": ["ppo"]}}},
            "unknown family 'cogz'; valid families: cogs, forage",
        ),
        (
            {"variants": {"v": {"family": "forage", "policies": ["ppo"]}}},
            "'ppo' (trained on cogs.tiny) cannot play forage.open",
        ),
    ],
)
def test_bad_sweep_references(extra, message):
    with pytest.raises(UserError) as info:
        validate_study({**BASE, **extra})
    assert message in str(info.value)


def test_sweep_best_spec_resolves_to_the_sweeps_checkpoint():
    study = validate_study({
        **BASE,
        "policies": {**BASE["policies"], "tuned": {"spec": "sweep:s:best", "missions": ["cogs.tiny"]}},
        "sweeps": {"s": {"policy": "ppo", "strategy": "grid", "space": {"gamma": {"values": [0.9]}}}},
    })  # fmt: skip
    assert study.policy_spec("tuned") == "class=trained,data=results/sweeps/s/best/model.pt"


# --- runs: hyperparameters reach the trainer, failures are recorded ---------------------------


def _run(tmp_path: Path, name: str, **params) -> dict:
    base = TrainConfig(mission="cogs.tiny", steps=128, hyperparameters=PPOConfig(num_envs=2, rollout_steps=16))
    settings = sweep_space.apply_params(base, params)
    return sweep_trials.run_trial(settings, tmp_path / name, ["cogs.tiny"], 2, 5, "mean", [], label=name)


def test_hyperparameters_reach_the_trainer(tmp_path):
    a = _run(tmp_path, "a", learning_rate=0.01)
    b = _run(tmp_path, "b", learning_rate=0.0001)
    _run(tmp_path, "again", learning_rate=0.01)
    assert a["status"] == b["status"] == "completed"
    sidecar = json.loads((tmp_path / "a" / "model.json").read_text())
    assert sidecar["hyperparameters"]["learning_rate"] == 0.01
    assert json.loads((tmp_path / "b" / "model.json").read_text())["hyperparameters"]["learning_rate"] == 0.0001

    def weights(name):
        return torch.load(tmp_path / name / "model.pt", weights_only=True)["model"]

    wa, wb, wa2 = weights("a"), weights("b"), weights("again")
    assert any(not torch.equal(wa[k], wb[k]) for k in wa)  # another learning rate, other weights
    assert all(torch.equal(wa[k], wa2[k]) for k in wa)  # same trial, same weights
    evals = pd.read_parquet(tmp_path / "a" / "evals.parquet")
    assert sorted(evals["seed"].unique()) == sorted(episode_seed(5, k) for k in range(2))
    assert a["objective"] == pytest.approx(evals.groupby("episode")["reward"].mean().mean())


def test_a_failing_trial_is_recorded_not_scored(tmp_path):
    record = _run(tmp_path, "bad", num_minibatches=4096)  # more minibatches than samples
    assert record["status"] == "failed" and record["objective"] is None
    assert "num_minibatches (4096)" in record["error"] and "Traceback" in record["traceback"]
    table = selection.trial_table(
        [
            {
                "trial": "t1",
                "order": 0,
                "params": {"x": 1},
                "runs": [{"seed": 0, "status": "completed", "objective": 0.2, "error": None}],
            },
            {"trial": "t2", "order": 1, "params": {"x": 2}, "runs": [{"seed": 0, **record}]},
            {
                "trial": "t3",
                "order": 2,
                "params": {"x": 3},
                "runs": [
                    {"seed": 0, "status": "completed", "objective": 0.5, "error": None},
                    {"seed": 1, "status": "pruned", "objective": None, "error": None},
                ],
            },
        ]
    )
    assert list(table["status"]) == ["completed", "failed", "pruned"]
    assert table["objective"].isna().tolist() == [False, True, True]
    assert selection.top_trials(table, 3, "maximize") == ["t1"]  # never the failed one, even minimizing
    assert selection.top_trials(table, 3, "minimize") == ["t1"]


def test_machine_errors_propagate_so_the_job_is_retried(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ppo, "train", full_disk)
    with pytest.raises(OSError):
        _run(tmp_path, "disk")


def test_a_diverged_loss_stops_training(tmp_path, monkeypatch):
    real = ppo._learn

    def nan_loss(*args, **kwargs):
        return {**real(*args, **kwargs), "value_loss": float("nan")}

    monkeypatch.setattr(ppo, "_learn", nan_loss)
    record = _run(tmp_path, "nan")
    assert record["status"] == "failed"
    assert "TrainingDiverged: training diverged at update 1" in record["error"] and "value_loss" in record["error"]
    assert not (tmp_path / "nan" / "model.pt").exists()


# --- Optuna: ask/tell resume, pruning -----------------------------------------------------

SPACE = {"learning_rate": {"low": 1e-4, "high": 1e-1, "log": True}, "arch": {"values": ["cnn", "lstm"]}}


def _spaces():
    return make_sweep(strategy="tpe", trials=4, space=SPACE).space


def _ask(journal, slot, index, spaces=None):
    return search.ask(spaces or _spaces(), "maximize", 0, 2, "s", journal, slot, index)


def _completed(value):
    return [{"seed": 0, "status": "completed", "objective": value, "error": None}]


def test_tpe_resumes_from_the_journal_without_repeating_a_trial(tmp_path):
    journal = tmp_path / "optuna.journal"
    first = [_ask(journal, f"r000-00{i}", i) for i in range(2)]
    assert first[0]["params"] != first[1]["params"]
    for proposal, value in zip(first, [0.3, 0.7]):
        told = search.tell("s", journal, "maximize", proposal, _completed(value))
        assert told["status"] == "completed"
    # a crash after the journal got round 1's trial but before its proposal file: re-asking
    # the slot (in a new process: a fresh study object) returns the same trial
    second = _ask(journal, "r001-000", 2)
    again = _ask(journal, "r001-000", 2)
    assert again == second
    # telling twice is a no-op; the journal keeps every finished trial
    search.tell("s", journal, "maximize", first[0], _completed(0.9))
    study = search.open_study(journal, "s", "maximize")
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2]
    assert [t.value for t in trials[:2]] == [0.3, 0.7]
    assert [t.user_attrs["slot"] for t in trials] == ["r000-000", "r000-001", "r001-000"]
    assert trials[2].params == second["params"]
    failed = search.tell(
        "s", journal, "maximize", second, [{"seed": 0, "status": "failed", "objective": None, "error": "boom"}]
    )
    assert failed["status"] == "failed"
    frozen = search.open_study(journal, "s", "maximize").get_trials()[2]
    assert frozen.state.name == "FAIL" and frozen.value is None
    # the space changed under an asked slot: a clear error, not silently mixed trials
    other = make_sweep(strategy="tpe", trials=4, space={"learning_rate": {"low": 1e-3, "high": 1e-2}}).space
    with pytest.raises(UserError, match="asked before with another search space"):
        _ask(journal, "r000-000", 0, other)


def test_median_pruner_stops_a_trial_below_the_median(tmp_path):
    journal = tmp_path / "optuna.journal"
    pruner = {"kind": "median", "interval": 100, "startup_trials": 2, "warmup_reports": 0, "reduction_factor": 3}
    study = search.open_study(journal, "s", "maximize", pruner)
    for good in (1.0, 2.0):  # two finished trials with intermediate values at steps 1..3
        proposal = _ask(journal, f"r000-00{int(good)}", int(good))
        hook = search.Pruning(study, proposal["optuna_trial_id"], 100, reporter=True)
        for step in range(1, 4):
            assert hook({"agent_steps": 100 * step, "reward_per_step": good}) is False
        search.tell("s", journal, "maximize", proposal, _completed(good))
    poor = _ask(journal, "r001-000", 3)
    hook = search.Pruning(study, poor["optuna_trial_id"], 100, reporter=True)
    assert hook({"agent_steps": 50, "reward_per_step": 0.0}) is False  # between reports: nothing reported
    assert hook({"agent_steps": 100, "reward_per_step": 0.1}) is True  # mean of 0.0 and 0.1 < median 1.5
    assert hook.reports == [{"step": 1, "agent_steps": 100, "value": pytest.approx(0.05)}]
    # another seed's run of the same trial stops at its next report too
    follower = search.Pruning(study, poor["optuna_trial_id"], 100, reporter=False)
    assert follower({"agent_steps": 100, "reward_per_step": 5.0}) is True


def test_pruned_run_writes_no_model(tmp_path):
    base = TrainConfig(mission="cogs.tiny", steps=256, hyperparameters=PPOConfig(num_envs=2, rollout_steps=16))
    calls = []

    def stop_after_two(row):
        calls.append(row["agent_steps"])
        return len(calls) == 2

    stop_after_two.pruned_at = None
    stop_after_two.reports = []
    record = sweep_trials.run_trial(base, tmp_path / "p", ["cogs.tiny"], 2, 0, "mean", [], "p", pruning=stop_after_two)
    assert record["status"] == "pruned" and record["objective"] is None
    assert calls == [64, 128] and not (tmp_path / "p" / "model.pt").exists()


# --- summaries ------------------------------------------------------------------------------


def test_importance_matches_scipy():
    rng = np.random.default_rng(0)
    lr = rng.uniform(0, 1, 12)
    arch = np.array(["cnn", "lstm"] * 6)
    y = 2 * lr + (arch == "lstm") * 0.5 + rng.normal(0, 0.1, 12)
    table = pd.DataFrame({"trial": [f"t{i}" for i in range(12)], "status": "completed", "objective": y,
                          "param.learning_rate": lr, "param.arch": arch, "param.gamma": 0.99})  # fmt: skip
    table.loc[0, "status"] = "failed"  # excluded
    result = selection.importance(table).set_index("parameter")
    done = table[table["status"] == "completed"]
    expected_rho = abs(stats.spearmanr(done["param.learning_rate"], done["objective"]).statistic)
    assert result.loc["learning_rate", "importance"] == pytest.approx(expected_rho)
    h = stats.kruskal(*(done["objective"][done["param.arch"] == a] for a in ("cnn", "lstm"))).statistic
    assert result.loc["arch", "importance"] == pytest.approx(h / (len(done) - 1))
    assert math.isnan(result.loc["gamma", "importance"])  # never varied


def _frame(label, scores, missions=("m",)):
    rows = []
    for mission in missions:
        for episode, score in enumerate(scores):
            for agent in range(2):
                rows.append({"policy": label, "mission": mission, "episode": episode, "seed": episode_seed(0, episode),
                             "agent": agent, "reward": score, "success": score > 0.5})  # fmt: skip
    return pd.DataFrame(rows)


def test_best_trial_is_chosen_on_reevaluation_with_uncertainty():
    rng = np.random.default_rng(1)
    strong = _frame("a", rng.normal(1.0, 0.1, 40))
    weak = _frame("b", rng.normal(0.5, 0.1, 40))
    close = _frame("c", rng.normal(0.98, 0.1, 40))
    table, choice = selection.select_best({"b": weak, "a": strong}, "mean", "maximize", 0.95, 2000, 0)
    assert list(table["trial"]) == ["a", "b"] and choice["trial"] == "a"
    assert choice["separated"] and choice["poi_vs_runner_up"] > 0.95
    assert choice["ci_low"] < choice["objective"] < choice["ci_high"]
    _, tight = selection.select_best({"a": strong, "c": close}, "mean", "maximize", 0.95, 2000, 0)
    assert not tight["separated"] and 0.3 < tight["poi_vs_runner_up"] < 0.8
    _, low = selection.select_best({"a": strong, "b": weak}, "mean", "minimize", 0.95, 2000, 0)
    assert low["trial"] == "b" and low["poi_vs_runner_up"] > 0.95


def test_objective_metrics():
    frame = pd.concat([_frame("x", [0.0, 1.0, 1.0, 0.0], missions=("m1",)), _frame("x", [2.0, 2.0], missions=("m2",))])
    assert sweep_trials.objective(frame, "mean", "x").point == pytest.approx((0.5 + 2.0) / 2)  # missions weigh equally
    assert sweep_trials.objective(frame, "success_rate", "x").point == pytest.approx((0.5 + 1.0) / 2)
    assert sweep_trials.objective(frame, "median", "x").point == pytest.approx(1.0)


def test_sweep_cli_errors_are_one_line(daf):
    config = str(REPO / "config/config.yaml")
    result = daf("sweep", "trials", "--config", config, "--sweep", "nope")
    assert result.returncode == 2
    assert result.stderr.strip() == "daf: error: unknown sweep 'nope'; valid sweeps: ppo_lr"
    result = daf("sweep", "trials", "--config", config, "--sweep", "ppo_lr", "--json")
    assert result.returncode == 0
    assert [row["trial"] for row in json.loads(result.stdout)][:5] == [
        "r000-000",
        "r000-001",
        "r000-002",
        "r000-003",
        "r001-000",
    ]
    flags = ["--base", "{}", "--missions", "cogs.tiny", "--episodes", "1", "--eval-seed", "0", "--metric", "mean"]
    bad = daf("sweep", "run", "--trial", "t0", "--seed", "0", "--params", "{lr: 1", *flags, "--out", "/tmp/daf-bad-run")
    assert bad.returncode == 2 and bad.stderr.startswith("daf: error: --params is not valid JSON")
    assert not Path("/tmp/daf-bad-run/run.json").exists()


def test_vor_objective_plays_every_scenario(tmp_path):
    base = TrainConfig(mission="cogs.tiny", steps=64, hyperparameters=PPOConfig(num_envs=2, rollout_steps=16))
    record = sweep_trials.run_trial(base, tmp_path / "v", ["cogs.tiny"], 2, 0, "vor", [("random", "random")], "cand")
    assert record["status"] == "completed", record.get("traceback")
    frame = pd.read_parquet(tmp_path / "v" / "evals.parquet")
    assert sorted(frame["scenario"].unique()) == ["k0", "k1", "k2"]  # cogs.tiny has 2 agents
    counts = frame[frame["policy"] == "cand"].groupby("scenario")["agent"].count().to_dict()
    assert counts == {"k1": 2, "k2": 4}  # k candidate agents in each of 2 episodes
    expected = _vor_by_hand(frame, "cand")
    assert record["objective"] == pytest.approx(expected)
    table, choice = selection.select_best({"a": frame.assign(policy=frame["policy"].replace("cand", "a"))}, "vor",
                                      "maximize", 0.95, 200, 0)  # fmt: skip
    assert choice["objective"] == pytest.approx(expected) and "runner_up" not in choice


def _vor_by_hand(frame, candidate):
    """VOR straight from the rows (cogames metta_alo.scoring), without daf.stats.vor: per mission,
    the replacement mean is the mean over the k0 episodes of the all-agent mean reward; mean_k
    is the mean over scenario k's episodes of the mean reward of the candidate's k agents;
    VOR = sum_k(mean_k * k * episodes_k) / sum_k(k * episodes_k) - replacement mean. Missions
    weigh equally."""
    vors = []
    for _, rows in frame.groupby("mission"):
        replacement = rows[rows["scenario"] == "k0"].groupby("episode")["reward"].mean().mean()
        total = weight = 0.0
        for scenario, part in rows[rows["scenario"] != "k0"].groupby("scenario"):
            k = int(scenario.removeprefix("k"))
            mine = part[part["policy"] == candidate].groupby("episode")["reward"]
            assert (mine.size() == k).all(), scenario
            total += mine.mean().sum() * k
            weight += k * mine.ngroups
        vors.append(total / weight - replacement)
    return float(np.mean(vors))


def _scenario_frame(label, rewards, bonus=0.0):
    """Rows of scenario tables from {mission: {k: [[reward of agent 0, agent 1, ...] per episode]}};
    agents 0..k-1 are the candidate `label` (getting `bonus` more), the rest `r`."""
    rows = []
    for mission, scenarios in rewards.items():
        for k, episodes in scenarios.items():
            for episode, agents in enumerate(episodes):
                for agent, reward in enumerate(agents):
                    mine = agent < k
                    rows.append({"policy": label if mine else "r", "mission": mission, "scenario": f"k{k}",
                                 "episode": episode, "seed": episode_seed(0, episode), "agent": agent,
                                 "reward": reward + (bonus if mine else 0.0), "success": False})  # fmt: skip
    return pd.DataFrame(rows)


# Two missions, two episodes per scenario. "duo" (2 agents): the replacement's k0 episodes
# average (1+3)/2 = 2 and (0+2)/2 = 1, so its mean is 1.5; with k = 1 the candidate's agent
# gets 4 and 2 (mean_1 = 3; the all-agent means would be 2 and 2); with k = 2 its agents
# average 6 and 4 (mean_2 = 5). VOR = (3*1*2 + 5*2*2) / (1*2 + 2*2) - 1.5 = 26/6 - 1.5 = 17/6
# (an unweighted mean of mean_k would give 2.5). "solo" (1 agent): replacement 1, candidate
# (2+4)/2 = 3, VOR 2. Overall, missions weighing equally: (17/6 + 2) / 2 = 29/12.
HAND_SCENARIOS = {
    "duo": {0: [[1, 3], [0, 2]], 1: [[4, 0], [2, 2]], 2: [[5, 7], [4, 4]]},
    "solo": {0: [[1], [1]], 1: [[2], [4]]},
}


def test_vor_objective_is_value_over_replacement_by_hand():
    frame = _scenario_frame("t", HAND_SCENARIOS)
    assert _vor_by_hand(frame, "t") == pytest.approx(29 / 12)  # the helper agrees with the hand count
    estimate = sweep_trials.objective(frame, "vor", "t", reps=500)
    assert estimate.point == pytest.approx(29 / 12)
    assert estimate.low <= estimate.point <= estimate.high
    # a trial whose agents all get 1 more: every mean_k rises by 1, so VOR is 29/12 + 1 = 41/12
    better = _scenario_frame("u", HAND_SCENARIOS, bonus=1.0)
    table, choice = selection.select_best({"t": frame, "u": better}, "vor", "maximize", 0.95, 500, 0)
    assert table["trial"].tolist() == ["u", "t"]
    assert table["objective"].tolist() == pytest.approx([41 / 12, 29 / 12])
    assert choice["trial"] == "u" and choice["objective"] == pytest.approx(41 / 12) and choice["runner_up"] == "t"


def test_objective_ci_is_run_level_with_several_seeds():
    """A trial trained with seeds whose networks differ (mean 0, 10, 20) gets a CI over runs
    spanning most of that spread; the same episodes read as one network give a narrow one."""
    from daf.sweeps.trials import objective

    rng = np.random.default_rng(0)
    rows = []
    for run, centre in enumerate((0.0, 10.0, 20.0)):
        for episode in range(40):
            rows.append({"policy": "t", "mission": "m", "run": run, "episode": episode, "seed": episode,
                         "agent": 0, "reward": centre + rng.normal(0, 0.5), "success": False})  # fmt: skip
    frame = pd.DataFrame(rows)
    runs = objective(frame, "mean", "t", reps=4000)
    pooled = objective(frame.assign(run=0, episode=frame["run"] * 40 + frame["episode"]), "mean", "t", reps=4000)
    assert runs.point == pytest.approx(pooled.point) == pytest.approx(frame["reward"].mean())
    assert runs.high - runs.low > 12 and pooled.high - pooled.low < 5


def test_a_diverged_run_exits_1_with_one_line(tmp_path, monkeypatch, capsys):
    """Diverged training is a failed run, not bad input: one clear line and exit status 1."""
    from daf.cli import main

    real = ppo._learn
    monkeypatch.setattr(ppo, "_learn", lambda *a, **k: {**real(*a, **k), "policy_loss": float("inf")})
    args = ["train", "--mission", "cogs.tiny", "--steps", "128", "--seed", "0", "--out", str(tmp_path / "run"),
            "--workers", "0", "--set", "num_envs=2", "--set", "rollout_steps=16", "--no-progress"]  # fmt: skip
    assert main(args) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("daf: error: training diverged at update 1") and "policy_loss" in error[-1]
    assert not (tmp_path / "run" / "model.pt").exists()


# --- vor against a replacement pool ------------------------------------------------------------

VOR_SWEEP = json.dumps({"policy": "ppo", "strategy": "grid", "space": {"gamma": {"values": [0.9]}},
                        "objective": {"metric": "vor"}})  # fmt: skip
TINY_BASE = json.dumps({"mission": "cogs.tiny", "steps": 64, "hyperparameters": {"num_envs": 2, "rollout_steps": 16}})
RUN_FLAGS = ["sweep", "run", "--trial", "t0", "--seed", "0", "--params", "{}", "--base", TINY_BASE, "--missions",
             "cogs.tiny", "--episodes", "1", "--eval-seed", "0", "--metric", "vor"]  # fmt: skip
BEST_FLAGS = ["sweep", "best", "--sweep-json", VOR_SWEEP, "--name", "s", "--summary", "/no/such/summary.json",
              "--runs", "/no/such/run.json"]  # fmt: skip


@pytest.mark.parametrize("command", [RUN_FLAGS, BEST_FLAGS], ids=["run", "best"])
def test_sweep_commands_keep_every_replacement_and_pair_labels_in_order(command, tmp_path):
    """common.smk passes one --replacement per pool policy (as to `daf evaluate`): all of them
    must arrive, each with its own label and weight."""
    from daf.cli import build_parser

    pool = ["--replacement", "random", "--replacement", "noop", "--replacement-labels", "r,n"]
    args = build_parser().parse_args([*command, *pool, "--replacement-weights", "3,1", "--out", str(tmp_path)])
    assert args.replacement == ["random", "noop"]
    from daf.cli.sweep import replacement_pool

    assert replacement_pool(args, "vor", "t0") == ([("r", "random"), ("n", "noop")], [3.0, 1.0])
    args = build_parser().parse_args([*command, *pool, "--out", str(tmp_path)])
    assert replacement_pool(args, "vor", "t0") == ([("r", "random"), ("n", "noop")], [1.0, 1.0])
    # without labels the SPECs name themselves (as in `daf evaluate`)
    args = build_parser().parse_args([*command, "--replacement", "random", "--out", str(tmp_path)])
    assert replacement_pool(args, "vor", "t0") == ([("random", "random")], [1.0])


@pytest.mark.parametrize(
    "command, flags, message",
    [
        (RUN_FLAGS, ["--replacement", "random", "--replacement", "noop", "--replacement-labels", "r"],
         "--replacement-labels 'r' names 1 policies for 2 --replacement SPECs; give one name per --replacement"),
        (BEST_FLAGS, ["--replacement", "random", "--replacement", "noop", "--replacement-labels", "r,n,x"],
         "--replacement-labels 'r,n,x' names 3 policies for 2 --replacement SPECs; give one name per --replacement"),
        (RUN_FLAGS, [], "the vor metric needs a replacement pool: one --replacement SPEC per policy"),
        (BEST_FLAGS, [], "the vor metric needs a replacement pool: one --replacement SPEC per policy"),
        (RUN_FLAGS, ["--replacement", "random", "--replacement", "noop", "--replacement-weights", "1"],
         "--replacement-weights needs 2 positive numbers, one per --replacement (got '1')"),
        (RUN_FLAGS, ["--replacement", "random", "--replacement", "noop", "--replacement-labels", "r,r"],
         "replacement names must differ from each other and from the trial 't0' (got r, r)"),
        (RUN_FLAGS, ["--replacement", "randm"], "unknown policy 'randm'"),
    ],
)  # fmt: skip
def test_bad_replacement_pools_are_one_line_errors(command, flags, message, tmp_path, capsys):
    """Checked before any training: a bad pool never costs a trial."""
    from daf.cli import main

    assert main([*command, *flags, "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("daf: error: ") and message in error[0], error
    assert not (tmp_path / "out" / "model.pt").exists()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A barely trained cogs.tiny network (2 agents): a candidate for mixed episodes."""
    out = tmp_path_factory.mktemp("tiny") / "m"
    base = TrainConfig(mission="cogs.tiny", steps=64, hyperparameters=PPOConfig(num_envs=2, rollout_steps=16))
    assert sweep_trials.run_trial(base, out, ["cogs.tiny"], 1, 0, "mean", [], "m")["status"] == "completed"
    return out / "model.pt"


def test_vor_pool_weights_are_honoured(tiny_model):
    """cogs.tiny has 2 agents. Weights 1 : 1e-9 give the whole pool's share to `a` in every
    scenario (largest remainder: k0 -> 2 : 0, k1 -> 1 : 0), so the episodes are exactly those
    against `a` alone; equal shares split k0 one agent each."""

    def play(replacement, weights=None):
        return sweep_trials.evaluate_checkpoint(tiny_model, ["cogs.tiny"], 2, 0, "vor", replacement, "cand",
                                         weights=weights, num_envs=2)  # fmt: skip

    pool = [("a", "random"), ("b", "noop")]
    weighted, alone, equal = play(pool, [1.0, 1e-9]), play(pool[:1]), play(pool)
    pd.testing.assert_frame_equal(weighted, alone)
    assert sweep_trials.objective(weighted, "vor", "cand").point == pytest.approx(_vor_by_hand(alone, "cand"))
    assert sweep_trials.objective(equal, "vor", "cand").point == pytest.approx(_vor_by_hand(equal, "cand"))
    k0 = equal[equal["scenario"] == "k0"].groupby(["episode", "policy"]).size().to_dict()
    assert k0 == {(0, "a"): 1, (0, "b"): 1, (1, "a"): 1, (1, "b"): 1}
    with pytest.raises(ValueError, match="2 replacement policies but 1 weights"):
        play(pool, [1.0])


def test_evaluation_runs_num_envs_episodes_in_lockstep(tiny_model, monkeypatch):
    from daf.evaluation import episodes as rollout

    seen, real = [], rollout.run_episodes
    monkeypatch.setattr(rollout, "run_episodes", lambda *a, **k: seen.append(k["num_envs"]) or real(*a, **k))
    sweep_trials.evaluate_checkpoint(tiny_model, ["cogs.tiny"], 3, 0, "mean", [], "cand", num_envs=3)
    sweep_trials.evaluate_checkpoint(tiny_model, ["cogs.tiny"], 2, 0, "vor", [("a", "random")], "cand", num_envs=5)
    assert seen == [3, 5, 5, 5]  # vor: one call per scenario k = 0, 1, 2


def test_sweep_pool_weights_come_from_the_vor_section():
    """A sweep against the study's vor pool plays it with vor.replacement_weights; a sweep's own
    pool of the same policies (any order) keeps each policy's weight; another pool has equal shares."""
    grid = {"policy": "ppo", "strategy": "grid", "space": {"gamma": {"values": [0.9]}}, "objective": {"metric": "vor"}}
    study = validate_study({
        **BASE,
        "policies": {**BASE["policies"], "r": {"spec": "random"}, "n": {"spec": "noop"}},
        "vor": {"candidates": ["ppo"], "replacement": ["r", "n"], "replacement_weights": [3, 1]},
        "sweeps": {"default": grid, "reordered": {**grid, "replacement": ["n", "r"]},
                   "other": {**grid, "replacement": ["r"]}},
    })  # fmt: skip
    assert study.sweep_replacement("default") == ["r", "n"]
    assert study.sweep_replacement_weights("default") == [3.0, 1.0]
    assert study.sweep_replacement_weights("reordered") == [1.0, 3.0]
    assert study.sweep_replacement_weights("other") is None
    unweighted = study.model_copy(update={"vor": study.vor.model_copy(update={"replacement_weights": None})})
    assert unweighted.sweep_replacement_weights("default") is None


def test_summarize_sweep_counts_and_ranks_by_the_mean_over_seeds():
    """The library call behind `daf sweep rank`: a trial is failed if any run failed, pruned if
    any run was pruned, else scored by the mean of its runs; the top k are completed ones."""

    def run(trial, seed, status="completed", objective=None, error=None):
        return {"trial": trial, "seed": seed, "params": {"learning_rate": 0.001}, "status": status,
                "objective": objective, "error": error}  # fmt: skip

    runs = [run("a", 0, objective=1.0), run("a", 1, objective=3.0), run("b", 0, objective=2.5),
            run("b", 1, objective=2.5), run("c", 0, "failed", error="diverged"), run("c", 1, objective=9.0),
            run("d", 0, "pruned"), run("d", 1, objective=8.0)]  # fmt: skip
    spec = make_sweep(strategy="grid", space={"learning_rate": {"values": [0.001]}}, top_k=2)
    table, summary = selection.summarize_sweep(spec, runs)
    objective = table.set_index("trial")["objective"]
    assert objective[["a", "b"]].tolist() == [2.0, 2.5] and objective[["c", "d"]].isna().all()
    assert table.set_index("trial")["status"].to_dict() == {
        "a": "completed", "b": "completed", "c": "failed", "d": "pruned"}  # fmt: skip
    assert summary["top"] == ["b", "a"] and (summary["completed"], summary["failed"], summary["pruned"]) == (2, 1, 1)


def test_trial_settings_name_the_bad_key_of_the_train_settings():
    with pytest.raises(UserError, match=r"^invalid config --base: bogus: unknown key \(valid keys: mission, missions"):
        sweep_space.trial_settings({"mission": "cogs.tiny", "steps": 10, "bogus": 1}, 0, {}, "t1")
    with pytest.raises(UserError, match=r"^--base must be a JSON mapping"):
        sweep_space.trial_settings([1, 2], 0, {}, "t1")
    settings = sweep_space.trial_settings({"mission": "cogs.tiny", "steps": 10}, 7, {"learning_rate": 0.01}, "t1")
    assert settings.seed == 7 and settings.hyperparameters.learning_rate == 0.01

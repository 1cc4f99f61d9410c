"""Sweeps through Snakemake: trials as DAG jobs, failed trials excluded, the best trial as a
policy of the comparison, resume after losing a trial, budget increases that run only the
new trials, TPE rounds that resume from the Optuna journal."""

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_runs import REPO, planned_jobs, run_snakemake

pytestmark = pytest.mark.slow

STUDY = {
    "policies": {
        "random": {"spec": "random"},
        "ppo": {
            "train": {"mission": "cogs.tiny", "steps": 256,
                      "hyperparameters": {"num_envs": 2, "rollout_steps": 16, "update_epochs": 1}},
            "missions": ["cogs.tiny"],
        },
        "tuned": {"spec": "sweep:grid:best", "missions": ["cogs.tiny"]},
        "forager": {  # forage rewards come early: the tpe sweep below has something to prune on
            "train": {"mission": "forage.open", "steps": 512,  # pinned: one trial below gets pruned
                      "hyperparameters": {"num_envs": 2, "rollout_steps": 16, "update_epochs": 1,
                                          "num_minibatches": 8}},
            "missions": ["forage.open"],
        },
    },
    "missions": ["cogs.tiny", "forage.open"],
    "evaluation": {"episodes": 2, "num_envs": 2},
    "compare": {"bootstrap_reps": 200},
    "report": {"replays": False},
    "sweeps": {
        "grid": {
            "policy": "ppo",
            "strategy": "grid",
            # 4096 minibatches cannot be cut from 64 samples: those trials fail
            "space": {"learning_rate": {"values": [0.001, 0.01]}, "num_minibatches": {"values": [1, 4096]}},
            "episodes": 2,
            "top_k": 2,
            "reevaluation_episodes": 3,
        },
        "tpe": {
            "policy": "forager",
            "strategy": "tpe",
            "trials": 4,
            "batch_size": 2,
            "startup_trials": 2,
            "space": {"learning_rate": {"low": 0.0001, "high": 0.1, "log": True}},
            "pruner": {"kind": "median", "interval": 64, "startup_trials": 1, "warmup_reports": 0},
            "episodes": 2,
            "top_k": 1,
            "reevaluation_episodes": 2,
        },
    },
    "variants": {"cogs": {"missions": ["cogs.tiny", "cogs.small"], "policies": ["random", "ppo"]}},
}  # fmt: skip


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, *args, profile=str(REPO / "profiles/local"), timeout=900)


def planned(workdir: Path, *targets: str) -> set[tuple]:
    """(rule, wildcards) of every job a dry run would execute."""
    return planned_jobs(snakemake(workdir, "-n", *targets))


def rules(jobs: set[tuple], name: str) -> set[str]:
    return {w for r, w in jobs if r == name}


def write_study(workdir: Path, study: dict) -> None:
    (workdir / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False))


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sweep")
    write_study(workdir, STUDY)
    result = snakemake(workdir, "-c2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir


def test_grid_trials_ran_and_failures_are_excluded(swept):
    table = pd.read_parquet(swept / "results/sweeps/grid/trials.parquet")
    assert len(table) == 4
    failed = table[table["status"] == "failed"]
    assert sorted(failed["param.num_minibatches"]) == [4096, 4096]
    assert failed["objective"].isna().all()
    assert failed["error"].str.contains("num_minibatches \\(4096\\)").all()
    completed = table[table["status"] == "completed"]
    assert sorted(completed["param.learning_rate"]) == [0.001, 0.01]
    for trial in table["trial"]:  # each trial trained with its own hyperparameters
        sidecar = swept / f"results/sweeps/grid/trials/{trial}/seed0/model.json"
        row = table[table["trial"] == trial].iloc[0]
        if row["status"] == "completed":
            assert json.loads(sidecar.read_text())["hyperparameters"]["learning_rate"] == row["param.learning_rate"]
    best = json.loads((swept / "results/sweeps/grid/best.json").read_text())
    assert best["trial"] in set(completed["trial"]) and best["params"]["num_minibatches"] == 1
    top = pd.read_parquet(swept / "results/sweeps/grid/top.parquet")
    assert set(top["trial"]) == set(completed["trial"])  # top-2 re-evaluated, failed ones never
    source = Path(swept / best["source_checkpoint"])
    assert (swept / "results/sweeps/grid/best/model.pt").read_bytes() == source.read_bytes()


def test_best_trial_is_a_policy_of_the_comparison(swept):
    board = pd.read_parquet(swept / "results/comparison/leaderboard.parquet")
    assert "tuned" in set(board["policy"])
    html = " ".join((swept / "results/report/index.html").read_text().split())
    assert "Hyperparameter sweeps" in html and "4 trials (2 completed, 0 pruned, 2 failed)" in html
    assert "sweep:grid:best" in html and "Mission variants" in html
    variants = pd.read_parquet(swept / "results/variants/cogs.parquet")
    assert sorted(zip(variants["policy"], variants["mission"])) == [
        ("ppo", "cogs.small"), ("ppo", "cogs.tiny"), ("random", "cogs.small"), ("random", "cogs.tiny")]  # fmt: skip


def test_tpe_rounds_are_in_the_journal(swept):
    from daf.sweeps.search import open_study

    study = open_study(swept / "results/sweeps/tpe/optuna.journal", "tpe", "maximize")
    trials = study.get_trials()
    assert sorted(t.user_attrs["slot"] for t in trials) == ["r000-000", "r000-001", "r001-000", "r001-001"]
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert all(t.intermediate_values for t in trials)  # the first seed reported to the pruner
    table = pd.read_parquet(swept / "results/sweeps/tpe/trials.parquet")
    for t in trials:
        row = table[table["trial"] == t.user_attrs["slot"]].iloc[0]
        assert row["param.learning_rate"] == t.params["learning_rate"]
        assert (row["status"] == "pruned") == (t.state.name == "PRUNED")


def test_finished_sweep_has_nothing_to_do(swept):
    assert planned(swept) == set()


def test_a_lost_trial_reruns_alone(swept):
    table = pd.read_parquet(swept / "results/sweeps/grid/trials.parquet")
    lost = table[table["status"] == "completed"]["trial"].iloc[0]
    run_dir = swept / f"results/sweeps/grid/trials/{lost}/seed0"
    # the sweep was interrupted while this trial trained: no run.json, nothing downstream yet
    for path in (run_dir / "run.json", "summary.json", "best.json", "best/model.pt"):
        (swept / "results/sweeps/grid" / path).unlink()
    (swept / "results/report/index.html").unlink()
    jobs = planned(swept)
    assert rules(jobs, "sweep_run") == {f"sweep=grid, trial={lost}, seed=0"}
    assert not rules(jobs, "sweep_run_tpe") and not rules(jobs, "sweep_ask") and not rules(jobs, "train")
    assert rules(jobs, "sweep_summary") == {"sweep=grid"}
    result = snakemake(swept, "-c2", "results/sweeps/grid/summary.json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"


def test_larger_budgets_run_only_new_trials(swept, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(swept, workdir, symlinks=True)
    before = {p.parent.name: json.loads(p.read_text())["params"]
              for p in (workdir / "results/sweeps/tpe/trials").glob("*/proposal.json")}  # fmt: skip
    study = json.loads(json.dumps(STUDY))
    study["sweeps"]["tpe"]["trials"] = 6
    study["sweeps"]["grid"]["space"]["learning_rate"]["values"].append(0.003)
    write_study(workdir, study)
    jobs = planned(workdir)
    assert rules(jobs, "sweep_ask") == {"sweep=tpe, trial=r002-000", "sweep=tpe, trial=r002-001"}
    assert rules(jobs, "sweep_run_tpe") == {"sweep=tpe, trial=r002-000, seed=0", "sweep=tpe, trial=r002-001, seed=0"}
    new_grid = {w for w in rules(jobs, "sweep_run")}
    assert len(new_grid) == 2 and not rules(jobs, "train")
    result = snakemake(workdir, "-c2", "results/sweeps/tpe/summary.json")
    assert result.returncode == 0, result.stderr[-3000:]
    after = {p.parent.name: json.loads(p.read_text())["params"]
             for p in (workdir / "results/sweeps/tpe/trials").glob("*/proposal.json")}  # fmt: skip
    assert len(after) == 6 and {k: after[k] for k in before} == before
    from daf.sweeps.search import open_study

    trials = open_study(workdir / "results/sweeps/tpe/optuna.journal", "tpe", "maximize").get_trials()
    assert len(trials) == 6  # resumed from the journal: nothing asked twice


def test_tpe_sweep_reruns_identically_whatever_the_schedule(swept, tmp_path):
    """The fixture ran with 2 cores (trials of a round in parallel); one core gives the same sweep."""
    write_study(tmp_path, STUDY)
    result = snakemake(tmp_path, "-c1", "results/sweeps/tpe/summary.json")
    assert result.returncode == 0, result.stderr[-3000:]
    columns = ["trial", "status", "objective", "param.learning_rate"]
    first = pd.read_parquet(swept / "results/sweeps/tpe/trials.parquet")[columns]
    again = pd.read_parquet(tmp_path / "results/sweeps/tpe/trials.parquet")[columns]
    assert (first["status"] == "pruned").any() and (first["status"] == "completed").any()
    pd.testing.assert_frame_equal(first, again)


QUAD_MISSION = """
from daf.missions.builders import forage_config

DESCRIPTION = "4 agents on a small field: room for a replacement pool of two"
SUCCESS = {"stat": "food.gained", "threshold": 4}


def get_config():
    return forage_config(label="quad", num_agents=4, width=9, height=9, bushes=4, max_steps=40)
"""


def test_vor_sweep_against_a_weighted_replacement_pool(tmp_path):
    """A vor sweep against the study's pool random : noop = 3 : 1 on a 4-agent mission: every
    scenario k splits the other 4 - k agents by largest remainder of those weights (k0 3:1,
    k1 2:1, k2 2:0, k3 1:0; equal shares would give k0 2:2 and k2 1:1), in the trial's runs
    and in the best trial's re-evaluation, with the study's evaluation.num_envs."""
    from daf.stats.vor import vor
    from daf.sweeps.space import trial_id

    mission = tmp_path / "quad.py"
    mission.write_text(QUAD_MISSION)
    study = {
        "policies": {
            "random": {"spec": "random"},
            "noop": {"spec": "noop"},
            "ppo": {"train": {"mission": str(mission), "steps": 128,
                              "hyperparameters": {"num_envs": 2, "rollout_steps": 16, "update_epochs": 1}}},
        },
        "missions": [str(mission)],
        "evaluation": {"episodes": 2, "num_envs": 3},
        "compare": {"bootstrap_reps": 200},
        "vor": {"candidates": ["ppo"], "replacement": ["random", "noop"], "replacement_weights": [3, 1]},
        "sweeps": {"pool": {"policy": "ppo", "strategy": "grid", "space": {"learning_rate": {"values": [0.001]}},
                            "objective": {"metric": "vor"}, "episodes": 2, "top_k": 1, "reevaluation_episodes": 2}},
    }  # fmt: skip
    write_study(tmp_path, study)
    result = snakemake(tmp_path, "-c2", "results/sweeps/pool/best.json")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    trial = trial_id({"learning_rate": 0.001})
    run = json.loads((tmp_path / f"results/sweeps/pool/trials/{trial}/seed0/run.json").read_text())
    assert run["status"] == "completed", run.get("error")
    assert run["num_envs"] == 3
    assert run["replacement"] == [{"label": "random", "spec": "random", "weight": 3.0},
                                  {"label": "noop", "spec": "noop", "weight": 1.0}]  # fmt: skip
    expected = {
        ("k0", "noop"): 1, ("k0", "random"): 3,
        ("k1", "noop"): 1, ("k1", "random"): 2, ("k1", trial): 1,
        ("k2", "random"): 2, ("k2", trial): 2,
        ("k3", "random"): 1, ("k3", trial): 3,
        ("k4", trial): 4,
    }  # fmt: skip
    evals = pd.read_parquet(tmp_path / run["evals"])
    for episode, part in evals.groupby("episode"):
        assert part.groupby(["scenario", "policy"]).size().to_dict() == expected, episode
    assert run["objective"] == pytest.approx(vor(evals, trial, reps=200)["vor"])

    best = json.loads((tmp_path / "results/sweeps/pool/best.json").read_text())
    assert best["trial"] == trial
    again = pd.read_parquet(tmp_path / "results/sweeps/pool/reevaluations.parquet")
    assert sorted(again["episode"].unique()) == [0, 1]
    for episode, part in again.groupby("episode"):
        counts = part.groupby(["scenario", "policy"]).size().to_dict()
        assert counts == {(f"s0-{k}", p): n for (k, p), n in expected.items()}, episode

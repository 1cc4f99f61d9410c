"""Tracking round-trips: `daf train` and the report's study logging to a local MLflow file
store and to W&B in offline mode (nothing reaches the network), read back and compared with
DAF's own files."""

import json
import math
import os
import sys

import pandas as pd
import pytest
from helpers import run_daf
from wandb_offline import exit_code, history, run_info

from daf.errors import UserError
from daf.report.tracking import leaderboard_metrics, log_study, metric_name
from daf.tracking import Tracker, TrackingTargets

TRAIN = ["train", "--mission", "cogs.tiny", "--steps", "192", "--seed", "4", "--set", "num_envs=2",
         "--set", "rollout_steps=16", "--device", "cpu", "--no-progress"]  # fmt: skip


def mlflow_runs(uri):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("daf")
    return client, client.search_runs([experiment.experiment_id])


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.delenv("DAF_TRACKING", raising=False)
    monkeypatch.delenv("WANDB_SERVICE", raising=False)
    yield
    if "wandb" in sys.modules and sys.modules["wandb"] is not None:
        sys.modules["wandb"].teardown()  # stop the service this process started ...
    os.environ.pop("WANDB_SERVICE", None)  # ... so that later subprocesses start their own


def test_training_scalars_reach_mlflow_and_wandb(tmp_path):
    out, uri = tmp_path / "ppo" / "seed4", str(tmp_path / "mlruns")
    result = run_daf(*TRAIN, "--out", str(out), "--mlflow-uri", uri, "--wandb-project", "daf-test")
    assert result.returncode == 0, result.stderr
    log = pd.read_parquet(out / "train_log.parquet")
    client, (run,) = mlflow_runs(uri)
    assert run.info.run_name == "ppo-seed4" and run.info.status == "FINISHED"
    assert run.data.params["seed"] == "4" and json.loads(run.data.params["hyperparameters.num_envs"]) == 2
    for name in ("policy_loss", "entropy", "learning_rate"):
        logged = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, name)]
        assert sorted(logged) == list(zip(log["agent_steps"], log[name])), name
    (wandb_dir,) = (out / "wandb").glob("offline-run-*")
    rows = history(wandb_dir)
    assert [r["_step"] for r in rows] == list(log["agent_steps"])
    assert [r["policy_loss"] for r in rows] == pytest.approx(list(log["policy_loss"]), rel=1e-12)
    info = run_info(wandb_dir)
    assert info["name"] == "ppo-seed4" and info["project"] == "daf-test" and info["config"]["steps"] == 192
    assert exit_code(wandb_dir) == 0
    assert all(not math.isnan(v) for r in rows for v in r.values() if isinstance(v, float))  # NaNs are left out


def test_the_workflow_passes_targets_in_the_environment(tmp_path):
    uri = str(tmp_path / "mlruns")
    env = {"DAF_TRACKING": TrackingTargets(mlflow_uri=uri).to_env()}
    result = run_daf(*TRAIN, "--out", str(tmp_path / "run"), env=env)
    assert result.returncode == 0, result.stderr
    _, (run,) = mlflow_runs(uri)
    assert run.info.status == "FINISHED" and not (tmp_path / "run/wandb").exists()
    bad = run_daf(*TRAIN, "--out", str(tmp_path / "bad"), env={"DAF_TRACKING": "{not json"})
    assert bad.returncode == 2 and "$DAF_TRACKING is not a tracking description" in bad.stderr


def test_the_study_leaderboard_and_report_are_logged(tmp_path):
    board = pd.DataFrame({
        "policy": ["random", "a+b"], "mission": ["ALL", "cogs.tiny"], "mean": [0.5, float("nan")],
        "ci_low": [0.1, 1.0], "ci_high": [0.9, 2.0], "iqm": [0.4, 1.5], "success_rate": [0.0, 1.0],
    })  # fmt: skip
    assert leaderboard_metrics(board) == {
        "ALL/random/mean": 0.5, "ALL/random/ci_low": 0.1, "ALL/random/ci_high": 0.9, "ALL/random/iqm": 0.4,
        "ALL/random/success_rate": 0.0, "cogs.tiny/a_b/ci_low": 1.0, "cogs.tiny/a_b/ci_high": 2.0,
        "cogs.tiny/a_b/iqm": 1.5, "cogs.tiny/a_b/success_rate": 1.0,
    }  # fmt: skip
    assert metric_name("m", "p+q", "mean") == "m/p_q/mean"
    (tmp_path / "comparison").mkdir()
    board.to_parquet(tmp_path / "comparison/leaderboard.parquet")
    config = tmp_path / "study.yaml"
    config.write_text("policies: {random: {spec: random}}\nmissions: [cogs.tiny]\nreport: {title: Tiny}\n")
    report = tmp_path / "report/index.html"
    report.parent.mkdir()
    report.write_text("<html>report</html>")
    uri = str(tmp_path / "mlruns")
    targets = TrackingTargets(mlflow_uri=uri, wandb_project="daf-test", wandb_dir=str(tmp_path / "wb"))
    log_study(targets, str(config), str(tmp_path / "comparison"), report)
    client, (run,) = mlflow_runs(uri)
    assert run.info.run_name == "report: Tiny" and run.data.metrics["ALL/random/mean"] == 0.5
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == ["index.html", "leaderboard.json"]
    (wandb_dir,) = (tmp_path / "wb/wandb").glob("offline-run-*")
    rows = history(wandb_dir)
    (row,) = rows  # one step: the metrics and the table
    assert row["ALL/random/mean"] == 0.5 and row["leaderboard/_type"] == "table-file"
    table = json.loads((wandb_dir / "files" / row["leaderboard/path"]).read_text())
    assert table["columns"] == list(board.columns) and [r[0] for r in table["data"]] == ["random", "a+b"]
    assert (wandb_dir / "files/index.html").read_text() == "<html>report</html>"


def test_a_failed_run_is_marked_failed_and_a_missing_extra_is_one_line(tmp_path, monkeypatch):
    uri = str(tmp_path / "mlruns")
    with pytest.raises(RuntimeError), Tracker(TrackingTargets(mlflow_uri=uri), "r", {}, tmp_path):
        raise RuntimeError("diverged")
    _, (run,) = mlflow_runs(uri)
    assert run.info.status == "FAILED"
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if the extra were not installed
    with pytest.raises(UserError, match=r"tracking to wandb needs the wandb extra: pip install .*'\.\[wandb\]'"):
        Tracker(TrackingTargets(wandb_project="p"), "r", {}, tmp_path)
    with pytest.raises(UserError, match="unknown W&B mode 'loud'"):
        Tracker(TrackingTargets(wandb_project="p", wandb_mode="loud"), "r", {}, tmp_path)

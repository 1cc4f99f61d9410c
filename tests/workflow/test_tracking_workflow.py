"""`tracking: {mlflow, wandb}` in a study: the train jobs log every update and the report job
the leaderboard and the report, and changing where they log reruns no training or evaluation."""

import json

import pytest
import yaml
from wandb_offline import history
from workflow_runs import planned_jobs, run_snakemake, tiny_policies

pytestmark = pytest.mark.slow


def test_a_study_logs_training_and_results(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # to read the file store back here
    monkeypatch.delenv("WANDB_SERVICE", raising=False)  # the jobs start their own W&B service
    mlruns = tmp_path / "mlruns"
    config = {
        "policies": tiny_policies(steps=192, seed=3),
        "missions": ["cogs.tiny"],
        "evaluation": {"episodes": 2, "seed": 1, "num_envs": 2, "chunk": 2},
        "compare": {"bootstrap_reps": 200, "normalization": {"low": "random", "high": "baseline"}},
        "report": {"title": "tracked", "replays": False},
        "tracking": {"mlflow": {"uri": str(mlruns)}, "wandb": {"project": "daf-test"}},
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "-c2")
    assert result.returncode == 0, result.stderr[-3000:]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=str(mlruns))
    runs = client.search_runs([client.get_experiment_by_name("daf").experiment_id])
    by_name = {r.info.run_name: r for r in runs}
    assert set(by_name) == {"ppo-seed3", "report: tracked"}
    assert all(r.info.status == "FINISHED" for r in runs)
    losses = client.get_metric_history(by_name["ppo-seed3"].info.run_id, "policy_loss")
    assert len(losses) == 192 // (2 * 16 * 2)  # one per update: 2 envs x 16 steps x cogs.tiny's 2 agents
    board = by_name["report: tracked"].data.metrics
    assert board["cogs.tiny/baseline/mean"] > board["cogs.tiny/random/mean"]
    assert "index.html" in [a.path for a in client.list_artifacts(by_name["report: tracked"].info.run_id)]
    (train_wandb,) = (tmp_path / "results/checkpoints/ppo/seed3/wandb").glob("offline-run-*")
    assert len(history(train_wandb)) == len(losses)
    assert list((tmp_path / "results/logs/wandb/wandb").glob("offline-run-*"))

    config["tracking"] = {"mlflow": {"uri": str(tmp_path / "elsewhere")}}  # another target
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
    rules = {rule for rule, _ in planned_jobs(run_snakemake(tmp_path, "-n"))}
    assert rules == {"report", "all"}, json.dumps(sorted(rules))  # only the report, which shows the config

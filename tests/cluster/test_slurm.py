"""Snakemake against a real SLURM: a single-node cluster on localhost (scripts/local_slurm.py).

Needs root (daemons, apt). Skipped - loudly - when not root or when SLURM cannot be installed.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import SUPPORT
from workflow_runs import REPO, snakemake_command

SCRIPT = [sys.executable, str(REPO / "scripts/local_slurm.py")]
pytestmark = [pytest.mark.slow, pytest.mark.slurm]


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0:
        pytest.skip("LOUD SKIP: the SLURM integration tests need root (they start slurmctld/slurmd/munged)")
    if subprocess.run([*SCRIPT, "install"], capture_output=True, text=True).returncode != 0:
        pytest.skip("LOUD SKIP: SLURM could not be installed with apt-get (slurmctld slurmd slurm-client munge)")
    up = subprocess.run([*SCRIPT, "up"], capture_output=True, text=True, timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    yield
    subprocess.run([*SCRIPT, "down"], capture_output=True, timeout=60)


def snakemake(workdir: Path, *args: str, env=None, timeout: int = 900, profile: str | None = None):
    """Run Snakemake with the SLURM profile, wrapped in `timeout -k` so a hang cannot stall CI."""
    profile = profile or str(REPO / "profiles/slurm")
    cmd = ["timeout", "-k", "10", str(timeout), *snakemake_command(workdir, *args, profile=profile)]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout + 30)


def job_records() -> list[dict]:
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True).stdout
    records = []
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if fields.get("JobId"):
            records.append(fields)
    return records


def study(root: Path, config: dict) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "study.yaml").write_text(yaml.safe_dump(config))
    return root


def tiny_config() -> dict:
    config = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())
    config["policies"]["ppo_b"]["train"]["nproc_per_node"] = 1  # the local node has one (fake) GPU
    config["evaluation"]["chunk"] = config["evaluation"]["episodes"]  # one evaluation job per run x mission
    config["crossplay"] = {"policies": ["random", "ppo_a"], "missions": ["cogs.tiny"], "episodes": 2}  # 4 cells
    return config


def test_study_runs_on_slurm_with_gpu_placement(cluster, tmp_path):
    """Training on the GPU partition, one job per run; every short CPU job (evaluations, curves,
    VOR scenarios, cross-play cells) in an allocation shared with another: 19 of them, so
    ceil(19 / 2) = 10 submissions with DAF_SLURM_GROUP_SIZE=2 instead of 19."""
    before = {r["JobId"] for r in job_records()}
    workdir = study(tmp_path / "study", tiny_config())
    result = snakemake(workdir, env={"DAF_SLURM_GROUP_SIZE": "2"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (workdir / "results/report/index.html").is_file()
    jobs = [r for r in job_records() if r["JobId"] not in before]
    train = [job for job in jobs if job["Comment"].startswith("rule_train_")]
    groups = [job for job in jobs if job["Comment"].startswith("rule_short_")]
    # merges and aggregates run locally; nothing else was submitted
    assert len(train) + len(groups) == len(jobs), [job["Comment"] for job in jobs]
    assert len(train) == 3  # ppo_a has 2 seeds, ppo_b 1
    for job in train:
        assert job["Partition"] == "gpu" and "gpu" in job.get("TresPerJob", "") + job.get("TresPerNode", ""), job
        assert job["JobState"] == "COMPLETED"
    # 7 evaluations (runs x missions, one chunk each), 3 curves, 5 VOR scenarios (k = 0 shared; k = 1, 2 for
    # each of ppo_a's 2 runs), 4 cross-play cells
    assert len(groups) == 10, [job["Comment"] for job in groups]
    for job in groups:
        assert job["Partition"] == "cpu" and "gpu" not in job.get("TresPerJob", ""), job
        assert int(job["NumCPUs"]) <= 2 and job["JobState"] == "COMPLETED", job  # 2 jobs side by side
    members = " ".join(job["Comment"] for job in groups)
    for rule in ("evaluate_first_chunk", "curve", "vor_scenario", "vor_replacement", "crossplay_cell"):
        assert rule in members, members


def test_cancelled_job_is_retried(cluster, tmp_path):
    config = {
        "policies": {"baseline": {"spec": "baseline"}},
        "missions": ["cogs.small"],
        "evaluation": {"episodes": 48, "seed": 3, "num_envs": 8, "chunk": 16},  # 3 chunks: 2 allocations
        "compare": {"bootstrap_reps": 200},
        "report": {"replays": False},
    }
    workdir = study(tmp_path / "cancel", config)
    before = {r["JobId"] for r in job_records()}
    cmd = ["timeout", "-k", "10", "900", *snakemake_command(workdir, profile=str(REPO / "profiles/slurm"))]
    env = {**os.environ, "DAF_SLURM_GROUP_SIZE": "2"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    cancelled = None
    deadline = time.time() + 240
    while time.time() < deadline and cancelled is None:
        for job in job_records():
            if job["JobId"] not in before and job["JobState"] == "RUNNING" and "evaluate" in job["Comment"]:
                time.sleep(2)  # let it get going, then kill it
                subprocess.run(["scancel", job["JobId"]], check=True)
                cancelled = job["JobId"]
                break
        time.sleep(0.5)
    output, _ = proc.communicate(timeout=900)
    assert cancelled, "no running evaluation allocation appeared to cancel"
    assert proc.returncode == 0, output[-3000:]
    attempts = [r for r in job_records() if r["JobId"] not in before and "evaluate" in r["Comment"]]
    states = {r["JobId"]: r["JobState"] for r in attempts}
    assert states[cancelled] == "CANCELLED" and list(states.values()).count("COMPLETED") == 2  # 2 groups in the end
    assert all(r["Comment"].startswith("rule_short_") for r in attempts)  # grouped allocations, retried as such
    merged = pd.read_parquet(workdir / "results/evals/baseline/cogs.small.parquet")
    assert sorted(merged["episode"].unique()) == list(range(48))  # the cancelled group's chunks were redone


def test_permanent_failure_leaves_no_output_and_names_its_log(cluster, tmp_path):
    config = {
        "policies": {"broken": {"spec": "policies_for_tests.VibePolicy"}},
        "missions": ["cogs.tiny"],
        "evaluation": {"episodes": 1, "seed": 0, "num_envs": 1},
        "report": {"replays": False},
    }
    workdir = study(tmp_path / "broken", config)
    env = {"PYTHONPATH": str(SUPPORT)}  # jobs inherit it (sbatch --export=ALL)
    result = snakemake(workdir, env=env, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert not (workdir / "results/evals/broken/cogs.tiny.parquet").exists()
    assert not list(workdir.glob("results/**/.*.tmp"))  # no temp files left either
    log = workdir / "results/logs/evaluate/broken/cogs.tiny/run0/chunk0.log"
    assert "results/logs/evaluate/broken/cogs.tiny/run0/chunk0.log" in output  # the error points at the rule's log
    assert "chose action 'dance'" in log.read_text()  # ... which says what went wrong, in one line
    assert output.count("Trying to restart job") >= 2  # retried per the profile before giving up


def test_unknown_partition_fails_before_submitting(cluster, tmp_path):
    workdir = study(tmp_path / "nopart", tiny_config())
    before = {r["JobId"] for r in job_records()}
    result = snakemake(workdir, env={"DAF_SLURM_CPU_PARTITION": "nope"}, timeout=120)
    assert result.returncode != 0
    assert "SLURM partition 'nope' (default-resources slurm_partition) does not exist; partitions here: cpu, gpu" in (
        result.stdout + result.stderr
    )
    # nothing was submitted: no new job ids (finished jobs of earlier tests may age out of the list meanwhile)
    assert {r["JobId"] for r in job_records()} - before == set()


def test_literal_profile_name_after_install(cluster, tmp_path):
    home = tmp_path / "config"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "daf",
            "profile",
            "install",
            "--dest",
            str(home / "snakemake"),
            "--cpu-partition",
            "cpu",
            "--gpu-partition",
            "gpu",
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    text = (home / "snakemake/slurm/config.yaml").read_text()
    assert 'slurm_partition: "cpu"' in text and 'slurm_partition: "gpu"' in text
    workdir = study(tmp_path / "literal", tiny_config())
    result = snakemake(workdir, "-n", env={"XDG_CONFIG_HOME": str(home)}, timeout=120, profile="slurm")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "slurm_partition=gpu" in result.stdout and "slurm_partition=cpu" in result.stdout
    again = subprocess.run(
        [sys.executable, "-m", "daf", "profile", "install", "--dest", str(home / "snakemake")],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "exists; pass --force" in again.stderr


def test_cluster_script_is_idempotent(cluster):
    status = subprocess.run([*SCRIPT, "status"], capture_output=True, text=True)
    assert status.returncode == 0 and "slurmctld=up" in status.stdout
    assert shutil.which("sinfo")

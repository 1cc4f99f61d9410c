"""Interruption at any moment converges to the same bytes. A tiny study (training with periodic
checkpoints, chunked evaluation, merges, comparison, mission analysis, report) is killed with
SIGKILL at random moments - Snakemake with all its jobs (a crashed node), or one running job -
then `snakemake --unlock` and `--rerun-incomplete` finish it: every deterministic output is
byte-identical to an uninterrupted run's. A second Snakemake on the same directory is refused by
Snakemake's lock and changes nothing. The moments are drawn from a seeded generator (the test
prints them); nobody tuned them."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time

import numpy as np
import psutil
import pytest
import yaml
from workflow_runs import snakemake_command

pytestmark = [pytest.mark.faults, pytest.mark.slow]

STUDY = {
    "policies": {
        "random": {"spec": "random"},
        "baseline": {"spec": "baseline"},
        "ppo": {
            "train": {"mission": "cogs.tiny", "steps": 512, "seed": 0,
                      "hyperparameters": {"num_envs": 2, "rollout_steps": 16, "update_epochs": 1,
                                          "checkpoint_interval": 128}},
            "missions": ["cogs.tiny"],
        },
    },
    "missions": ["cogs.tiny", "forage.open"],
    "evaluation": {"episodes": 4, "num_envs": 2, "chunk": 2},
    "compare": {"bootstrap_reps": 200, "normalization": {"low": "random", "high": "baseline"}},
    "report": {"title": "interruption", "replays": False},
}  # fmt: skip
# what must converge: every table and the final weights (logs, sidecars, the report and periodic
# checkpoints also record wall-clock timings, so they differ between any two runs)
DETERMINISTIC = ["results/evals/**/*.parquet", "results/comparison/*.parquet", "results/analysis/**/*.parquet",
                 "results/checkpoints/*/*/model.pt"]  # fmt: skip


def _study(directory):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "study.yaml").write_text(yaml.safe_dump(STUDY))
    return directory


def _start(directory, *args) -> subprocess.Popen:
    """Snakemake in its own process group (so a 'crash' can take the jobs with it)."""
    with open(directory / f"snakemake-{time.monotonic_ns()}.log", "w") as log:  # the child keeps its own handle
        return subprocess.Popen(snakemake_command(directory, "-c2", *args), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def _finish(directory) -> None:
    """What a user does after a crash: unlock, then rerun what is incomplete."""
    subprocess.run(snakemake_command(directory, "--unlock"), capture_output=True, timeout=120)
    done = subprocess.run(snakemake_command(directory, "-c2", "--rerun-incomplete"), capture_output=True, text=True,
                          timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _digests(directory) -> dict[str, str]:
    files = sorted({p for pattern in DETERMINISTIC for p in directory.glob(pattern)})
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run: its digests and how long it took."""
    directory = _study(tmp_path_factory.mktemp("reference"))
    started = time.monotonic()
    run = _start(directory)
    assert run.wait(timeout=900) == 0
    digests = _digests(directory)
    assert len(digests) == 5 + 10 + 1 + 3 + 7  # merged tables, chunks, model, comparison, analyses
    return digests, time.monotonic() - started


def _jobs(snakemake: subprocess.Popen) -> list[psutil.Process]:
    """The running `daf` jobs of this Snakemake (not Snakemake itself)."""
    try:
        children = psutil.Process(snakemake.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for child in children:
        try:
            if any(os.path.basename(arg) == "daf" for arg in child.cmdline()[:2]):  # `daf …` or `python …/daf …`
                out.append(child)
        except psutil.Error:
            continue
    return out


MOMENTS = np.random.default_rng(20261207).uniform(0.1, 0.9, size=5)  # fractions of the reference's duration


@pytest.mark.parametrize("moment", MOMENTS[:3], ids=lambda m: f"at{m:.2f}")
def test_killing_snakemake_and_its_jobs_converges(reference, tmp_path, moment):
    digests, duration = reference
    directory = _study(tmp_path / "study")
    run = _start(directory)
    time.sleep(moment * duration)
    os.killpg(run.pid, signal.SIGKILL)  # Snakemake and every job it started, mid-write or not
    run.wait()
    _finish(directory)
    assert _digests(directory) == digests


@pytest.mark.parametrize("moment", MOMENTS[3:], ids=lambda m: f"at{m:.2f}")
def test_killing_one_running_job_converges(reference, tmp_path, moment):
    digests, duration = reference
    directory = _study(tmp_path / "study")
    run = _start(directory)
    time.sleep(moment * duration)
    victim = None
    while victim is None and run.poll() is None:
        jobs = _jobs(run)
        victim = jobs[0] if jobs else None
        if victim is None:
            time.sleep(0.05)
    assert victim is not None, "the study finished before a job could be killed"
    victim.kill()
    run.wait(timeout=900)
    _finish(directory)
    assert _digests(directory) == digests


def test_a_second_snakemake_on_the_same_directory_is_refused(reference, tmp_path):
    digests, _ = reference
    directory = _study(tmp_path / "study")
    first = _start(directory)
    while not _jobs(first) and first.poll() is None:
        time.sleep(0.05)
    second = subprocess.run(snakemake_command(directory, "-c2"), capture_output=True, text=True, timeout=300)
    # Snakemake checks for incomplete outputs before it takes the lock: while one of the first run's
    # jobs is writing (a slow or loaded machine), the second stops at those markers instead
    refusals = ("Directory cannot be locked", "The files below seem to be incomplete")
    assert second.returncode != 0 and any(r in second.stdout + second.stderr for r in refusals), second.stderr[-2000:]
    assert first.wait(timeout=900) == 0
    assert _digests(directory) == digests

"""benchmarks/learning.py end to end on a budget that runs in seconds: its tables agree with
each other and with the seeds' own logs and held-out scores."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from daf.curves import time_to_threshold

REPO = Path(__file__).resolve().parents[2]


def test_learning_benchmark_tables_agree_with_the_runs(tmp_path):
    cmd = [sys.executable, "benchmarks/learning.py", "--missions", "cogs.tiny", "--seeds", "3", "--first-seed", "5",
           "--budgets", "3000,6000", "--episodes", "4", "--workers", "0", "--set", "num_envs=4",
           "--work", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--label", "tiny"]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    seeds = pd.read_csv(tmp_path / "out" / "tiny" / "seeds.csv")
    summary = pd.read_csv(tmp_path / "out" / "tiny" / "summary.csv")
    assert (tmp_path / "out" / "tiny" / "cogs.tiny.png").stat().st_size > 10_000
    assert sorted(seeds["seed"].unique()) == [5, 6, 7] and sorted(summary["budget"]) == [3000, 6000]
    for row in summary.itertuples():
        part = seeds[seeds["budget"] == row.budget]
        assert row.seeds == 3 and row.reached == int((part["normalised"] >= row.level).sum())
        assert row.reached_half == int((part["normalised"] >= 0.5).sum())
        assert np.isclose(row.mean, part["normalised"].mean())  # the mean of the seeds' held-out means
        assert row.mean_low <= row.mean <= row.mean_high
        assert row.steps_median in set(part["steps_to_threshold"])  # an observed value (or inf, censored)
    for row in seeds.itertuples():  # each seed's time to threshold, recomputed from its own log
        run = tmp_path / "runs" / "cogs.tiny"
        log = pd.read_parquet(next(run.glob(f"*/b{row.budget}/seed{row.seed}/train_log.parquet")))
        threshold = row.random + 0.5 * (row.baseline - row.random)
        assert time_to_threshold(log, threshold) == (row.steps_to_threshold, row.seconds_to_threshold)
        assert np.isclose(row.normalised, (row.reward - row.random) / (row.baseline - row.random))
        assert row.agent_steps >= row.budget
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)  # finished runs are kept
    assert again.returncode == 0 and pd.read_csv(tmp_path / "out" / "tiny" / "seeds.csv").equals(seeds)
    bad = subprocess.run([*cmd, "--set", "gamma=7"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "gamma" in bad.stderr

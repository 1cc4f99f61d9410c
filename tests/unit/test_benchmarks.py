"""benchmarks/learning.py end to end on a budget that runs in seconds: its tables agree with
each other and with the seeds' own logs and held-out scores."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from daf.config.training import PPOConfig
from daf.missions import MISSIONS
from daf.policies import checkpoint
from daf.stats.curves import time_to_threshold
from daf.training.ppo import train

REPO = Path(__file__).resolve().parents[2]


def test_learning_benchmark_tables_agree_with_the_runs(tmp_path):
    """A budget-free schedule: one run per seed, the shorter budget read from its checkpoint."""
    cmd = [sys.executable, "benchmarks/learning.py", "--missions", "cogs.tiny", "--seeds", "3", "--first-seed", "5",
           "--budgets", "3000,6000", "--episodes", "4", "--workers", "0", "--set", "num_envs=4",
           "--set", "checkpoint_interval=1000", "--work", str(tmp_path / "runs"),
           "--out", str(tmp_path / "out"), "--label", "tiny"]  # fmt: skip
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
    (run,) = (tmp_path / "runs" / "cogs.tiny").iterdir()  # one settings key
    shaping = json.loads((run / "seed5" / "model.json").read_text())["shaping"]
    assert shaping == {"carbon.gained": 0.5, "oxygen.gained": 0.5}  # the mission's shipped preset, gather
    for row in seeds.itertuples():  # each seed's time to threshold, recomputed from its own log
        log = pd.read_parquet(run / f"seed{row.seed}" / "train_log.parquet")
        threshold = row.random + 0.5 * (row.baseline - row.random)
        part = log[log["agent_steps"] <= row.agent_steps]  # the shorter budget: the run up to there
        assert time_to_threshold(part, threshold) == (row.steps_to_threshold, row.seconds_to_threshold)
        assert np.isclose(row.normalised, (row.reward - row.random) / (row.baseline - row.random))
        assert row.agent_steps >= row.budget
    # the shorter budget's network is what a run of that budget ends with, weight for weight
    hp = PPOConfig(num_envs=4, checkpoint_interval=1000)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the benchmark's runs (other thread counts round differently)
    try:
        alone = train(MISSIONS["cogs.tiny"], 3000, 6, tmp_path / "alone", hp=hp, device_name="cpu", progress=False,
                      preset="gather")  # cogs.tiny's shipped preset  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    derived = checkpoint.load(run / "seed6" / "at3000" / "model.pt")
    assert json.loads((run / "seed6" / "at3000" / "model.json").read_text())["steps"] == alone["steps"]
    final = checkpoint.load(tmp_path / "alone" / "model.pt")
    assert all(torch.equal(final["model"][k], derived["model"][k]) for k in final["model"])
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)  # finished runs are kept
    assert again.returncode == 0 and pd.read_csv(tmp_path / "out" / "tiny" / "seeds.csv").equals(seeds)
    bad = subprocess.run([*cmd, "--set", "gamma=7"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [
        "learning.py: hyperparameter gamma: Input should be less than or equal to 1 (got 7)"
    ]
    bad = subprocess.run([*cmd, "--preset", "nope"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [
        "learning.py: --preset 'nope' is not one of none, gather, explore"
    ]
    off_grid = [*cmd[: cmd.index("--budgets") + 1], "2500,6000", *cmd[cmd.index("--budgets") + 2 :]]
    bad = subprocess.run(off_grid, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1 and "--budgets 2500 are not multiples of checkpoint_interval (1000)" in bad.stderr


def test_learning_benchmark_trains_each_budget_with_a_budget_relative_schedule(tmp_path):
    cmd = [sys.executable, "benchmarks/learning.py", "--missions", "cogs.tiny", "--seeds", "2", "--budgets",
           "2000,3000", "--episodes", "2", "--workers", "0", "--set", "num_envs=4", "--set", "anneal_lr=true",
           "--preset", "none", "--work", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    seeds = pd.read_csv(tmp_path / "out" / "defaults" / "seeds.csv")
    (run,) = (tmp_path / "runs" / "cogs.tiny").iterdir()
    for row in seeds.itertuples():  # anneal_lr: a run of its own per budget
        sidecar = json.loads((run / f"b{row.budget}" / f"seed{row.seed}" / "model.json").read_text())
        assert sidecar["requested_steps"] == row.budget and sidecar["steps"] == row.agent_steps
        assert sidecar["hyperparameters"]["anneal_lr"] is True and sidecar["shaping"] == {}
    assert sorted(seeds["seed"].unique()) == [1000, 1001] and len(seeds) == 4


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_a_killed_learning_benchmark_leaves_no_run_training(tmp_path):
    """SIGTERM to the benchmark ends its runs too (else they train on, and a rerun writes beside them)."""
    cmd = [sys.executable, "benchmarks/learning.py", "--missions", "cogs.tiny", "--seeds", "2", "--jobs", "2",
           "--budgets", "10000000", "--episodes", "2", "--workers", "0", "--set", "num_envs=4",
           "--set", "checkpoint_interval=1000", "--preset", "none", "--work", str(tmp_path / "runs"),
           "--out", str(tmp_path / "out")]  # fmt: skip
    bench = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    training, runs = set(), []
    try:
        deadline = time.monotonic() + 300
        while training != {"seed1000", "seed1001"}:  # both runs have written a periodic checkpoint
            assert bench.poll() is None and time.monotonic() < deadline
            time.sleep(0.5)
            training = {p.relative_to(tmp_path / "runs").parts[2] for p in (tmp_path / "runs").rglob("step_*.pt")}
        children = [
            int(pid) for f in Path(f"/proc/{bench.pid}/task").glob("*/children") for pid in f.read_text().split()
        ]
        runs = [pid for pid in children if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(runs) == 2 and all(_alive(pid) for pid in runs)
    finally:
        bench.send_signal(signal.SIGTERM)
        bench.wait(timeout=60)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in runs) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in runs)
    steps = len(list((tmp_path / "runs").rglob("step_*.pt")))
    time.sleep(3)
    assert len(list((tmp_path / "runs").rglob("step_*.pt"))) == steps  # nothing writes there any more

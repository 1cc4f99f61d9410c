"""Sweep overhead, measured side by side in one run.

(a) One sweep run (`daf sweep run`: train + evaluate in one process) against the same work done
    by hand (`daf train`, then `daf evaluate` on the checkpoint): the ratio of wall times says
    what a trial costs beyond the training and evaluation it needs (target: <= 1.1).
(b) Optuna bookkeeping of a tpe trial (ask + tell on the journal file, in-process) against
    the wall time of the sweep run from (a): the share of a trial spent on the sampler.
(c) Grid expansion of a 10 x 10 x 10 x 2 grid (2,000 trials): milliseconds.

    python benchmarks/sweep_overhead.py [--steps 50000] [--episodes 16] [--asks 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from daf.config.sweeps import SweepConfig
from daf.config.training import TrainConfig
from daf.sweeps import search
from daf.sweeps import space as sweep_space


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--asks", type=int, default=20)
    args = parser.parse_args()
    daf = [sys.executable, "-m", "daf"]
    base = TrainConfig(mission="cogs.tiny", steps=args.steps).model_dump(mode="json")
    base.pop("seed")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        by_hand = timed([*daf, "train", "--mission", "cogs.tiny", "--steps", str(args.steps), "--seed", "0",
                         "--out", str(tmp / "hand"), "--device", "cpu", "--no-progress"])  # fmt: skip
        by_hand += timed([*daf, "evaluate", "--policy", str(tmp / "hand/model.pt"), "--mission", "cogs.tiny",
                          "--episodes", str(args.episodes), "--seed", "0", "--out", str(tmp / "hand/evals.parquet"),
                          "--no-progress"])  # fmt: skip
        run = timed([*daf, "sweep", "run", "--trial", "t0", "--seed", "0", "--params", "{}",
                     "--base", json.dumps(base), "--missions", "cogs.tiny", "--episodes", str(args.episodes),
                     "--eval-seed", "0", "--metric", "mean", "--device", "cpu", "--out", str(tmp / "run")])  # fmt: skip
        record = json.loads((tmp / "run/run.json").read_text())
        assert record["status"] == "completed", record

        space = SweepConfig.model_validate({
            "policy": "p", "strategy": "tpe", "trials": args.asks,
            "space": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
                      "ent_coef": {"low": 0.0, "high": 0.05}},
        }).space  # fmt: skip
        journal = tmp / "optuna.journal"
        start = time.perf_counter()
        for i in range(args.asks):
            proposal = search.ask(space, "maximize", 0, 4, "bench", journal, f"r{i:03d}-000", i)
            outcome = [{"seed": 0, "status": "completed", "objective": float(i % 7), "error": None}]
            search.tell("bench", journal, "maximize", proposal, outcome)
        per_trial = (time.perf_counter() - start) / args.asks

    grid = SweepConfig.model_validate({
        "policy": "p", "strategy": "grid",
        "space": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True, "points": 10},
                  "ent_coef": {"low": 0.0, "high": 0.05, "points": 10},
                  "gamma": {"low": 0.9, "high": 0.999, "points": 10}, "arch": {"values": ["cnn", "lstm"]}},
    })  # fmt: skip
    start = time.perf_counter()
    trials = sweep_space.planned_trials(grid)
    expand = time.perf_counter() - start

    print(f"(a) train + evaluate by hand: {by_hand:.1f} s; one sweep run: {run:.1f} s; "
          f"ratio {run / by_hand:.2f} (target <= 1.1)")  # fmt: skip
    print(f"(b) Optuna ask + tell per tpe trial ({args.asks} trials, journal file): {1000 * per_trial:.0f} ms "
          f"= {100 * per_trial / run:.1f}% of a {args.steps:,}-step trial")  # fmt: skip
    print(f"(c) grid of {len(trials):,} trials expanded in {1000 * expand:.0f} ms")


if __name__ == "__main__":
    main()

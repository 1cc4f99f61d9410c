"""Workflow overhead: a no-op rerun of the finished default study, and DAG build time per job.

(a) `snakemake --profile profiles/local` on the finished default study (nothing to do),
    median of 5: target < 3 s. Runs the study first if it is not finished.
(b) `snakemake -n` on generated studies of P policies x M missions (the 9 registered missions
    and mission files): per study the jobs and seconds, then the per-job slope of a least-
    squares line through the sizes. Side by side, the floor Snakemake itself sets: a minimal
    Snakefile (one rule, three wildcards, an output, a log, a one-line shell command, an
    aggregate) planning the same number of jobs. Target: <= 1 ms per job, i.e. the 200 x 50
    study's dry run < 20 s. No job runs.

    python benchmarks/workflow_overhead.py [--sizes 50x20 100x40 200x50] [--skip-noop]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from daf.missions import MISSIONS

REPO = Path(__file__).resolve().parents[1]
MISSION = """
from daf.missions.builders import forage_config


def get_config():
    return forage_config(label="variant {i}", num_agents=2, width={size}, height={size}, bushes={bushes}, max_steps=100)
"""
# The floor: as many jobs as DAF's DAG, each as small as a Snakemake job gets.
FLOOR_SNAKEFILE = """
N = int(config["jobs"])
rule all:
    localrule: True
    input: [f"out/p{i % 97}/m{i // 97}/c{i % 3}.txt" for i in range(N - 1)]
rule work:
    output: "out/p{p}/m{m}/c{c}.txt"
    log: "logs/p{p}/m{m}/c{c}.log"
    shell: "echo {wildcards.p} {wildcards.m} {wildcards.c} > {output} 2> {log}"
"""


PEAK = "peak-rss-kb:"


def snakemake(*args: str, snakefile: Path = REPO / "Snakefile", cwd: Path = REPO) -> tuple[float, str]:
    """Seconds and output of one Snakemake run; its peak memory is in the output (`peak_mb`)."""
    start = time.perf_counter()
    cmd = ["/usr/bin/time", "-f", f"{PEAK}%M", sys.executable, "-m", "snakemake", "-s", str(snakefile), *args]
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(result.stdout[-2000:] + result.stderr[-3000:])
    return seconds, result.stdout + result.stderr


def peak_mb(output: str) -> float:
    return int(re.findall(rf"^{PEAK}(\d+)", output, re.M)[-1]) / 1024


def total_jobs(output: str) -> int:
    return int(re.search(r"^total\s+(\d+)", output, re.M).group(1))


def study_dag(root: Path, policies: int, missions: int) -> tuple[int, float, float]:
    """Jobs, dry-run seconds and peak MB of a study of `policies` x `missions` (no training, no VOR)."""
    names = list(MISSIONS)[:missions]
    for i in range(missions - len(names)):
        path = root / f"variant_{i:02d}.py"
        path.write_text(MISSION.format(i=i, size=9 + i % 5, bushes=3 + i % 4))
        names.append(str(path))
    specs = ["random", "noop", "baseline", "lstm", "stateless"]
    config = {
        "policies": {f"p{i:03d}": {"spec": specs[i % len(specs)]} for i in range(policies)},
        "missions": names,
        "report": {"replays": False},
    }
    (root / "study.yaml").write_text(yaml.safe_dump(config))
    seconds, output = snakemake("-d", str(root), "--configfile", str(root / "study.yaml"), "-n", "--quiet", "rules")
    return total_jobs(output), seconds, peak_mb(output)


def floor_dag(root: Path, jobs: int) -> float:
    snakefile = root / "Snakefile"
    snakefile.write_text(FLOOR_SNAKEFILE)
    seconds, output = snakemake("-d", str(root), "--config", f"jobs={jobs}", "-n", "--quiet", "rules",
                                snakefile=snakefile)  # fmt: skip
    assert total_jobs(output) == jobs, output[-500:]
    return seconds


def slope_ms(jobs: list[int], seconds: list[float]) -> float:
    """Milliseconds per job: the least-squares slope of seconds over jobs."""
    return float(np.polyfit(jobs, seconds, 1)[0] * 1000) if len(jobs) > 1 else seconds[0] / jobs[0] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["50x20", "100x40", "200x50"], help="POLICIESxMISSIONS")
    parser.add_argument("--skip-noop", action="store_true", help="skip (a), the default study's no-op rerun")
    args = parser.parse_args()
    if not args.skip_noop:
        local = ["--profile", str(REPO / "profiles/local")]
        if "Nothing to be done" not in snakemake(*local, "-n")[1]:
            print("the default study is not finished: running it first ...")
            snakemake(*local)
        noop = [snakemake(*local)[0] for _ in range(5)]
        print(f"(a) no-op rerun of the finished default study: {statistics.median(noop):.2f} s "
              f"(median of 5; target < 3 s)")  # fmt: skip

    print("(b) dry-run DAG build: DAF's Snakefile vs a minimal Snakefile with as many jobs")
    print(f"    {'study':>9} {'jobs':>7} {'DAF s':>8} {'floor s':>8} {'DAF ms/job':>11} {'floor ms/job':>13} "
          f"{'DAF peak MB':>12}")  # fmt: skip
    jobs, daf_s, floor_s = [], [], []
    for size in args.sizes:
        policies, missions = map(int, size.split("x"))
        with tempfile.TemporaryDirectory() as study_dir, tempfile.TemporaryDirectory() as floor_dir:
            n, seconds, memory = study_dag(Path(study_dir), policies, missions)
            floor = floor_dag(Path(floor_dir), n)
        jobs.append(n), daf_s.append(seconds), floor_s.append(floor)
        print(f"    {size:>9} {n:>7,} {seconds:>8.2f} {floor:>8.2f} {seconds / n * 1000:>11.2f} "
              f"{floor / n * 1000:>13.2f} {memory:>12,.0f}")  # fmt: skip
    daf_slope, floor_slope = slope_ms(jobs, daf_s), slope_ms(jobs, floor_s)
    print(f"    slope: DAF {daf_slope:.2f} ms/job, floor {floor_slope:.2f} ms/job "
          f"(DAF / floor {daf_slope / floor_slope:.2f}x; target <= 1 ms/job)")  # fmt: skip
    if len(jobs) > 1:
        print(f"    intercept (start-up: imports, config, mission fingerprints): DAF "
              f"{np.polyfit(jobs, daf_s, 1)[1]:.2f} s, floor {np.polyfit(jobs, floor_s, 1)[1]:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()

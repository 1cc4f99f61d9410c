"""Workflow overhead: a no-op rerun of the finished default study, and the DAG of a large study.

(a) `snakemake --profile profiles/local` on the finished default study (nothing to do):
    target < 5 s. Runs the study first if it is not finished.
(b) `snakemake -n` on a generated study of 50 policies x 20 missions (the 9 registered
    missions and 11 mission files): 1,000 evaluations plus their analysis jobs; target: the
    DAG builds in < 15 s. No job runs.

    python benchmarks/workflow_overhead.py [--policies 50] [--missions 20]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from daf.missions import MISSIONS

REPO = Path(__file__).resolve().parents[1]
MISSION = """
from daf.missions.builders import forage_config


def get_config():
    return forage_config(label="variant {i}", num_agents=2, width={size}, height={size}, bushes={bushes}, max_steps=100)
"""


def snakemake(*args: str, cwd: Path = REPO) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args], cwd=cwd,
                            capture_output=True, text=True)  # fmt: skip
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", type=int, default=50)
    parser.add_argument("--missions", type=int, default=20)
    args = parser.parse_args()
    local = ["--profile", str(REPO / "profiles/local")]
    _, dry = snakemake(*local, "-n")
    if "Nothing to be done" not in dry.stdout + dry.stderr:
        print("the default study is not finished: running it first ...")
        _, run = snakemake(*local)
        if run.returncode != 0:
            raise SystemExit(run.stderr[-2000:])
    noop = [snakemake(*local)[0] for _ in range(3)]
    print(f"(a) no-op rerun of the finished default study: {min(noop):.2f} s (best of 3; target < 5 s)")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        missions = list(MISSIONS)[: args.missions]
        for i in range(args.missions - len(missions)):
            path = root / f"variant_{i:02d}.py"
            path.write_text(MISSION.format(i=i, size=9 + i % 5, bushes=3 + i % 4))
            missions.append(str(path))
        specs = ["random", "noop", "baseline", "lstm", "stateless"]
        config = {
            "policies": {f"p{i:03d}": {"spec": specs[i % len(specs)]} for i in range(args.policies)},
            "missions": missions,
            "report": {"replays": False},
        }
        (root / "study.yaml").write_text(yaml.safe_dump(config))
        seconds, result = snakemake("-d", str(root), "--configfile", str(root / "study.yaml"), "-n", "--quiet", "rules")
        if result.returncode != 0:
            raise SystemExit(result.stderr[-3000:])
        total = re.search(r"^total\s+(\d+)", result.stdout + result.stderr, re.M)
        evaluations = re.search(r"^evaluate\s+(\d+)", result.stdout + result.stderr, re.M)
    print(f"(b) DAG of {args.policies} policies x {args.missions} missions: {int(evaluations.group(1))} evaluations, "
          f"{int(total.group(1))} jobs in all, built in {seconds:.2f} s (target < 15 s)")  # fmt: skip


if __name__ == "__main__":
    main()

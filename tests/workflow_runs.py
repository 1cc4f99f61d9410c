"""Running the real workflow from tests: one command line and one dry-run parser for all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake_command(workdir: Path, *args: str, config: str = "study.yaml", profile: str | None = None) -> list[str]:
    """`python -m snakemake` on this repository's Snakefile, in `workdir`, with `workdir/config`."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(workdir / config)]  # fmt: skip
    if profile:
        cmd += ["--profile", profile]
    return cmd + list(args)


def run_snakemake(workdir: Path, *args: str, timeout: int = 600, **options) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_command(workdir, *args, **options), capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def planned_jobs(result: subprocess.CompletedProcess) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job in a dry run's output."""
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    jobs = set()
    # a job's block starts at its `rule NAME:` line (blank lines between blocks come and go)
    for block in re.split(r"\n(?=(?:localrule|rule) \w+:)", result.stdout + "\n" + result.stderr):
        rule = re.search(r"^(?:localrule|rule) (\w+):", block, re.M)
        if rule:
            wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
            jobs.add((rule.group(1), wildcards.group(1) if wildcards else ""))
    return jobs

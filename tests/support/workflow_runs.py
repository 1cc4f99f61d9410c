"""Running the real workflow from tests: one command line and one dry-run parser for all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from helpers import MISSION_FILE, REPO


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


_STUDY = None
# hostile text in the places a study's report shows user text: each would set window.__daf_pwned if it ran
HOSTILE_DESCRIPTION = '<img src=x onerror="window.__daf_pwned=1"> <script>window.__daf_pwned=2</script>'
HOSTILE_COMMENT = "# <script>window.__daf_pwned=3</script> a comment"


def build_study(tmp_path_factory) -> Path:
    """Run the tiny study (.test config + a mission file + user text to escape) once per session
    (the workflow tests and the browser test share it)."""
    global _STUDY
    if _STUDY is None:
        workdir = tmp_path_factory.mktemp("study")
        mission = workdir / "my_mission.py"
        mission.write_text(MISSION_FILE.replace('"a cogames-style mission file"', repr(HOSTILE_DESCRIPTION)))
        config = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())
        config["missions"] = ["cogs.tiny", str(mission)]
        config["policies"]["baseline"]["description"] = "<script>alert('x')</script> & friends"
        config["report"]["title"] = "Tiny <b>study</b>"
        (workdir / "study.yaml").write_text(yaml.safe_dump(config) + HOSTILE_COMMENT + "\n")
        result = run_snakemake(workdir, "-c2", timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        _STUDY = workdir
    return _STUDY


def tiny_policies(steps: int, seed: int) -> dict:
    """random, baseline and a PPO network trained `steps` agent-steps on cogs.tiny (seconds)."""
    train = {"mission": "cogs.tiny", "steps": steps, "seed": seed,
             "hyperparameters": {"num_envs": 2, "rollout_steps": 16, "update_epochs": 1}}  # fmt: skip
    return {"random": {"spec": "random"}, "baseline": {"spec": "baseline"},
            "ppo": {"train": train, "missions": ["cogs.tiny"]}}  # fmt: skip

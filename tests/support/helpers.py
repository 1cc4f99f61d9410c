"""What tests import (conftest.py is for fixtures): the repository's paths, the real `daf` CLI
in a subprocess, a mission file, a fake login token."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent  # tests/support: on sys.path (pytest's `pythonpath`)
REPO = SUPPORT.parents[1]
DAF = [sys.executable, "-m", "daf"]


def run_daf(
    *args: str, cwd: Path | None = None, env: dict | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """Run the real `daf` CLI in a subprocess (to see exit codes and stderr as users do);
    `env` adds to this process's environment, `stdin` is fed to it."""
    environ = {**os.environ, **(env or {})}
    return subprocess.run([*DAF, *args], capture_output=True, text=True, input=stdin, cwd=cwd, env=environ,
                          timeout=600)  # fmt: skip


MISSION_FILE = """
from daf.missions.builders import forage_config

DESCRIPTION = "a cogames-style mission file"
SUCCESS = {"stat": "food.gained", "threshold": 4}


def get_config():
    return forage_config(label="custom", num_agents=2, width=9, height=9, bushes=4, max_steps=60)
"""


def fake_jwt(exp: float) -> str:
    """An unsigned JWT that expires at `exp` (seconds since the epoch)."""

    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': int(exp), 'sub': 'me'})}.sig"

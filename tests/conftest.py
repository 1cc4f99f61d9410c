import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["ci_skips"]  # a LOUD SKIP fails under CI=true

REPO = Path(__file__).resolve().parents[1]
DAF = [sys.executable, "-m", "daf"]


def run_daf(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `daf` CLI in a subprocess (to see exit codes and stderr as users do);
    `env` adds to this process's environment."""
    environ = {**os.environ, **(env or {})}
    return subprocess.run([*DAF, *args], capture_output=True, text=True, cwd=cwd, env=environ, timeout=600)


@pytest.fixture
def daf():
    return run_daf


MISSION_FILE = """
from daf.missions.builders import forage_config

DESCRIPTION = "a cogames-style mission file"
SUCCESS = {"stat": "food.gained", "threshold": 4}


def get_config():
    return forage_config(label="custom", num_agents=2, width=9, height=9, bushes=4, max_steps=60)
"""


@pytest.fixture
def mission_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_mission.py"
    path.write_text(MISSION_FILE)
    return path

"""Fixtures for every kind of test. Helpers that tests import live in tests/support/ (on
sys.path through pytest's `pythonpath`), e.g. `from helpers import REPO, run_daf`."""

from pathlib import Path

import pytest
from helpers import MISSION_FILE, run_daf

pytest_plugins = ["ci_skips"]  # a LOUD SKIP fails under CI=true


@pytest.fixture
def daf():
    return run_daf


@pytest.fixture
def mission_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_mission.py"
    path.write_text(MISSION_FILE)
    return path

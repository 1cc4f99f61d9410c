"""Fixtures for every kind of test. Helpers that tests import live in tests/support/ (on
sys.path through pytest's `pythonpath`), e.g. `from helpers import REPO, run_daf`."""

import os
from pathlib import Path

import pytest
from helpers import MISSION_FILE, run_daf

pytest_plugins = ["ci_skips"]  # a LOUD SKIP fails under CI=true

# A developer's evaluation store must not serve the tests' evaluations (job counts, timings):
# the store tests pass theirs explicitly.
os.environ.pop("DAF_STORE", None)


@pytest.fixture
def daf():
    return run_daf


@pytest.fixture
def mission_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_mission.py"
    path.write_text(MISSION_FILE)
    return path

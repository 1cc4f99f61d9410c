"""A LOUD SKIP fails the run under CI=true (so CI cannot be green without SLURM and the browser)
and stays a skip elsewhere; other skips are untouched."""

import os
import subprocess
import sys

from helpers import SUPPORT

TESTS = """
import pytest

def test_needs_slurm():
    pytest.skip("LOUD SKIP: the SLURM integration tests need root")

@pytest.mark.skipif(True, reason="LOUD SKIP: chromium is not installed")
def test_needs_chromium():
    pass

def test_optional():
    pytest.skip("not needed here")
"""


def _pytest(tmp_path, ci: str | None):
    (tmp_path / "test_sample.py").write_text(TESTS)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(SUPPORT)
    plugins = ["-p", "ci_skips", "-p", "no:cacheprovider", "-p", "no:importnb"]
    command = [sys.executable, "-m", "pytest", *plugins, "-o", "addopts=", "-rfEs", str(tmp_path / "test_sample.py")]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


def test_loud_skips_fail_in_ci(tmp_path):
    result = _pytest(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    # a skip in the call fails the test; a skipif marker (setup) makes it an error: both fail the run
    assert "1 failed, 1 skipped, 1 error" in result.stdout, result.stdout
    assert "CI=true: this test may not be skipped in CI (LOUD SKIP: chromium is not installed)" in result.stdout
    assert "CI=true: this test may not be skipped in CI (LOUD SKIP: the SLURM" in result.stdout


def test_loud_skips_stay_skips_elsewhere(tmp_path):
    for ci in (None, "false"):
        result = _pytest(tmp_path, ci)
        assert result.returncode == 0 and "3 skipped" in result.stdout, result.stdout

"""Fixtures of the unit tests that several test files share: a trained checkpoint and a bundle."""

from pathlib import Path

import pytest
from helpers import run_daf

from daf.ops import bundle


@pytest.fixture(scope="session")  # read only: one training serves every test file
def checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "run"
    result = run_daf("train", "--mission", "cogs.tiny", "--steps", "128", "--seed", "3", "--out", str(out),
                     "--set", "num_envs=2", "--set", "rollout_steps=16",
                     "--device", "cpu", "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out / "model.pt"


@pytest.fixture
def bundle_zip(tmp_path) -> Path:
    out = tmp_path / "scripted.zip"
    bundle.package("baseline", out, "scripted")
    return out

"""Resource exhaustion: a results directory on a 1 MB tmpfs that fills up during evaluate, train and
report (one line naming the path and 'No space left on device', exit 2, no file a rerun would
trust; the rerun after space is freed completes, byte-identical to a run on a roomy disk), and a
policy that allocates without bound under a memory cap (one line, exit 2)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest
from helpers import DAF, SUPPORT

pytestmark = pytest.mark.faults

EVALUATE_RANDOM = ["evaluate", "--policy", "random", "--mission", "cogs.tiny", "--seed", "0", "--no-progress"]

SIZE = 2**20  # the small disk


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs (root mounts it; elsewhere the test skips loudly, which fails CI)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"LOUD SKIP: cannot mount a tmpfs here (needs root): {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk, leave: int):
    """Fill `disk` up to `leave` free bytes; returns the filler (delete it to free the space)."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
    return filler


def _full(result, path):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot write output '{path}" in lines[0], result.stderr[-2000:]
    assert "No space left on device" in lines[0], lines[0]


def _files(disk):
    return sorted(str(p.relative_to(disk)) for p in disk.rglob("*") if p.is_file() and p.name != "filler")


def test_evaluate_on_a_full_disk(daf, small_disk, tmp_path):
    args = [*EVALUATE_RANDOM, "--episodes", "8"]
    out = small_disk / "results/evals/random/cogs.tiny.parquet"
    filler = fill(small_disk, 4096)
    _full(daf(*args, "--out", str(out)), out)
    assert _files(small_disk) == []  # no table, no temporary file, no sidecar
    filler.unlink()
    assert daf(*args, "--out", str(out)).returncode == 0
    roomy = tmp_path / "roomy.parquet"
    assert daf(*args, "--out", str(roomy)).returncode == 0
    assert out.read_bytes() == roomy.read_bytes()


def test_train_on_a_full_disk(daf, small_disk, tmp_path):
    args = ["train", "--mission", "cogs.tiny", "--steps", "256", "--seed", "0", "--workers", "0", "--no-progress",
            "--set", "num_envs=2", "--set", "rollout_steps=16", "--set", "update_epochs=1",
            "--set", "checkpoint_interval=128"]  # fmt: skip
    out = small_disk / "results/checkpoints/ppo/seed0"
    filler = fill(small_disk, 16384)
    result = daf(*args, "--out", str(out))
    _full(result, out)
    assert not [f for f in _files(small_disk) if f.endswith((".pt", ".parquet"))]  # nothing a rerun would trust
    filler.unlink()
    assert daf(*args, "--out", str(out)).returncode == 0
    roomy = tmp_path / "roomy"
    assert daf(*args, "--out", str(roomy)).returncode == 0
    assert (out / "model.pt").read_bytes() == (roomy / "model.pt").read_bytes()


def test_report_on_a_full_disk(daf, small_disk, tmp_path):
    evals = []
    for policy in ("random", "baseline"):
        evals.append(str(tmp_path / f"{policy}.parquet"))
        made = daf("evaluate", "--policy", policy, "--mission", "cogs.tiny", "--episodes", "4", "--seed", "0",
                   "--out", evals[-1], "--no-progress")  # fmt: skip
        assert made.returncode == 0, made.stderr
    config = tmp_path / "study.yaml"
    config.write_text("policies: {random: {spec: random}, baseline: {spec: baseline}}\nmissions: [cogs.tiny]\n")
    assert daf("compare", "--evals", *evals, "--out", str(tmp_path / "cmp"), "--reps", "200").returncode == 0
    args = ["report", "--config", str(config), "--comparison", str(tmp_path / "cmp"), "--evals", *evals]
    out = small_disk / "results/report/index.html"
    filler = fill(small_disk, 16384)
    _full(daf(*args, "--out", str(out)), out)
    assert _files(small_disk) == []
    filler.unlink()
    result = daf(*args, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 50_000


def test_a_policy_that_allocates_without_bound_under_a_memory_cap(tmp_path):
    """`ulimit -v` (RLIMIT_AS) caps the job: the policy's MemoryError is one line naming it."""

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    out = tmp_path / "e.parquet"
    result = subprocess.run(
        [*DAF, "evaluate", "--policy", "policies_for_tests.GreedyPolicy", "--mission", "cogs.tiny", "--episodes", "1",
         "--seed", "0", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, cwd=SUPPORT, preexec_fn=cap, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(SUPPORT), *sys.path])},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "policy 'policies_for_tests.GreedyPolicy' failed on mission 'cogs.tiny'" in lines[0]
    assert "MemoryError" in lines[0] and not out.exists()

"""Hostile inputs into the loaders and writers: a 'billion laughs' YAML config, a recursive alias,
output names past the file system's limit, a symlink planted inside results/ that leads out of
it. Each is refused in one line, quickly, with nothing written. (HTML and JS in a mission's
description, a policy's description and a config comment: the report escapes them, checked in
tests/workflow/test_workflow.py and, in a browser, tests/browser/test_report_browser.py.)"""

from __future__ import annotations

import time

import pytest
import yaml

from daf.config.load import MAX_VALUES, expanded_size, load_study
from daf.errors import UserError

pytestmark = pytest.mark.faults

EVALUATE_RANDOM = ["evaluate", "--policy", "random", "--mission", "cogs.tiny", "--seed", "0", "--no-progress"]

LAUGHS = "\n".join(
    [
        'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
        *(f"{x}: &{x} [{', '.join([f'*{p}'] * 9)}]" for p, x in zip("abcdefgh", "bcdefghi")),
        "policies: {random: {spec: random, description: *i}}",
        "missions: [cogs.tiny]",
    ]
)  # 9**9 = 387,420,489 strings once expanded


def _one_line(result, needle):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr[-2000:]


def test_a_billion_laughs_config_is_refused_in_a_second(daf, tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS)
    started = time.monotonic()
    result = daf("validate-config", str(path))
    _one_line(result, f"its YAML aliases expand it to more than {MAX_VALUES:,} values (a 'billion laughs' document?)")
    assert time.monotonic() - started < 30  # before the check: still validating after 30 s


def test_expanded_size_counts_shared_parts_each_time_without_expanding():
    shared = list(range(10))
    assert expanded_size({"a": shared, "b": shared}) == 1 + 2 + 2 * 11
    data = yaml.safe_load(LAUGHS)
    started = time.monotonic()
    assert expanded_size(data) == MAX_VALUES + 1 and time.monotonic() - started < 0.1
    recursive = yaml.safe_load("a: &a [1, *a]")  # a list that contains itself
    assert expanded_size(recursive) == MAX_VALUES + 1


def test_a_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("policies: {random: {spec: random}}\nmissions: [cogs.tiny]\nreport: &r {title: [*r]}\n")
    with pytest.raises(UserError, match="its YAML aliases expand it to more than"):
        load_study(path)


def test_a_config_with_a_few_aliases_is_fine(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("policies: {random: {spec: random, description: &d text}, noop: {spec: noop, description: *d}}\n"
                    "missions: [cogs.tiny]\n")  # fmt: skip
    assert load_study(path).policies["noop"].description == "text"


def test_an_output_name_past_the_file_systems_limit(daf, tmp_path):
    out = tmp_path / ("x" * 240 + ".parquet")
    result = daf("evaluate", "--policy", "random", "--mission", "cogs.tiny", "--episodes", "1", "--seed", "0",
                 "--out", str(out), "--no-progress")  # fmt: skip
    _one_line(result, "bytes; at most 231 fit (the file system's 255, less room for the temporary file")
    assert list(tmp_path.iterdir()) == []  # before: a traceback (OSError: File name too long)


def test_a_symlink_inside_results_is_not_followed_for_writes(daf, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    study = tmp_path / "study"
    (study / "results/evals").mkdir(parents=True)
    (study / "results/evals/random").symlink_to(outside)
    args = [*EVALUATE_RANDOM, "--episodes", "1"]
    result = daf(*args, "--out", "results/evals/random/cogs.tiny.parquet", cwd=study)
    _one_line(result, f"a symlink inside results/ leads to {outside}, outside it; DAF does not write through it")
    assert list(outside.iterdir()) == []
    # results/ itself may be a link (e.g. to a scratch disk): writes go there
    scratch, linked = tmp_path / "scratch", tmp_path / "linked"
    scratch.mkdir()
    linked.mkdir()
    (linked / "results").symlink_to(scratch)
    result = daf(*args, "--out", "results/evals/random/cogs.tiny.parquet", cwd=linked)
    assert result.returncode == 0, result.stderr
    assert (scratch / "evals/random/cogs.tiny.parquet").is_file()


def test_a_table_that_does_not_match_its_sidecar_is_not_read(daf, tmp_path):
    """A chunk rewritten after its sidecar (an interrupted or concurrent run): the merge and every
    other reader refuse it, naming both files; a table without a sidecar is read as before."""
    common = ["--mission", "cogs.tiny", "--episodes", "2", "--seed", "0", "--no-progress"]
    chunk, other = tmp_path / "chunk0.parquet", tmp_path / "other.parquet"
    assert daf("evaluate", "--policy", "random", *common, "--out", str(chunk)).returncode == 0
    other_args = ["--mission", "cogs.tiny", "--episodes", "3", "--seed", "1", "--no-progress", "--out", str(other)]
    assert daf("evaluate", "--policy", "random", *other_args).returncode == 0
    original = chunk.read_bytes()
    chunk.write_bytes(other.read_bytes())  # the table another run wrote; the sidecar still describes the first
    merged = tmp_path / "merged.parquet"
    for args in (["merge-evals", "--chunks", str(chunk), "--out", str(merged)],
                 ["compare", "--evals", str(chunk), "--out", str(tmp_path / "cmp"), "--reps", "100"]):  # fmt: skip
        _one_line(daf(*args), f"'{chunk}' does not match the sha256 its sidecar '{chunk.with_suffix('.json')}' records")
    assert not merged.exists() and not (tmp_path / "cmp" / "leaderboard.parquet").exists()
    chunk.write_bytes(original)
    assert daf("merge-evals", "--chunks", str(chunk), "--out", str(merged)).returncode == 0
    chunk.with_suffix(".json").unlink()  # no sidecar, nothing to check against
    assert daf("merge-evals", "--chunks", str(chunk), "--out", str(merged)).returncode == 0

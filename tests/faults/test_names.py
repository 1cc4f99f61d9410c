"""Names checked where they enter (daf.paths.is_path_name): a mission file's stem becomes its id
in result paths and report rows, a bundle's name the policy's name on a server. Each command that
takes one refuses the names a study config refuses, in one line, before it writes anything."""

from __future__ import annotations

import pytest
from helpers import MISSION_FILE

from daf.errors import UserError
from daf.missions import get_mission
from daf.paths import MAX_NAME_LENGTH, NAME_PATTERN, is_path_name

pytestmark = pytest.mark.faults

MISSION = MISSION_FILE  # a working mission file: only its name is wrong
# stems a file system allows, refused in config (tests/unit/test_config.py) and so here
BAD_STEMS = ["..", "a b", "x;rm", ".hidden", "-x", "café", "m" * (MAX_NAME_LENGTH + 1)]


def _mission_file(tmp_path, stem):
    path = tmp_path / f"{stem}.py"
    path.write_text(MISSION)
    return path


def _refused(result, *needles):
    assert result.returncode == 2, result.stdout[-1000:] + result.stderr[-1000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("daf: error: "), result.stderr[-2000:]
    for needle in (*needles, NAME_PATTERN):
        assert needle in lines[0], lines[0]


def test_the_rule_bounds_length_and_alphabet():
    assert is_path_name("m" * MAX_NAME_LENGTH) and not is_path_name("m" * (MAX_NAME_LENGTH + 1))
    assert not is_path_name("café") and not is_path_name("") and is_path_name("cogs.tiny")


@pytest.mark.parametrize("stem", BAD_STEMS)
def test_a_mission_file_with_a_bad_stem_is_refused_where_it_is_loaded(tmp_path, stem):
    path = _mission_file(tmp_path, stem)
    with pytest.raises(UserError) as caught:
        get_mission(str(path))
    assert f"its id (the file's stem) {stem!r} must match" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("stem", ["..", "x;rm", "café"])
def test_commands_refuse_a_mission_file_with_a_bad_stem(daf, tmp_path, stem):
    """`daf missions` (it listed '..' as a mission id before), `daf evaluate --mission` and
    `daf train --mission` (a mission set): one line, nothing written."""
    path = _mission_file(tmp_path, stem)
    needle = f"its id (the file's stem) {stem!r} must match"
    _refused(daf("missions", "--json", str(path)), needle)
    out = tmp_path / "out"
    _refused(daf("evaluate", "--policy", "random", "--mission", str(path), "--episodes", "1", "--seed", "0",
                 "--out", str(out / "e.parquet"), "--no-progress"), needle)  # fmt: skip
    _refused(daf("train", "--mission", "forage.open", "--mission", str(path), "--steps", "64", "--seed", "0",
                 "--out", str(out / "ppo")), needle)  # fmt: skip
    assert not [p for p in out.rglob("*") if p.is_file()] if out.exists() else True


def test_a_good_stem_still_loads(daf, tmp_path):
    path = _mission_file(tmp_path, "my_mission-v2")
    result = daf("missions", "--json", str(path))
    assert result.returncode == 0 and '"name": "my_mission-v2"' in result.stdout


@pytest.mark.parametrize("name", ["..", "a/b", "x\n", "p" * (MAX_NAME_LENGTH + 1)])
def test_bundle_and_submission_names(daf, tmp_path, name):
    out = tmp_path / "b.zip"
    _refused(daf("package", "random", "--out", str(out), "--name", name), f"bundle name {name!r} must match")
    assert not out.exists()
    ok = daf("package", "random", "--out", str(out), "--name", "my-policy")
    assert ok.returncode == 0, ok.stderr

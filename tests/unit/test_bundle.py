"""Bundles (daf/ops/bundle.py): `daf package` is deterministic and its bundles play; `daf
validate-bundle` refuses tampered, incomplete and foreign bundles."""

import json
import re
import zipfile
from pathlib import Path

import pytest
from helpers import run_daf

from daf.errors import UserError
from daf.ops import bundle


def test_bundle_round_trip_is_deterministic_and_plays(checkpoint, tmp_path):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    assert run_daf("package", str(checkpoint), "--out", str(first), "--name", "mine").returncode == 0
    assert run_daf("package", str(checkpoint), "--out", str(second), "--name", "mine").returncode == 0
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert sorted(archive.namelist()) == ["daf_bundle.json", "policy_spec.json", "weights/model.pt"]
        spec = json.loads(archive.read("policy_spec.json"))
        meta = json.loads(archive.read("daf_bundle.json"))
    assert spec == {"class_path": "daf.policies.trained.TrainedPolicy", "data_path": "weights/model.pt",
                    "init_kwargs": {}, "setup_script": None}  # fmt: skip
    assert (
        meta["files"]["weights/model.pt"]["sha256"] == json.loads(checkpoint.with_suffix(".json").read_text())["sha256"]
    )
    assert meta["versions"]["mettagrid"] == "0.26.21" and meta["checkpoint"]["steps"] == 128
    result = run_daf("validate-bundle", str(first), "--missions", "cogs.tiny", "cogs.small", "--episodes", "2")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^cogs\.tiny: 2 episodes, mean reward per agent \d", result.stdout, re.M)
    assert run_daf("package", "baseline", "--out", str(tmp_path / "scripted.zip")).returncode == 0
    assert run_daf("validate-bundle", str(tmp_path / "scripted.zip"), "--missions", "forage.open").returncode == 0


def _rewrite(source: Path, target: Path, change) -> None:
    with zipfile.ZipFile(source) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    change(entries)
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def test_bad_bundles_fail_clearly(checkpoint, tmp_path):
    good = tmp_path / "good.zip"
    bundle.package(str(checkpoint), good, "mine")

    def tamper(entries):
        data = bytearray(entries["weights/model.pt"])
        data[len(data) // 2] ^= 0xFF  # one flipped byte
        entries["weights/model.pt"] = bytes(data)

    cases = {
        "tampered": (tamper, "checksum mismatch for weights/model.pt"),
        "missing": (lambda e: e.pop("weights/model.pt"), "weights/model.pt is listed in daf_bundle.json but missing"),
        "nospec": (lambda e: e.pop("policy_spec.json"), "lacks policy_spec.json"),
    }
    for name, (change, message) in cases.items():
        bad = tmp_path / f"{name}.zip"
        _rewrite(good, bad, change)
        result = run_daf("validate-bundle", str(bad))
        assert result.returncode == 2 and message in result.stderr, (name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    # a network trained on cogs.tiny cannot play forage: other observations
    result = run_daf("validate-bundle", str(good), "--missions", "forage.open")
    assert result.returncode == 2 and "was trained for other observations/actions" in result.stderr
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    assert "is not a zip file" in run_daf("validate-bundle", str(tmp_path / "junk.zip")).stderr


def _with_meta(**fields):
    def change(entries):
        meta = json.loads(entries["daf_bundle.json"])
        meta.update(fields)
        entries["daf_bundle.json"] = json.dumps(meta).encode()

    return change


def test_validate_bundle_refuses_unlisted_files_and_other_formats(bundle_zip, tmp_path):
    same = tmp_path / "same.zip"
    _rewrite(bundle_zip, same, lambda entries: None)  # rewritten, unchanged: still passes the checks
    assert bundle.read_checked(same, tmp_path / "same") == bundle.read_checked(bundle_zip, tmp_path / "orig")
    assert bundle.read_checked(same, tmp_path / "again")[1]["format"] == "daf-bundle/1"
    cases = {
        # a file outside the manifest could be imported from the extracted bundle unchecked
        "extra": (
            lambda e: e.update({"sitecustomize.py": b"print('surprise')"}),
            "contains sitecustomize.py, which daf_bundle.json does not list",
        ),
        "format": (
            _with_meta(format="daf-bundle/2"),
            "has format 'daf-bundle/2', expected 'daf-bundle/1' (repackage it with `daf package`)",
        ),
    }
    for name, (change, message) in cases.items():
        bad = tmp_path / f"{name}.zip"
        _rewrite(bundle_zip, bad, change)
        result = run_daf("validate-bundle", str(bad))
        assert result.returncode == 2, (name, result.stderr)
        assert result.stderr == f"daf: error: bundle '{bad}' failed validation: bundle '{bad}' {message}\n", name
    # the same checks in-process, with the cases a hand-edited manifest can produce
    for name, change, message in [
        ("noformat", _with_meta(format=None), "has format None, expected 'daf-bundle/1'"),
        ("notjson", lambda e: e.update({"daf_bundle.json": b"{oops"}), "daf_bundle.json is not valid JSON"),
        ("listless", _with_meta(files=[]), "daf_bundle.json has no 'files' mapping"),
    ]:
        bad = tmp_path / f"{name}.zip"
        _rewrite(bundle_zip, bad, change)
        with pytest.raises(UserError) as caught:
            bundle.read_checked(bad, tmp_path / name)
        assert str(caught.value).startswith(f"bundle '{bad}'") and message in str(caught.value), name
        assert not (tmp_path / name).exists()  # refused before anything was extracted


def test_validate_bundle_help_says_it_runs_the_policy_code():
    result = run_daf("validate-bundle", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "imports and runs the bundle's policy class" in text and "only validate bundles you trust" in text
    listing = " ".join(run_daf("--help").stdout.split())
    assert "validate-bundle" in listing and "runs its policy code" in listing

"""Policy bundles: one zip a tournament (or a colleague) can load.

Layout (cogames-compatible `policy_spec.json` at the root):

    policy_spec.json   {"class_path", "data_path": "weights/<file>" | null, "init_kwargs", "setup_script": null}
    weights/<file>     the policy's weights, if it has any
    daf_bundle.json    name, DAF / mettagrid / torch versions, the sha256 and size of every other file,
                       and, for a DAF checkpoint, its sidecar (steps, hyperparameters, mission)

The zip is deterministic (sorted entries, fixed timestamps): packaging the same policy twice
gives the same bytes. `validate` checks the format (FORMAT), that the zip holds exactly the
files daf_bundle.json lists and their checksums, then imports and runs the policy class to play
smoke episodes in a fresh Python process, so nothing from the packaging process leaks in. That
executes the bundle's code: validate only bundles you trust.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from daf.errors import UserError
from daf.io import atomic_path, package_versions
from daf.paths import is_path_name, name_rule

SPEC_FILE = "policy_spec.json"
META_FILE = "daf_bundle.json"
FORMAT = "daf-bundle/1"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip timestamps: fixed, for byte-identical bundles


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def package(spec_text: str, out: Path, name: str) -> dict:
    """Write a bundle for SPEC (a shorthand, class path, class=...,data=... or a checkpoint)."""
    from daf.policies import parse_spec

    if not is_path_name(name):  # the policy's name on a server and in result paths
        raise UserError(f"bundle name {name!r} must match {name_rule()}; pass --name")
    spec = parse_spec(spec_text)
    if out.suffix != ".zip":
        raise UserError(f"--out '{out}' must end in .zip")
    files: dict[str, bytes] = {}
    data_path = None
    sidecar = None
    if spec.data_path:
        source = Path(spec.data_path)
        data_path = f"weights/{source.name}"
        files[data_path] = source.read_bytes()
        side = source.with_suffix(".json")
        if side.is_file():  # a DAF checkpoint's sidecar (steps, hyperparameters, sha256)
            sidecar = json.loads(side.read_text())
    policy_spec = {"class_path": spec.class_path, "data_path": data_path, "init_kwargs": spec.init_kwargs,
                   "setup_script": None}  # fmt: skip
    files[SPEC_FILE] = json.dumps(policy_spec, indent=2, sort_keys=True).encode()
    meta = {
        "format": FORMAT,
        "name": name,
        "spec": spec.text,
        "versions": {k: v for k, v in package_versions().items() if k in ("python", "daf", "mettagrid", "torch")},
        "files": {path: {"sha256": _sha256(data), "bytes": len(data)} for path, data in sorted(files.items())},
        "checkpoint": sidecar,
    }
    files[META_FILE] = json.dumps(meta, indent=2, sort_keys=True).encode()
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[path])
    return meta


def read_checked(bundle: Path, extract_to: Path) -> tuple[dict, dict]:
    """Extract a bundle and check it: files present, checksums equal. Returns (spec, meta)."""
    if not bundle.is_file():
        raise UserError(f"bundle '{bundle}' does not exist")
    try:
        archive = zipfile.ZipFile(bundle)
    except zipfile.BadZipFile:
        raise UserError(f"bundle '{bundle}' is not a zip file") from None
    with archive:
        names = set(archive.namelist())
        for needed in (SPEC_FILE, META_FILE):
            if needed not in names:
                raise UserError(f"bundle '{bundle}' lacks {needed} (was it made by `daf package`?)")
        for name in names:
            if name.startswith("/") or ".." in Path(name).parts:
                raise UserError(f"bundle '{bundle}' has an unsafe path '{name}'")
        try:
            meta = json.loads(archive.read(META_FILE))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise UserError(f"bundle '{bundle}': {META_FILE} is not valid JSON") from None
        found = meta.get("format") if isinstance(meta, dict) else None
        if found != FORMAT:
            raise UserError(f"bundle '{bundle}' has format {found!r}, expected '{FORMAT}' "
                            "(repackage it with `daf package`)")  # fmt: skip
        if not isinstance(meta.get("files"), dict):
            raise UserError(f"bundle '{bundle}': {META_FILE} has no 'files' mapping")
        # only checksummed files may ride along: an unlisted one (e.g. a .py the policy imports) escapes the checks
        unlisted = sorted(n for n in names if n != META_FILE and n not in meta["files"] and not n.endswith("/"))
        if unlisted:
            more = f" (and {len(unlisted) - 1} more)" if len(unlisted) > 1 else ""
            raise UserError(f"bundle '{bundle}' contains {unlisted[0]}, which {META_FILE} does not list{more}")
        for path, expected in meta["files"].items():
            if path not in names:
                raise UserError(f"bundle '{bundle}': {path} is listed in {META_FILE} but missing")
            actual = _sha256(archive.read(path))
            if actual != expected["sha256"]:
                raise UserError(f"bundle '{bundle}': checksum mismatch for {path} "
                                f"(expected {expected['sha256'][:12]}…, got {actual[:12]}…)")  # fmt: skip
        archive.extractall(extract_to)
    spec = json.loads((extract_to / SPEC_FILE).read_text())
    if spec.get("data_path") and not (extract_to / spec["data_path"]).is_file():
        raise UserError(f"bundle '{bundle}': {SPEC_FILE} names {spec['data_path']}, which is not in the bundle")
    return spec, meta


def smoke(bundle: Path, missions: list[str], episodes: int) -> dict:
    """Inside the fresh process: check, load, play. Returns per-mission mean rewards."""
    import tempfile

    from daf.evaluation.episodes import Seat, mission_env_info, run_episodes
    from daf.missions import get_mission
    from daf.policies import PolicySpec
    from daf.policies.actors import build_actor

    bundle = Path(bundle)
    with tempfile.TemporaryDirectory() as tmp:
        spec, meta = read_checked(bundle, Path(tmp))
        data = str(Path(tmp) / spec["data_path"]) if spec.get("data_path") else None
        policy = PolicySpec(spec["class_path"], data, dict(spec.get("init_kwargs") or {}), meta.get("spec", ""))
        results = {}
        for name in missions:
            mission = get_mission(name)
            actor = build_actor(policy, mission_env_info(mission), seed=0)
            frame = run_episodes(mission, Seat(meta.get("name", "bundle"), actor), episodes, base_seed=0,
                                 num_envs=min(episodes, 8))  # fmt: skip
            results[name] = {"episodes": episodes, "mean_reward": float(frame["reward"].mean())}
    return {"bundle": str(bundle), "name": meta.get("name"), "missions": results}


def validate(bundle: Path, missions: list[str], episodes: int) -> dict:
    """Run `smoke` in a fresh subprocess; its one-line error becomes ours."""
    code = ("import json, sys; from daf.ops.bundle import smoke; from daf.errors import UserError\n"
            "try:\n    print(json.dumps(smoke(sys.argv[1], sys.argv[3:], int(sys.argv[2]))))\n"
            "except UserError as exc:\n    print(f'daf: error: {exc}', file=sys.stderr); sys.exit(2)\n")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code, str(bundle), str(episodes), *missions],
                            capture_output=True, text=True, timeout=1800)  # fmt: skip
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        message = lines[-1] if lines else f"exit status {result.returncode}"
        raise UserError(f"bundle '{bundle}' failed validation: {message.removeprefix('daf: error: ')}")
    return json.loads(result.stdout.strip().splitlines()[-1])

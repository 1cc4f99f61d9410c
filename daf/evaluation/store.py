"""An evaluation store shared by studies: a played evaluation chunk, kept under a content key
of everything its table depends on, is copied instead of played wherever the same chunk is
needed again (another study, another directory, another config).

The key is the sha256 of a canonical JSON description (`chunk_description`):
- every seat's policy: the class path and its init arguments, the sha256 of its data file
  (a checkpoint: retrained to other weights, it never matches), and the code of its class
  (the distribution's version and the sha256 of the class's module source);
- the label it plays under (the table's `policy` column), the run (`run` column);
- the mission: name and config fingerprint (config JSON + success criterion);
- the episodes: base seed, first episode, count, and so the episode seeds;
- mixed episodes: the candidate's agent count, the pool's specs, weights and labels;
- the replays recorded, the lockstep batch (`num_envs`), the torch device;
- DAF's evaluation rule version (RULE_VERSIONS["evaluate"]) and the engine's version.

An entry is a directory `entries/KEY[:2]/KEY/` holding the table, the provenance sidecar of
the play that made it, its replays, `description.json` and `manifest.json` (sha256 and size
of every file). An entry is written in a temp directory and renamed into place: concurrent
writers of one key leave one winner (the others' identical bytes are dropped). Every read
checks the manifest first: a corrupt entry is never served (it is replayed and replaced).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from daf.errors import UserError

STORE_ENV = "DAF_STORE"
TABLE, SIDECAR, REPLAYS = "table.parquet", "sidecar.json", "replays"
DESCRIPTION, MANIFEST = "description.json", "manifest.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_CODE_CACHE: dict[str, dict] = {}


def class_code(class_path: str) -> dict:
    """The code a policy class runs: its distribution's version and its module's sha256."""
    if class_path not in _CODE_CACHE:
        import importlib.metadata
        import importlib.util

        module = class_path.rsplit(".", 1)[0]
        top = module.split(".")[0]
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        origin = Path(spec.origin) if spec is not None and spec.origin and spec.origin != "built-in" else None
        distributions = importlib.metadata.packages_distributions().get(top, [])
        version = None
        for name in distributions:
            try:
                version = importlib.metadata.version(name)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
        _CODE_CACHE[class_path] = {
            "distribution": distributions[0] if distributions else None,
            "version": version,
            "module_sha256": sha256_file(origin) if origin is not None and origin.is_file() else None,
        }
    return _CODE_CACHE[class_path]


def policy_identity(spec) -> dict:
    """What a seat's play depends on, of a parsed SPEC (daf.policies.PolicySpec)."""
    data = None
    if spec.data_path:
        path = Path(spec.data_path)
        if not path.is_file():
            raise UserError(f"checkpoint file '{spec.data_path}' (policy spec '{spec.text}') does not exist")
        data = sha256_file(path)
    return {"class_path": spec.class_path, "init_kwargs": spec.init_kwargs, "data_sha256": data,
            "code": class_code(spec.class_path)}  # fmt: skip


def chunk_description(request, mission, candidate_spec, candidate_label: str, pool: list[tuple]) -> dict:
    """The canonical description of an evaluation chunk (see the module docstring). `pool` is
    [(spec, weight, label), ...] of the replacement policies."""
    from daf.evaluation.episodes import episode_seed
    from daf.io import package_versions
    from daf.versions import RULE_VERSIONS

    episodes = range(request.first_episode, request.first_episode + request.episodes)
    return {
        "format": "daf-store/1",
        "policy": policy_identity(candidate_spec), "label": candidate_label, "run": request.run,
        "mission": {"name": mission.name, "sha256": mission.fingerprint()},
        "base_seed": request.seed, "first_episode": request.first_episode, "episodes": request.episodes,
        "episode_seeds": [episode_seed(request.seed, k) for k in episodes],
        "candidate_agents": request.candidate_agents,
        "replacement": [{"policy": policy_identity(s), "weight": float(w), "label": label} for s, w, label in pool],
        "replays": request.replays, "num_envs": request.num_envs, "device": request.device,
        "evaluate_version": RULE_VERSIONS["evaluate"], "mettagrid": package_versions().get("mettagrid"),
    }  # fmt: skip


def content_key(description: dict) -> str:
    return hashlib.sha256(json.dumps(description, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    key: str
    path: Path

    @property
    def description(self) -> dict:
        return json.loads((self.path / DESCRIPTION).read_text())

    def problems(self) -> list[str]:
        """What is wrong with the entry's files (empty when every checksum matches)."""
        manifest_path = self.path / MANIFEST
        if not manifest_path.is_file():
            return ["no manifest.json"]
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError:
            return ["manifest.json is not JSON"]
        found = []
        for name, meta in sorted(manifest["files"].items()):
            file = self.path / name
            if not file.is_file():
                found.append(f"{name} is missing")
            elif file.stat().st_size != meta["size"] or sha256_file(file) != meta["sha256"]:
                found.append(f"{name} does not match its sha256")
        if (self.path / DESCRIPTION).is_file() and content_key(self.description) != self.key:
            found.append("description.json does not hash to the key")
        return found


class Store:
    """A directory of evaluation chunks by content key (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"store '{self.root}' is not a directory")

    @classmethod
    def from_env(cls, explicit: str | Path | None = None) -> Store | None:
        """The store given explicitly, else $DAF_STORE, else None (off)."""
        root = explicit or os.environ.get(STORE_ENV) or None
        return cls(root) if root else None

    def entry(self, key: str) -> Entry:
        return Entry(key, self.root / "entries" / key[:2] / key)

    def entries(self) -> list[Entry]:
        base = self.root / "entries"
        return [Entry(p.name, p) for p in sorted(base.glob("*/*")) if p.is_dir()] if base.is_dir() else []

    def get(self, key: str) -> Entry | None:
        """The entry of `key` when it exists and every checksum matches; else None."""
        entry = self.entry(key)
        if not entry.path.is_dir() or entry.problems():
            return None
        return entry

    def put(self, key: str, description: dict, table: Path, sidecar: Path, replays: list[Path]) -> Entry:
        """Store a played chunk (atomic: one winner per key; a corrupt entry is replaced)."""
        final = self.entry(key)
        staging = self.root / "tmp" / f"{key}.{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            shutil.copy2(table, staging / TABLE)  # copy2: the entry keeps the table's mtime
            shutil.copy2(sidecar, staging / SIDECAR)
            if replays:
                (staging / REPLAYS).mkdir()
                for replay in replays:
                    shutil.copy2(replay, staging / REPLAYS / replay.name)
            (staging / DESCRIPTION).write_text(json.dumps(description, indent=2, sort_keys=True) + "\n")
            files = {str(p.relative_to(staging)): {"sha256": sha256_file(p), "size": p.stat().st_size}
                     for p in sorted(staging.rglob("*")) if p.is_file()}  # fmt: skip
            (staging / MANIFEST).write_text(json.dumps({"key": key, "files": files}, indent=2, sort_keys=True) + "\n")
            final.path.parent.mkdir(parents=True, exist_ok=True)
            if final.path.is_dir() and final.problems():  # corrupt: move it aside, then take its place
                shutil.rmtree(final.path.rename(self.root / "tmp" / f"corrupt.{key}.{uuid.uuid4().hex}"))
            try:
                staging.rename(final.path)
            except OSError:  # another writer won the rename: its bytes are ours
                shutil.rmtree(staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return final

    def serve(self, entry: Entry, out: Path, replay_dir: Path | None) -> dict:
        """Copy an entry's table to `out` and its replays to `replay_dir`; returns its sidecar."""
        from daf.io import write_atomic

        write_atomic(out, lambda tmp: shutil.copyfile(entry.path / TABLE, tmp))
        replays = sorted((entry.path / REPLAYS).glob("*")) if (entry.path / REPLAYS).is_dir() else []
        if replays:
            replay_dir.mkdir(parents=True, exist_ok=True)
            for replay in replays:
                write_atomic(replay_dir / replay.name, lambda tmp, r=replay: shutil.copyfile(r, tmp))
        return json.loads((entry.path / SIDECAR).read_text())

    def listing(self) -> list[dict]:
        """One row per entry: key, label, policy class, mission, episodes, run, bytes."""
        rows = []
        for entry in self.entries():
            try:
                d = entry.description
            except (OSError, json.JSONDecodeError):
                d = {}
            rows.append({
                "key": entry.key, "label": d.get("label"), "class_path": (d.get("policy") or {}).get("class_path"),
                "mission": (d.get("mission") or {}).get("name"), "base_seed": d.get("base_seed"),
                "first_episode": d.get("first_episode"), "episodes": d.get("episodes"), "run": d.get("run"),
                "candidate_agents": d.get("candidate_agents"),
                "bytes": sum(p.stat().st_size for p in entry.path.rglob("*") if p.is_file()),
            })  # fmt: skip
        return rows

    def verify(self) -> list[dict]:
        """Every entry's checksums recomputed: {key, ok, problems}."""
        return [{"key": e.key, "ok": not (p := e.problems()), "problems": p} for e in self.entries()]

    def gc(self, studies: list[Path], dry_run: bool = False) -> list[str]:
        """Remove the entries no listed study uses (a study uses the keys its evaluation
        sidecars record); returns the removed keys."""
        used = set()
        for study in studies:
            results = Path(study) / "results"
            if not results.is_dir():
                raise UserError(f"--study '{study}' has no results/ (gc keeps the entries of the studies listed)")
            for sidecar in results.rglob("*.json"):
                try:
                    data = json.loads(sidecar.read_text())
                except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                    continue
                if isinstance(data, dict) and isinstance(data.get("store"), dict):
                    used.add(data["store"].get("key"))
        removed = [e.key for e in self.entries() if e.key not in used]
        if not dry_run:
            for key in removed:
                shutil.rmtree(self.entry(key).path)
        return removed

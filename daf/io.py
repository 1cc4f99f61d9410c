"""Atomic writes and provenance.

Outputs are written to a temporary file in the target directory and renamed into
place, so a crash or a user error never leaves a partial file under the final name. A
write into a study's `results/` never goes through a symlink inside it that leads out of it
(`results/` itself may be a link, e.g. to a scratch disk).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from daf.errors import UserError
from daf.paths import RESULTS

PACKAGES = ("daf", "mettagrid", "torch", "numpy", "pandas", "pyarrow", "scipy", "snakemake", "pufferlib-core")


def check_inside_results(path: Path) -> None:
    """Refuse to write `path` when it lies under a `results/` directory but a symlink inside that
    directory leads the write out of it (a link planted in a shared results tree must not make
    DAF overwrite files elsewhere)."""
    parts = path.parts
    if RESULTS not in parts[:-1]:
        return
    root = Path(*parts[: parts.index(RESULTS) + 1])
    parent = path.parent
    while not parent.exists() and parent != root:  # the nearest existing ancestor decides
        parent = parent.parent
    try:
        inside = parent.resolve() == root.resolve() or root.resolve() in parent.resolve().parents
    except OSError:
        return  # unresolvable (a loop, permissions): the write itself reports it
    if not inside:
        raise UserError(f"cannot write output '{path}': a symlink inside {root}/ leads to {parent.resolve()}, "
                        f"outside it; DAF does not write through it (link {root}/ itself to move results "
                        "elsewhere)")  # fmt: skip


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it to `path` only on success."""
    path = Path(path)
    check_inside_results(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write output '{path}': {exc.strerror or exc}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600 files; results are shared
        os.replace(tmp_path, path)
    except OSError as exc:  # a full disk, a quota, a read-only or failing file system: one line, no partial file
        reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
        raise UserError(f"cannot write output '{path}': {reason}") from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def warn(text: str) -> None:
    """A one-line warning on stderr: the run goes on."""
    print(f"daf: warning: {text}", file=sys.stderr, flush=True)


NAME_MAX = 255  # bytes in one path component on Linux file systems
TEMP_ROOM = 24  # what atomic_path's temporary name adds around it (".NAME.xxxxxxxx.tmp")


def ensure_writable(path: str | Path) -> None:
    """Fail before the work, not after it, when `path` cannot be written."""
    path = Path(path)
    long = [part for part in path.parts if len(os.fsencode(part)) > NAME_MAX - TEMP_ROOM]
    if long:
        raise UserError(f"cannot write output '{path}': the name '{long[0][:40]}...' is {len(os.fsencode(long[0]))} "
                        f"bytes; at most {NAME_MAX - TEMP_ROOM} fit (the file system's {NAME_MAX}, less room for the "
                        "temporary file it is written to first)")  # fmt: skip
    check_inside_results(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        writable, is_dir = os.access(path.parent, os.W_OK), path.is_dir()
    except OSError as exc:
        raise UserError(f"cannot write output '{path}': {exc.strerror or exc}") from None
    if not writable or is_dir:
        reason = "is a directory" if is_dir else "directory is not writable"
        raise UserError(f"cannot write output '{path}': {reason}")


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> None:
    with atomic_path(path) as tmp:
        write(tmp)


def write_text(path: str | Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text))


def write_json(path: str | Path, data: object) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet(path: str | Path, frame: pd.DataFrame) -> None:
    """Deterministic parquet: same frame, same bytes (no timestamps in the file)."""
    write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd"))


SHA_KEY = "table_sha256"  # a table's sha256 in its provenance sidecar (TABLE.json beside TABLE.parquet)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sidecar(path: str | Path) -> None:
    """When `path`'s provenance sidecar records the table's sha256, the table must match it: a
    table and its sidecar are written one after the other, so an interrupted or concurrent run can
    leave a table whose sidecar describes another one. Such a table is never read."""
    sidecar = Path(path).with_suffix(".json")
    try:
        recorded = json.loads(sidecar.read_text()).get(SHA_KEY) if sidecar.is_file() else None
    except (OSError, ValueError, AttributeError):
        return  # not a DAF sidecar
    if isinstance(recorded, str) and recorded != file_sha256(path):
        raise UserError(f"'{path}' does not match the sha256 its sidecar '{sidecar}' records (an interrupted or "
                        "concurrent run wrote one of them); rerun the job that makes it (snakemake "
                        "--rerun-incomplete, or delete both files)")  # fmt: skip


def read_parquets(paths: list[str | Path]) -> pd.DataFrame:
    frames = []
    for p in paths:
        if not Path(p).is_file():
            raise UserError(f"evaluation file '{p}' does not exist (the `evaluate` rule makes it)")
        check_sidecar(p)
        try:
            frames.append(pd.read_parquet(p))
        except Exception as exc:  # corrupt or not parquet
            raise UserError(f"cannot read evaluation file '{p}': {type(exc).__name__}: {exc}") from None
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(cwd: str | Path | None = None) -> str:
    """HEAD of the repository at cwd, '+dirty' when tracked files changed; 'unknown' outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, desc: str, enabled: bool, initial: int = 0, unit: str = "it"):
    """A tqdm bar on an interactive terminal, a silent stand-in otherwise (logs, CI, Snakemake)."""
    if not enabled or not sys.stderr.isatty():
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, unit_scale=True, file=sys.stderr)


def json_records(frame: pd.DataFrame) -> list[dict]:
    """A table as JSON records that any parser reads: NaN and NA as null, infinities as the
    strings "inf" / "-inf" (JSON has no Infinity), numpy scalars as Python ones."""
    import math

    out = []
    for record in frame.to_dict("records"):
        clean = {}
        for key, value in record.items():
            if value is pd.NA or value is None:
                value = None
            elif isinstance(value, (float, np.floating)):
                value = float(value)
                if math.isnan(value):
                    value = None
                elif math.isinf(value):
                    value = "inf" if value > 0 else "-inf"
            elif isinstance(value, np.integer):
                value = int(value)
            elif isinstance(value, np.bool_):
                value = bool(value)
            clean[key] = value
        out.append(clean)
    return out

"""DAF checkpoints: data, never code.

A checkpoint is a `torch.save`d dict of tensors and plain values, always read back with
`torch.load(weights_only=True)`, so a file that would execute code when unpickled is
refused. Every file is written atomically (temp file + rename) next to a JSON sidecar
that records its sha256; a checkpoint whose bytes do not match is treated as corrupt.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import torch

from daf.errors import UserError
from daf.io import write_atomic, write_json

FORMAT = "daf-policy/1"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save(path: str | Path, payload: dict[str, Any], sidecar: dict[str, Any]) -> str:
    """Write `payload` atomically, then its sidecar (with the payload's sha256). Returns the sha."""
    path = Path(path)
    write_atomic(path, lambda tmp: torch.save(payload, tmp))
    digest = sha256_file(path)
    write_json(path.with_suffix(".json"), {**sidecar, "sha256": digest, "file": path.name})
    return digest


def load(path: str | Path, verify_sidecar: bool = False) -> dict[str, Any]:
    """Load a checkpoint as data; one-line `UserError` for anything wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint file '{path}' does not exist")
    if verify_sidecar:
        sidecar = path.with_suffix(".json")
        try:
            expected = json.loads(sidecar.read_text())["sha256"]
        except (OSError, ValueError, KeyError):
            raise UserError(f"checkpoint '{path}' has no valid sidecar {sidecar.name}") from None
        if sha256_file(path) != expected:
            raise UserError(f"checkpoint '{path}' does not match the sha256 in {sidecar.name} (corrupt or truncated)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unpickling refused"
        raise UserError(f"checkpoint '{path}' was refused: it is not plain data ({first})") from None
    except Exception as exc:  # truncated zip, not a torch file, ...
        raise UserError(f"checkpoint '{path}' is corrupt or not a torch file: {type(exc).__name__}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(
            f"'{path}' is not a DAF checkpoint (format {FORMAT}); for mettagrid policies use class=...,data={path}"
        )
    return payload

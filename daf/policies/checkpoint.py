"""DAF checkpoints: data, never code.

A checkpoint is a `torch.save`d dict of tensors and plain values, always read back with
`torch.load(weights_only=True)`, so a file that would execute code when unpickled is
refused. Every file is written atomically (temp file + rename) next to a JSON sidecar
that records its sha256; a checkpoint whose bytes do not match it is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from pathlib import Path
from typing import Any

import torch

from daf.errors import UserError
from daf.io import file_sha256, warn, write_atomic, write_json

FORMAT = "daf-policy/1"


sha256_file = file_sha256  # a file's sha256, read in 1 MB blocks (one implementation, in daf.io)


def save(path: str | Path, payload: dict[str, Any], sidecar: dict[str, Any]) -> str:
    """Write `payload` atomically, then its sidecar (with the payload's sha256). Returns the sha."""
    path = Path(path)
    # serialised in memory: given a file, torch.save names the zip's root folder after it, and
    # the temp file's random name would make every rerun's bytes differ
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    write_atomic(path, lambda tmp: tmp.write_bytes(data))
    digest = hashlib.sha256(data).hexdigest()
    write_json(path.with_suffix(".json"), {**sidecar, "sha256": digest, "file": path.name})
    return digest


def load(path: str | Path, verify_sidecar: bool | None = None) -> dict[str, Any]:
    """Load a checkpoint as data; one-line `UserError` for anything wrong with the file.

    Its bytes are checked against the sha256 in its sidecar (`model.pt` -> `model.json`)
    whenever the sidecar exists; a mismatch refuses to load. Without a sidecar it loads with
    a warning, unless `verify_sidecar=True` requires one (periodic checkpoints, which DAF
    alone writes)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint file '{path}' does not exist")
    sidecar = path.with_suffix(".json")
    if sidecar.is_file() or verify_sidecar:
        try:
            expected = json.loads(sidecar.read_text())["sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            raise UserError(f"checkpoint '{path}' has no valid sidecar {sidecar.name} (with its sha256)") from None
        if sha256_file(path) != expected:
            raise UserError(
                f"checkpoint '{path}' does not match the sha256 in {sidecar.name} (corrupt, truncated or replaced)"
            )
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
    if not sidecar.is_file():  # after loading: a refused file gets its one error line, no warning
        warn(f"checkpoint '{path}' has no sidecar {sidecar.name}: its bytes are not checked")
    return payload

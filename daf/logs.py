"""Structured logs: JSON lines a machine can read, beside the human-readable log.

`daf --log-json FILE COMMAND ...` appends one JSON object per line to FILE: a `start` record
(the command line), the command's own phase records, and an `end` record with the status,
the duration and the command's key metrics. Snakemake rules pass their `log.json` file; the
report's resources section joins these records with the rules' `benchmark:` TSVs.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path


class EventLog:
    def __init__(self, path: str | Path | None, command: str):
        self.command = command
        self.path = Path(path) if path else None
        self.started = time.perf_counter()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def event(self, phase: str, **fields) -> None:
        if self.path is None:
            return
        record = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "command": self.command,
            "phase": phase,
            "elapsed_s": round(time.perf_counter() - self.started, 3),
            **fields,
        }
        with self.path.open("a") as handle:  # one write per record: lines never interleave
            handle.write(json.dumps(record, default=str, sort_keys=True) + "\n")


def read_events(path: str | Path) -> list[dict]:
    events = []
    for line in Path(path).read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a killed job
    return events


def job_summaries(directory: str | Path) -> dict[str, dict]:
    """Job (log path relative to `directory`, without suffix) -> its last `end` record."""
    directory = Path(directory)
    out = {}
    if not directory.is_dir():
        return out
    for path in sorted(directory.rglob("*.jsonl")):
        ends = [e for e in read_events(path) if e.get("phase") == "end"]
        if ends:
            out[str(path.relative_to(directory).with_suffix(""))] = ends[-1]
    return out

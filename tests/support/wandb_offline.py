"""Reading a W&B offline run back (tests only): the run file is W&B's record log, a 7-byte
header (":W&B", magic 0xBEE1, version) then LevelDB-log blocks of 32 KiB whose records
(crc32, length, type: full/first/middle/last) hold `wandb_internal_pb2.Record` protobufs."""

import json
import struct
from pathlib import Path

BLOCK = 32768
HEADER = 7


def records(path: Path) -> list:
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    out, pending, offset = [], b"", HEADER
    while offset + HEADER <= len(data):
        left = BLOCK - offset % BLOCK
        if left < HEADER:  # the rest of a block too small for a header is padding
            offset += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[offset : offset + HEADER])
        chunk = data[offset + HEADER : offset + HEADER + length]
        offset += HEADER + length
        if kind == 0 and length == 0:
            break
        pending += chunk
        if kind in (1, 4):  # full, last
            record = pb.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def history(run_dir: Path) -> list[dict]:
    """Every `run.log` of an offline run directory: {key: value} with `_step`."""
    (run_file,) = sorted(Path(run_dir).glob("run-*.wandb"))
    rows = []
    for record in records(run_file):
        if record.WhichOneof("record_type") == "history":
            rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                         for item in record.history.item})  # fmt: skip
    return rows


def run_info(run_dir: Path) -> dict:
    """The run record: name, project and config ({key: value})."""
    (run_file,) = sorted(Path(run_dir).glob("run-*.wandb"))
    (run,) = [r.run for r in records(run_file) if r.WhichOneof("record_type") == "run"]
    config = {item.key: json.loads(item.value_json) for item in run.config.update if item.key != "_wandb"}
    return {"name": run.display_name, "project": run.project, "config": config}


def exit_code(run_dir: Path) -> int:
    (run_file,) = sorted(Path(run_dir).glob("run-*.wandb"))
    (done,) = [r.exit for r in records(run_file) if r.WhichOneof("record_type") == "exit"]
    return done.exit_code

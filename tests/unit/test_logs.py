"""Structured logs (daf/logs.py): every command writes JSON lines with `--log-json`."""

import json

from helpers import run_daf


def test_every_command_logs_json_lines(tmp_path, checkpoint):
    log = tmp_path / "logs" / "evaluate.jsonl"
    out = tmp_path / "evals.parquet"
    result = run_daf("--log-json", str(log), "evaluate", "--policy", "random", "--mission", "cogs.tiny",
                     "--episodes", "2", "--seed", "0", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["phase"] for e in events] == ["start", "end"]
    assert all(e["command"] == "evaluate" and e["timestamp"].endswith("+00:00") for e in events)
    end = events[-1]
    assert end["status"] == "ok" and end["duration_s"] > 0
    assert end["metrics"]["rows"] == 4 and end["metrics"]["agent_steps_per_second"] > 0
    assert "wrote" in result.stderr  # the human-readable line still goes to the terminal
    bad_log = tmp_path / "bad.jsonl"
    bad = run_daf("--log-json", str(bad_log), "evaluate", "--policy", "nope", "--mission", "cogs.tiny", "--episodes",
                  "1", "--seed", "0", "--out", str(tmp_path / "x.parquet"))  # fmt: skip
    assert bad.returncode == 2
    end = json.loads(bad_log.read_text().splitlines()[-1])
    assert end["status"] == "error" and "unknown policy 'nope'" in end["error"]

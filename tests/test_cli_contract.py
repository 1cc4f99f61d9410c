"""The CLI contract only grows: commands renamed for clarity keep their first names as
aliases that reach the same handler, and both write the same bytes."""

import hashlib

import numpy as np
import pandas as pd
import pytest

from daf.cli import build_parser, main

RENAMED = [  # (new name, first name, required flags)
    (["leaderboard"], ["summarize"], ["--evals", "e.parquet", "--out", "o.parquet"]),
    (["curves-aggregate"], ["curves-summary"], ["--curves", "c.parquet", "--out", "o"]),
    (["analysis-aggregate"], ["analysis-summary"], ["--analyses", "a.parquet", "--out", "o"]),
    (["sweep", "rank"], ["sweep", "summarize"], ["--sweep-json", "{}", "--runs", "r.json", "--out", "o"]),
]


@pytest.mark.parametrize("new, old, flags", RENAMED)
def test_first_names_are_aliases_of_the_new_ones(new, old, flags):
    parser = build_parser()
    assert parser.parse_args([*new, *flags]).func is parser.parse_args([*old, *flags]).func


def test_leaderboard_and_summarize_write_the_same_bytes(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "policy": np.repeat(["a", "b"], 6), "mission": "m", "episode": np.tile(range(6), 2),
        "seed": np.tile(range(6), 2), "agent": 0, "reward": rng.normal(size=12), "success": rng.random(12) > 0.5,
    })  # fmt: skip
    evals = tmp_path / "e.parquet"
    frame.to_parquet(evals)
    digests = []
    for name in ("leaderboard", "summarize"):
        out = tmp_path / f"{name}.parquet"
        assert main([name, "--evals", str(evals), "--out", str(out), "--reps", "200"]) == 0
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    table = pd.read_parquet(tmp_path / "leaderboard.parquet")
    assert list(table["episodes"]) == [6, 6]
    assert table["mean"].tolist() == pytest.approx(frame.groupby("policy")["reward"].mean().tolist())

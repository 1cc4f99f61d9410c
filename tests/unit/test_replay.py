"""Replays: recording changes nothing that is played; rendering is headless and deterministic."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from daf.cli import main
from daf.errors import UserError
from daf.evaluation.replays import load, write_gif, write_strip


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay")
    args = [
        "evaluate",
        "--policy",
        "baseline",
        "--mission",
        "cogs.scarce",
        "--episodes",
        "3",
        "--seed",
        "4",
        "--no-progress",
    ]
    assert main([*args, "--out", str(root / "plain.parquet")]) == 0
    assert main([*args, "--out", str(root / "rec.parquet"), "--replays", "2"]) == 0
    return root


def test_recording_does_not_change_results(recorded):
    plain = (recorded / "plain.parquet").read_bytes()
    assert plain == (recorded / "rec.parquet").read_bytes()
    assert sorted(p.name for p in (recorded / "rec.replays").iterdir()) == ["episode_0000.npz", "episode_0001.npz"]


def test_replay_content(recorded):
    replay = load(recorded / "rec.replays/episode_0000.npz")
    height, width = replay["size"]
    assert (height, width) == (15, 15)
    offsets, objects = replay["offsets"], replay["objects"]
    assert len(offsets) - 1 == 601  # initial state + 600 steps
    agents = objects[objects[:, 4] >= 0]
    assert set(agents[:, 4]) == {0, 1, 2, 3}
    assert agents[:, 1].min() >= 1 and agents[:, 1].max() <= height - 2  # inside the border walls
    assert len(replay["walls"]) >= 2 * (height + width) - 4
    frame = pd.read_parquet(recorded / "rec.parquet").query("episode == 0")
    assert replay["rewards"][-1] == pytest.approx(frame["reward"].to_numpy())  # final rewards match the table
    stock = objects[(objects[:, 4] < 0) & (objects[:, 3] > 0)]
    assert len(stock)  # scarce extractors show their stock (and run dry)
    assert str(replay["policies"][0]) == "baseline"


def test_render_gif_and_strip_deterministic(recorded, tmp_path):
    replay = load(recorded / "rec.replays/episode_0000.npz")
    a, b = tmp_path / "a.gif", tmp_path / "b.gif"
    assert write_gif(replay, a, every=5, max_frames=50) == 50
    write_gif(replay, b, every=5, max_frames=50)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    with Image.open(a) as gif:
        assert gif.n_frames == 50 and gif.size == (15 * 8, 15 * 8)
        first = np.asarray(gif.convert("RGB"))
        assert first.std() > 10  # not a blank frame
    strip = tmp_path / "s.png"
    assert write_strip(replay, strip, count=4, cell=6) == 4
    with Image.open(strip) as image:
        assert image.size == (4 * 15 * 6 + 3 * 4, 15 * 6)


def test_render_errors(tmp_path, daf, recorded):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="is not a DAF replay"):
        load(bad)
    result = daf("render", str(recorded / "rec.replays/episode_0000.npz"), "--out", str(tmp_path / "x.mp4"))
    assert result.returncode == 2 and "must end in .gif" in result.stderr
    result = daf("render", str(tmp_path / "none.npz"), "--out", str(tmp_path / "x.gif"))
    assert result.returncode == 2 and "does not exist" in result.stderr and not (tmp_path / "x.gif").exists()

"""The evaluation store: content keys, serving byte-identical tables instead of playing, a
corrupt entry never served, concurrent writers, gc, and `daf query` over stores and studies."""

import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from helpers import run_daf

from daf.errors import UserError
from daf.evaluation.request import EvaluationRequest, evaluate_to_file, store_key
from daf.evaluation.store import Store
from daf.missions import get_mission

REQUEST = EvaluationRequest(policy="baseline", mission="cogs.tiny", episodes=2, seed=3, label="baseline", num_envs=2)


def key(request=REQUEST, mission="cogs.tiny"):
    return store_key(request, get_mission(mission))[0]


def test_key_changes_with_everything_the_table_depends_on(monkeypatch, checkpoint, tmp_path):
    base = key()
    assert key() == base  # stable
    changed = {
        "label": key(replace(REQUEST, label="scripted")),
        "run": key(replace(REQUEST, run=1)),
        "seed": key(replace(REQUEST, seed=4)),
        "episodes": key(replace(REQUEST, episodes=3)),
        "first episode": key(replace(REQUEST, first_episode=1)),
        "policy": key(replace(REQUEST, policy="random")),
        "mission": key(replace(REQUEST, mission="cogs.small"), "cogs.small"),
        "pool": key(replace(REQUEST, candidate_agents=1, replacement=["random"])),
        "replays": key(replace(REQUEST, replays=1)),
    }
    assert base not in changed.values() and len(set(changed.values())) == len(changed)
    from daf import versions

    monkeypatch.setitem(versions.RULE_VERSIONS, "evaluate", versions.RULE_VERSIONS["evaluate"] + 1)
    assert key() != base  # a new evaluation rule version never matches old entries
    monkeypatch.undo()
    retrained = tmp_path / "retrained.pt"
    shutil.copyfile(checkpoint, retrained)
    with open(retrained, "ab") as handle:
        handle.write(b"other weights")
    same_spec = replace(REQUEST, policy=str(checkpoint), label="ppo")
    assert key(same_spec) != key(replace(same_spec, policy=str(retrained)))  # other weights: another key


def test_a_stored_chunk_is_served_byte_identical_with_its_replay(tmp_path):
    store = Store(tmp_path / "store")
    request = replace(REQUEST, replays=1)
    first = evaluate_to_file(request, tmp_path / "a/t.parquet", "first", store=store)
    assert first["reused"] is False and len(store.entries()) == 1
    second = evaluate_to_file(request, tmp_path / "b/t.parquet", "second", store=store)
    assert second["reused"] is True and second["store_key"] == store.entries()[0].key
    assert (tmp_path / "a/t.parquet").read_bytes() == (tmp_path / "b/t.parquet").read_bytes()
    replay = "t.replays/episode_0000.npz"
    assert (tmp_path / "a" / replay).read_bytes() == (tmp_path / "b" / replay).read_bytes()
    sidecar = json.loads((tmp_path / "b/t.json").read_text())
    assert sidecar["store"] == {"key": second["store_key"], "reused": True, "command": "second"}
    assert sidecar["command"] == "first"  # the provenance of the play that made it
    played = evaluate_to_file(request, tmp_path / "c/t.parquet", "third")  # no store: played
    assert played["reused"] is False
    assert (tmp_path / "c/t.parquet").read_bytes() == (tmp_path / "a/t.parquet").read_bytes()


def test_a_corrupt_entry_is_reported_replayed_and_replaced(tmp_path):
    root = tmp_path / "store"
    evaluate_to_file(REQUEST, tmp_path / "a.parquet", "x", store=Store(root))
    entry = Store(root).entries()[0]
    table = entry.path / "table.parquet"
    table.write_bytes(table.read_bytes()[:-8] + b"tampered")
    verify = run_daf("store", "verify", "--store", str(root))
    assert verify.returncode == 1
    assert verify.stdout.startswith(f"CORRUPT {entry.key}: table.parquet does not match its sha256")
    again = evaluate_to_file(REQUEST, tmp_path / "b.parquet", "y", store=Store(root))
    assert again["reused"] is False  # never served
    assert (tmp_path / "b.parquet").read_bytes() == (tmp_path / "a.parquet").read_bytes()
    assert run_daf("store", "verify", "--store", str(root)).returncode == 0  # replaced by the replay
    assert not list((root / "tmp").iterdir())


def _evaluate(args):
    root, out = args
    return evaluate_to_file(REQUEST, Path(out), "parallel", store=Store(root))["reused"]


def test_concurrent_writers_of_one_key_leave_one_entry(tmp_path):
    outs = [str(tmp_path / f"out{i}.parquet") for i in range(3)]
    with ProcessPoolExecutor(3) as pool:
        list(pool.map(_evaluate, [(str(tmp_path / "store"), out) for out in outs]))
    store = Store(tmp_path / "store")
    assert len(store.entries()) == 1 and store.verify()[0]["ok"]
    assert len({Path(out).read_bytes() for out in outs}) == 1
    assert not list((tmp_path / "store/tmp").iterdir())  # the losers' staging is gone


def test_gc_keeps_what_listed_studies_use(tmp_path):
    root = tmp_path / "store"
    study = tmp_path / "study"
    evaluate_to_file(REQUEST, study / "results/evals/x.parquet", "kept", store=Store(root))
    evaluate_to_file(replace(REQUEST, seed=9), tmp_path / "elsewhere.parquet", "gone", store=Store(root))
    assert len(Store(root).entries()) == 2
    dry = run_daf("store", "gc", "--store", str(root), "--study", str(study), "--dry-run")
    assert dry.returncode == 0 and len(dry.stdout.split()) == 1 and len(Store(root).entries()) == 2
    gone = run_daf("store", "gc", "--store", str(root), "--study", str(study))
    assert gone.stdout.split() == dry.stdout.split()
    (kept,) = Store(root).entries()
    assert json.loads((study / "results/evals/x.json").read_text())["store"]["key"] == kept.key
    bare = run_daf("store", "gc", "--store", str(root))
    assert bare.returncode == 2 and "gc needs --study DIR" in bare.stderr


def test_store_ls_and_query(tmp_path):
    root = tmp_path / "store"
    evaluate_to_file(REQUEST, tmp_path / "a.parquet", "x", store=Store(root))
    listing = json.loads(run_daf("store", "ls", "--store", str(root), "--json").stdout)
    assert [(r["label"], r["mission"], r["episodes"]) for r in listing] == [("baseline", "cogs.tiny", 2)]
    sql = "select study, policy, mission, count(*) as n, avg(reward) as mean from evals group by all"
    result = run_daf("query", "--store", str(root), "--csv", sql)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(pd.io.common.StringIO(result.stdout))
    table = pd.read_parquet(tmp_path / "a.parquet")
    assert frame.to_dict("records") == [{"study": "store", "policy": "baseline", "mission": "cogs.tiny",
                                         "n": len(table), "mean": table["reward"].mean()}]  # fmt: skip
    bad = run_daf("query", "--store", str(root), "select nope from evals")
    assert bad.returncode == 2 and bad.stderr.startswith("daf: error: query failed:") and bad.stderr.count("\n") == 1
    nothing = run_daf("query", "--study", str(tmp_path), "select 1")
    assert nothing.returncode == 2 and "has no results/evals/" in nothing.stderr


def test_store_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(UserError, match="is not a directory"):
        Store(tmp_path / "f")

"""The evaluation store across studies: a second study in another directory, with another
config, copies every chunk the first stored (a dry run shows them as `reuse_*` jobs; the
trained policy's chunks are copied at run time once its retrained weights match) and its
tables and leaderboard are byte-identical; two studies sharing one store run in parallel."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from workflow_runs import planned_jobs, run_snakemake, snakemake_command, tiny_policies

from daf.evaluation.store import Store

pytestmark = pytest.mark.slow

STUDY = {
    "policies": tiny_policies(steps=256, seed=2),
    "missions": ["cogs.tiny", "forage.open"],
    "evaluation": {"episodes": 3, "seed": 5, "num_envs": 4, "chunk": 2},
    "compare": {"bootstrap_reps": 200, "normalization": {"low": "random", "high": "baseline"}},
    "report": {"title": "first", "replays": False},
}
CHUNKS = 2 * (2 + 2 + 1)  # chunks per policy x mission (3 episodes in chunks of 2): random, baseline x 2, ppo x 1


def write_study(workdir: Path, store: Path, title: str) -> Path:
    workdir.mkdir(parents=True)
    config = json.loads(json.dumps(STUDY)) | {"store": {"dir": str(store)}}
    config["report"]["title"] = title
    (workdir / "study.yaml").write_text(yaml.safe_dump(config))
    return workdir


def evaluation_jobs(workdir: Path) -> dict[str, bool]:
    """Every evaluation chunk's job log -> whether it copied the chunk from the store."""
    found = {}
    for log in sorted((workdir / "results/logs/evaluate").rglob("chunk*.jsonl")):
        end = [json.loads(line) for line in log.read_text().splitlines() if '"phase": "end"' in line][-1]
        found[str(log.relative_to(workdir))] = end["metrics"]["reused"]
    return found


def test_a_second_study_reuses_every_stored_chunk(tmp_path):
    store = tmp_path / "store"
    first = write_study(tmp_path / "first", store, "first")
    result = run_snakemake(first, "-c2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(Store(store).entries()) == CHUNKS and all(r["ok"] for r in Store(store).verify())
    assert not any(evaluation_jobs(first).values())  # the first study played everything

    second = write_study(tmp_path / "second", store, "second: another config, another directory")
    dry = planned_jobs(run_snakemake(second, "-n"))
    reused = {w for rule, w in dry if rule in ("reuse_chunk", "reuse_first_chunk")}
    played = {w for rule, w in dry if rule in ("evaluate_chunk", "evaluate_first_chunk")}
    assert len(reused) == 8 and all("policy=ppo" not in w for w in reused)  # random and baseline: known at DAG time
    assert len(played) == 2 and all("policy=ppo" in w for w in played)  # ppo's weights exist only after training
    result = run_snakemake(second, "-c2")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = evaluation_jobs(second)
    assert len(jobs) == CHUNKS and all(jobs.values()), jobs  # zero plays: the retrained ppo's weights match too
    for table in sorted((first / "results/evals").rglob("*.parquet")):
        twin = second / table.relative_to(first)
        assert twin.read_bytes() == table.read_bytes(), twin
    board = "results/comparison/leaderboard.parquet"
    assert (second / board).read_bytes() == (first / board).read_bytes()
    for study in (first, second):  # finished: nothing to do in either (the copied chunks keep their rule)
        again = run_snakemake(study, "-n")
        assert "Nothing to be done" in again.stdout + again.stderr, (again.stdout + again.stderr)[-2000:]


def test_two_studies_share_a_store_in_parallel(tmp_path):
    store = tmp_path / "store"
    dirs = [write_study(tmp_path / name, store, name) for name in ("left", "right")]
    procs = [subprocess.Popen(snakemake_command(d, "-c1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for d in dirs]  # fmt: skip
    outputs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outputs]
    entries = Store(store).verify()
    assert len(entries) == CHUNKS and all(e["ok"] for e in entries)
    assert not list((store / "tmp").iterdir())
    for table in sorted((dirs[0] / "results/evals").rglob("*.parquet")):
        assert (dirs[1] / table.relative_to(dirs[0])).read_bytes() == table.read_bytes()

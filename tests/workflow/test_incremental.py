"""Incremental reruns: after a change, exactly the jobs that depend on it rerun (dry runs)."""

import os
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from workflow_runs import REPO, planned_jobs, run_snakemake

pytestmark = pytest.mark.slow

MISSION = """
from daf.missions.builders import forage_config


def get_config():
    return forage_config(label="mine", num_agents=2, width=9, height=9, bushes=4, max_steps={steps})
"""


def snakemake(workdir: Path, config: str, *args: str) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, *args, config=config, profile=str(REPO / "profiles/local"))


def planned(workdir: Path, config: str = "study.yaml") -> set[tuple]:
    """(rule, wildcards) of every job a dry run would execute."""
    return planned_jobs(snakemake(workdir, config, "-n"))


def weights(path: Path, value: float) -> None:
    from mettagrid.policy.stateless import StatelessPolicy

    from daf.evaluation.episodes import mission_env_info
    from daf.missions import MISSIONS

    torch.manual_seed(0)
    policy = StatelessPolicy(mission_env_info(MISSIONS["cogs.tiny"]))
    with torch.no_grad():
        policy.network().action_head.bias.fill_(value)
    policy.save_policy_data(str(path))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    (root / "mine.py").write_text(MISSION.format(steps=40))
    weights(root / "w.pt", 0.0)
    config = {
        "policies": {
            "random": {"spec": "random"},
            "baseline": {"spec": "baseline"},
            "ext": {"spec": f"class=stateless,data={root / 'w.pt'}"},
        },
        "missions": ["cogs.tiny", str(root / "mine.py")],
        "evaluation": {"episodes": 2, "seed": 0, "num_envs": 2, "chunk": 2},
        "compare": {"bootstrap_reps": 200},
        "vor": {"candidates": ["baseline"], "replacement": "random", "episodes": 2, "missions": ["cogs.tiny"]},
        "crossplay": {"policies": ["random", "baseline"], "episodes": 2},  # every mission, half split
        "population": {"policies": ["random", "baseline"], "alpharank": {}, "bootstrap_reps": 100},
    }
    (root / "study.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(root, "study.yaml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root, config


def per_policy(policy: str, missions: list[str]) -> set[tuple]:
    jobs = set()
    for mission in missions:
        wc = f"policy={policy}, mission={mission}"
        jobs |= {("evaluate_first_chunk", f"{wc}, run=0"), ("evaluate", wc), ("render", wc)}
    return jobs


AGGREGATES = {("compare", ""), ("analysis_summary", ""), ("report", ""), ("all", "")}


def crossplay(mission: str) -> set[tuple]:
    """random x baseline cross-play on a 2-agent mission: both cells and the mission's table."""
    cells = {("crossplay_cell", f"mission={mission}, policy={a}, partner={b}, k=1, run=0, partner_run=0")
             for a, b in (("random", "baseline"), ("baseline", "random"))}  # fmt: skip
    return cells | {("crossplay", f"mission={mission}")}


def population(*missions: str) -> set[tuple]:
    """The Nash job (random and baseline on every mission) and the missions' α-Rank jobs."""
    return {("nash", "")} | {("alpharank", f"mission={m}") for m in missions}


def test_finished_study_plans_nothing(study):
    root, _ = study
    assert planned(root) == set()


def test_touching_inputs_reruns_nothing(study):
    root, _ = study
    for path in (root / "w.pt", root / "mine.py", root / "study.yaml", *root.glob("results/evals/*/*.parquet")):
        os.utime(path)
    assert planned(root) == set()


def test_new_weights_rerun_only_that_policy(study):
    root, _ = study
    original = (root / "w.pt").read_bytes()
    try:
        weights(root / "w.pt", 1.0)
        assert planned(root) == per_policy("ext", ["cogs.tiny", "mine"]) | AGGREGATES
    finally:
        (root / "w.pt").write_bytes(original)


def test_changed_mission_reruns_only_its_jobs(study):
    root, _ = study
    original = (root / "mine.py").read_text()
    try:
        (root / "mine.py").write_text(MISSION.format(steps=50))
        expected = set().union(*(per_policy(p, ["mine"]) for p in ("random", "baseline", "ext"))) | AGGREGATES
        assert planned(root) == expected | crossplay("mine") | population("mine")
    finally:
        (root / "mine.py").write_text(original)


def test_adding_a_policy_or_a_mission_adds_only_its_jobs(study):
    root, config = study
    more = {**config, "policies": {**config["policies"], "idle": {"spec": "noop"}}}
    (root / "more.yaml").write_text(yaml.safe_dump(more))
    assert planned(root, "more.yaml") == per_policy("idle", ["cogs.tiny", "mine"]) | AGGREGATES
    wider = {**config, "missions": [*config["missions"], "forage.open"]}
    (root / "wider.yaml").write_text(yaml.safe_dump(wider))
    expected = set().union(*(per_policy(p, ["forage.open"]) for p in ("random", "baseline", "ext"))) | AGGREGATES
    assert planned(root, "wider.yaml") == expected | crossplay("forage.open") | population("forage.open")


def test_config_sections_rerun_only_their_consumers(study):
    root, config = study
    (root / "title.yaml").write_text(yaml.safe_dump({**config, "report": {"title": "new title"}}))
    assert planned(root, "title.yaml") == {("report", ""), ("all", "")}
    (root / "alpha.yaml").write_text(yaml.safe_dump({**config, "compare": {**config["compare"], "alpha": 0.01}}))
    assert planned(root, "alpha.yaml") == {("compare", ""), ("report", ""), ("all", "")}
    vor = {**config, "vor": {**config["vor"], "episodes": 3}}
    (root / "vor.yaml").write_text(yaml.safe_dump(vor))
    jobs = planned(root, "vor.yaml")
    assert {rule for rule, _ in jobs} == {"vor_scenario", "vor_replacement", "vor", "report", "all"}
    reps = {**config, "population": {**config["population"], "bootstrap_reps": 200}}
    (root / "reps.yaml").write_text(yaml.safe_dump(reps))
    assert planned(root, "reps.yaml") == population("cogs.tiny", "mine") | {("report", ""), ("all", "")}
    ranked = {**config, "population": {**config["population"], "alpharank": {"selection": "local"}}}
    (root / "ranked.yaml").write_text(yaml.safe_dump(ranked))
    assert planned(root, "ranked.yaml") == population("cogs.tiny", "mine") - {("nash", "")} | {
        ("report", ""),
        ("all", ""),
    }


def test_more_episodes_play_only_the_new_ones(study, tmp_path):
    """Raising `evaluation.episodes` from 2 to 4 plays one new chunk (episodes 2-3) per policy x
    mission; the merged tables keep the old episodes byte for byte."""
    import shutil

    import pandas as pd

    root, config = study
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True)  # keeps modification times: the copy is up to date
    more = {**config, "evaluation": {**config["evaluation"], "episodes": 4}}
    (copy / "more.yaml").write_text(yaml.safe_dump(more))
    pairs = [(p, m) for p in ("random", "baseline", "ext") for m in ("cogs.tiny", "mine")]
    new = {("evaluate_chunk", f"policy={p}, mission={m}, run=0, chunk=1") for p, m in pairs}
    merged = {("evaluate", f"policy={p}, mission={m}") for p, m in pairs}
    tables = {("crossplay", f"mission={m}") for m in ("cogs.tiny", "mine")}  # its cells keep their 2 episodes
    assert planned(copy, "more.yaml") == new | merged | tables | population("cogs.tiny", "mine") | AGGREGATES
    before = pd.read_parquet(copy / "results/evals/baseline/cogs.tiny.parquet")
    old_chunk = (copy / "results/evals/baseline/cogs.tiny/run0/chunk0.parquet").read_bytes()
    result = snakemake(copy, "more.yaml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    after = pd.read_parquet(copy / "results/evals/baseline/cogs.tiny.parquet")
    assert sorted(after["episode"].unique()) == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(after[after["episode"] < 2].reset_index(drop=True), before)
    assert (copy / "results/evals/baseline/cogs.tiny/run0/chunk0.parquet").read_bytes() == old_chunk

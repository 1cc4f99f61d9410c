"""End-to-end: Snakemake on a tiny study in a temp dir, from config to HTML report."""

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_runs import REPO, build_study, planned_jobs, run_snakemake, snakemake_command

pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, "-c2", *args, timeout=timeout)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return build_study(tmp_path_factory)


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: rule -> number of jobs."""
    lines = output[output.index("Job stats:") :].splitlines()[3:]
    counts = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def test_data_parallel_policy_trained_with_two_ranks(study):
    sidecar = json.loads((study / "results/checkpoints/ppo_b/seed1/model.json").read_text())
    assert sidecar["world_size"] == 2
    assert json.loads((study / "results/checkpoints/ppo_a/seed0/model.json").read_text())["world_size"] == 1


def test_every_training_run_is_evaluated_on_the_same_episodes(study):
    """ppo_a has two seeds: two train jobs, two different networks, one table with a `run`
    column in which both runs played the same episode seeds (common random numbers)."""
    import pandas as pd

    sha = [json.loads((study / f"results/checkpoints/ppo_a/seed{s}/model.json").read_text())["sha256"] for s in (0, 1)]
    assert sha[0] != sha[1]
    table = pd.read_parquet(study / "results/evals/ppo_a/cogs.tiny.parquet")
    assert sorted(table["run"].unique()) == [0, 1]
    seeds = table.groupby("run")["seed"].apply(lambda s: tuple(s.unique()))
    assert seeds[0] == seeds[1] and len(seeds[0]) == 3
    assert set(pd.read_parquet(study / "results/evals/random/cogs.tiny.parquet")["seed"]) == set(seeds[0])
    assert set(pd.read_parquet(study / "results/evals/ppo_b/cogs.tiny.parquet")["run"]) == {1}
    board = pd.read_parquet(study / "results/comparison/leaderboard.parquet").set_index(["policy", "mission"])
    assert board.loc[("ppo_a", "cogs.tiny"), "runs"] == 2 and board.loc[("random", "cogs.tiny"), "runs"] == 1
    curves = pd.read_parquet(study / "results/curves/ppo_a.parquet")
    assert sorted(curves["run"].unique()) == [0, 1] and sorted(curves["agent_steps"].unique())[-1] >= 256
    summary = pd.read_parquet(study / "results/curves/summary.parquet")
    assert set(summary.loc[summary["policy"] == "ppo_a", "runs"]) == {2}


def test_study_produces_every_output(study):
    for policy, seed in (("ppo_a", 0), ("ppo_a", 1), ("ppo_b", 1)):
        assert (study / f"results/checkpoints/{policy}/seed{seed}/model.pt").is_file()
    for policy in ("ppo_a", "ppo_b"):
        assert (study / f"results/evals/{policy}/cogs.tiny.parquet").is_file()
        assert not (study / f"results/evals/{policy}/my_mission.parquet").exists()  # not one of its missions
    for policy in ("random", "baseline"):
        for mission in ("cogs.tiny", "my_mission"):
            assert (study / f"results/evals/{policy}/{mission}.parquet").is_file()
            assert (study / f"results/evals/{policy}/{mission}.json").is_file()
            assert (study / f"results/logs/evaluate/{policy}/{mission}.log").is_file()
            assert (study / f"results/benchmarks/evaluate/{policy}/{mission}/run0/chunk0.tsv").is_file()
    for name in ("leaderboard.parquet", "pairwise.parquet", "profiles.parquet", "comparison.json"):
        assert (study / "results/comparison" / name).is_file()
    vor = json.loads((study / "results/vor/ppo_a.json").read_text())
    assert vor["runs"] == [0, 1] and vor["level"] == "run" and len(vor["per_run"]) == 2  # both training runs
    for run in (0, 1):
        for k in (1, 2):
            table = pd.read_parquet(study / f"results/vor/ppo_a/cogs.tiny/run{run}/k{k}.parquet")
            assert set(table.loc[table["policy"] == "ppo_a", "run"]) == {run}
    assert (study / "results/vor/replacement/cogs.tiny.parquet").is_file()
    for name in ("summary.parquet", "difficulty.parquet", "summary.csv"):
        assert (study / "results/analysis" / name).is_file()
    assert (study / "results/replays/baseline/cogs.tiny.gif").is_file()
    html = (study / "results/report/index.html").read_text()
    assert "Tiny &lt;b&gt;study&lt;/b&gt;" in html  # user text is escaped
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; friends" in html
    # a mission file's description and a config comment carrying HTML/JS: escaped, or not shown
    assert "window.__daf_pwned" not in html.replace("&#34;window.__daf_pwned=1&#34;", "").replace(
        "&gt;window.__daf_pwned=2&lt;", ""
    )  # fmt: skip
    assert "&lt;img src=x onerror=&#34;window.__daf_pwned=1&#34;&gt;" in html and "<img src=x" not in html
    assert "my_mission" in html and "cogs.tiny" in html and "<svg" in html
    # the training table: what ppo_a trained on and the shaping its sidecar recorded (the preset resolved)
    shaping = re.search(r"<tr><td>ppo_a seed1</td><td>cogs.tiny, cogs.small</td><td>(.*?)</td>", html).group(1)
    assert shaping == "preset gather: carbon.gained=0.5, oxygen.gained=0.5"
    assert re.search(r"<tr><td>ppo_b seed1</td><td>cogs.tiny</td><td>none</td>", html)
    # no external resources: the only URLs are SVG's XML namespace identifiers
    assert set(re.findall(r"https?://[^\"' ]+", html)) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def test_native_snakemake_report(study):
    result = subprocess.run(
        snakemake_command(study, "--report", str(study / "native.zip")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    import zipfile

    names = zipfile.ZipFile(study / "native.zip").namelist()
    assert any(n.endswith("report.html") for n in names)
    assert any(n.endswith("index.html") for n in names)  # our report, as a result
    assert any(n.endswith(".gif") for n in names) and any(n.endswith("leaderboard.csv") for n in names)


def test_finished_study_has_nothing_to_do(study):
    result = snakemake(study, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changing_one_trained_policy_reruns_only_its_jobs(study):
    config = yaml.safe_load((study / "study.yaml").read_text())
    train_b = config["policies"]["ppo_b"]["train"]  # shares its hyperparameters dict with ppo_a (YAML alias)
    config["policies"]["ppo_b"]["train"] = {
        **train_b,
        "hyperparameters": {**train_b["hyperparameters"], "learning_rate": 0.01},
    }
    (study / "changed.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(study, "-n", config="changed.yaml", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert job_counts(output) == {
        "train": 1,
        "evaluate_first_chunk": 1,
        "evaluate_chunk": 1,
        "evaluate": 1,
        "curve": 1,
        "curves_summary": 1,
        "render": 1,
        "analysis_summary": 1,
        "compare": 1,
        "plan": 1,
        "report": 1,
        "all": 1,
    }
    assert "policy=ppo_b" in output and "policy=ppo_a" not in output


def test_adding_a_seed_adds_only_its_runs_jobs(study):
    """A third seed of ppo_a: its train, evaluation chunks and curve, then the merge of ppo_a's
    table, its VOR scenarios and the aggregates; the two existing runs are not retrained or
    re-evaluated."""
    config = yaml.safe_load((study / "study.yaml").read_text())
    config["policies"]["ppo_a"]["train"]["seeds"] = [0, 1, 2]
    (study / "seeds.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(study, "-n", config="seeds.yaml", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = planned_jobs(result)
    runs = {("train", "policy=ppo_a, seed=2"), ("curve", "policy=ppo_a, seed=2"),
            ("evaluate_first_chunk", "policy=ppo_a, mission=cogs.tiny, run=2"),
            ("evaluate_chunk", "policy=ppo_a, mission=cogs.tiny, run=2, chunk=1")}  # fmt: skip
    merged = {("evaluate", "policy=ppo_a, mission=cogs.tiny")}  # the merge also writes the episodes' outcomes
    # cross-play: the new run with each partner, in its row and in its column (random's only run 0)
    crossplay = {("crossplay", "mission=cogs.tiny"), ("alpharank", "mission=cogs.tiny")}  # ppo_a's cells changed
    for b in ("random", "baseline"):
        crossplay.add(("crossplay_cell", f"mission=cogs.tiny, policy=ppo_a, partner={b}, k=1, run=2, partner_run=0"))
        crossplay.add(("crossplay_cell", f"mission=cogs.tiny, policy={b}, partner=ppo_a, k=1, run=0, partner_run=2"))
    # VOR: the new run plays its scenarios (k = 1, 2; the k = 0 one is shared), then ppo_a's VOR again
    vor = {("vor_scenario", f"candidate=ppo_a, mission=cogs.tiny, run=2, k={k}") for k in (1, 2)}
    vor.add(("vor", "candidate=ppo_a"))
    aggregates = {(rule, "") for rule in ("curves_summary", "compare", "plan", "analysis_summary", "report", "all")}
    assert jobs == runs | merged | crossplay | vor | aggregates


def test_crossplay_tables(study):
    """The diagonal is the ordinary evaluation's first episodes (no job of its own), a cell is
    its job's mixed episodes, ppo_a's cells on the mission it cannot play are skipped with a
    note, and every cell of a row played the row policy's runs on the study's episode seeds."""
    import pandas as pd

    table = pd.read_parquet(study / "results/crossplay/cogs.tiny.parquet")
    rows = table.set_index(["policy_a", "policy_b"])
    assert len(table) == 9 and (table["note"] == "").all() and (table["agents_a"] == 1).all()
    for policy in ("random", "baseline", "ppo_a"):
        evals = pd.read_parquet(study / f"results/evals/{policy}/cogs.tiny.parquet")
        assert rows.loc[(policy, policy), "team_mean"] == pytest.approx(
            evals.loc[evals["episode"] < 2, "reward"].mean()
        )
    assert not (study / "results/crossplay/cells/cogs.tiny/ppo_a/ppo_a").exists()
    cell_dir = study / "results/crossplay/cells/cogs.tiny/ppo_a/random/k1"
    cell = pd.concat([pd.read_parquet(cell_dir / f"run{r}-0.parquet") for r in (0, 1)])
    assert rows.loc[("ppo_a", "random"), "team_mean"] == pytest.approx(cell["reward"].mean())
    # random's one run played each of ppo_a's two: two run pairings in both directions
    assert rows.loc[("ppo_a", "random"), "runs"] == 2 and rows.loc[("random", "ppo_a"), "runs"] == 2
    assert rows.loc[("random", "baseline"), "runs"] == 1
    seeds = pd.read_parquet(study / "results/evals/random/cogs.tiny.parquet").query("episode < 2")["seed"]
    assert set(cell["seed"]) == set(seeds) and set(cell["run"]) == {0, 1}
    other = pd.read_parquet(study / "results/crossplay/my_mission.parquet")
    skipped = other[(other["policy_a"] == "ppo_a") | (other["policy_b"] == "ppo_a")]
    assert len(skipped) == 5 and skipped["team_mean"].isna().all()
    assert skipped["note"].str.startswith("'ppo_a' does not play my_mission (policies.ppo_a.missions: cogs.tiny)").all()
    assert (other.loc[other.index.difference(skipped.index), "note"] == "").all()
    gaps = pd.read_parquet(study / "results/crossplay/gaps/cogs.tiny.parquet")
    assert list(gaps["policy"]) == ["random", "baseline", "ppo_a"] and (gaps["partners"] == 2).all()
    html = (study / "results/report/index.html").read_text()
    assert 'id="crossplay"' in html and "does not play my_mission" in html


def test_population_tables(study):
    """Nash averaging of random and baseline on both missions (normalised by them: 0 and 1 on every
    mission, so the value is 1 and the weights are the uniform maximum-entropy choice), α-Rank of
    each cross-play mission over the policies that play it, and the report's section."""
    nash = pd.read_parquet(study / "results/population/nash.parquet").set_index("name")
    assert nash.loc[["random", "baseline"], "nash"].to_list() == pytest.approx([0.0, 1.0], abs=1e-9)
    assert nash.loc[["cogs.tiny", "my_mission"], "nash"].to_list() == pytest.approx([0.5, 0.5])
    assert nash["game_value"].iloc[0] == pytest.approx(1.0) and nash.loc["baseline", "rank_nash"] == 1
    tiny = pd.read_parquet(study / "results/population/alpharank/cogs.tiny.parquet").set_index("policy")
    crossplay = pd.read_parquet(study / "results/crossplay/cogs.tiny.parquet")
    diagonal = crossplay[crossplay["policy_a"] == crossplay["policy_b"]].set_index("policy_a")["team_mean"]
    assert list(tiny.index) == ["random", "baseline", "ppo_a"] and tiny["mass"].sum() == pytest.approx(1.0)
    assert tiny["self_play"].to_list() == pytest.approx(diagonal[list(tiny.index)].to_list())
    assert tiny.loc["ppo_a", "runs"] == 2 and (tiny["alpha_source"] == "sweep").all()
    other = pd.read_parquet(study / "results/population/alpharank/my_mission.parquet")
    assert list(other["policy"]) == ["random", "baseline"]  # ppo_a does not play my_mission
    html = (study / "results/report/index.html").read_text()
    assert 'id="population"' in html and "Nash averaging over missions" in html and "α-Rank over cross-play" in html


def test_adding_a_crossplay_policy_adds_only_its_row_and_column(study):
    """ppo_b joins the cross-play: its cells with each partner (both directions) on the mission
    it plays, the two mission tables (ppo_b is a skipped row on my_mission) and the report."""
    config = yaml.safe_load((study / "study.yaml").read_text())
    config["crossplay"]["policies"].append("ppo_b")
    (study / "crossplay.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(study, "-n", config="crossplay.yaml", timeout=300)
    cells = set()
    for other, runs in (("random", [0]), ("baseline", [0]), ("ppo_a", [0, 1])):  # ppo_b's one run is seed 1
        for r in runs:
            cells.add(
                ("crossplay_cell", f"mission=cogs.tiny, policy=ppo_b, partner={other}, k=1, run=1, partner_run={r}")
            )
            cells.add(
                ("crossplay_cell", f"mission=cogs.tiny, policy={other}, partner=ppo_b, k=1, run={r}, partner_run=1")
            )
    tables = {(rule, f"mission={m}") for m in ("cogs.tiny", "my_mission") for rule in ("crossplay", "alpharank")}
    assert planned_jobs(result) == cells | tables | {("report", ""), ("all", "")}


def test_report_regenerates_byte_identical(study):
    report = study / "results/report/index.html"
    before = hashlib.sha256(report.read_bytes()).hexdigest()
    shutil.rmtree(study / "results/report")
    result = snakemake(study, "report")
    assert result.returncode == 0, result.stderr[-2000:]
    assert hashlib.sha256(report.read_bytes()).hexdigest() == before
    assert "rule evaluate" not in result.stdout + result.stderr  # nothing re-evaluated


def test_lint_reports_only_accepted_warnings():
    """`snakemake --lint` may only ask for conda envs (DAF runs from one venv) and an
    `envvars:` for PATH (the Snakefile puts the running Python's bin first on purpose)."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "-s", str(REPO / "Snakefile")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    lints = {
        line.strip()
        for line in result.stdout.splitlines() + result.stderr.splitlines()
        if line.strip().startswith("* ")
    }
    accepted = {
        "* Specify a conda environment or container for each rule.:",
        "* Environment variable PATH used but not asserted with envvars directive in line 13.:",
    }
    assert lints <= accepted, lints - accepted


def test_bad_config_fails_before_any_job(tmp_path):
    (tmp_path / "study.yaml").write_text(
        yaml.safe_dump({"policies": {"r": {"spec": "random"}}, "missions": ["cogs.tiny"], "evaluation": {"episods": 2}})
    )
    result = snakemake(tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "evaluation.episods: unknown key (valid keys: episodes, seed, num_envs, chunk, step_timeout" in output
    assert not (tmp_path / "results").exists()


def test_a_runs_vor_scenario_waits_for_that_runs_training(tmp_path):
    """A dry run for one scenario of training run 1 trains seed 1 first (not only seed 0)."""
    shutil.copyfile(REPO / ".test/config/config.yaml", tmp_path / "study.yaml")
    jobs = planned_jobs(run_snakemake(tmp_path, "-n", "results/vor/ppo_a/cogs.tiny/run1/k1.parquet"))
    assert ("train", "policy=ppo_a, seed=1") in jobs, sorted(jobs)
    assert ("train", "policy=ppo_a, seed=0") not in jobs

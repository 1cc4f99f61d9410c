"""daf.workflow.plan: the paths, inputs and flags the Snakemake rules get, on the smoke study
(.test/config/config.yaml) and on small studies built here."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from daf.config.load import load_study, validate_study
from daf.config.training import PPOConfig
from daf.errors import UserError
from daf.workflow.plan import StudyPlan, pool_flags, report_flags

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke():
    return StudyPlan(load_study(REPO / ".test/config/config.yaml"))


def study(**sections):
    base = {"policies": {"random": {"spec": "random"}, "baseline": {"spec": "baseline"}}, "missions": ["cogs.tiny"]}
    return StudyPlan(validate_study({**base, **sections}))


def test_chunks_cover_the_episodes_once_and_the_last_chunk_is_short():
    plan = study(evaluation={"episodes": 40, "chunk": 16})
    assert [(plan.chunk_first(c), plan.chunk_size(c)) for c in range(3)] == [(0, 16), (16, 16), (32, 8)]
    assert plan.evaluation_chunks("random", "cogs.tiny") == [
        f"results/evals/random/cogs.tiny/run0/chunk{c}.parquet" for c in range(3)
    ]


def test_every_run_of_a_trained_policy_has_its_chunks(smoke):
    chunks = smoke.evaluation_chunks("ppo_a", "cogs.tiny")  # seeds 0 and 1, 3 episodes in chunks of 2
    assert chunks == [f"results/evals/ppo_a/cogs.tiny/run{r}/chunk{c}.parquet" for r in (0, 1) for c in (0, 1)]
    assert smoke.train_logs("ppo_a") == [f"results/checkpoints/ppo_a/seed{s}/train_log.parquet" for s in (0, 1)]
    assert smoke.train_logs("ppo_b") == ["results/checkpoints/ppo_b/seed1/train_log.parquet"]


def test_eval_tables_are_the_missions_each_policy_plays(smoke):
    assert smoke.eval_tables() == [
        "results/evals/random/cogs.tiny.parquet", "results/evals/random/forage.open.parquet",
        "results/evals/baseline/cogs.tiny.parquet", "results/evals/baseline/forage.open.parquet",
        "results/evals/ppo_a/cogs.tiny.parquet", "results/evals/ppo_b/cogs.tiny.parquet",
    ]  # fmt: skip


def test_targets_outside_the_study_are_one_line_errors_naming_what_it_has(smoke):
    assert smoke.checked_seed("ppo_a", 1) == 1
    with pytest.raises(UserError, match=r"^policy 'ppo_a' has no training seed 7; its seeds: \[0, 1\]$"):
        smoke.checked_seed("ppo_a", 7)
    with pytest.raises(UserError, match=r"^policy 'ppo_b' has no run 0; its runs: \[1\]$"):
        smoke.run_inputs("ppo_b", "cogs.tiny", 0)
    assert smoke.run_inputs("ppo_b", "cogs.tiny", 1) == ["results/checkpoints/ppo_b/seed1/model.pt"]
    with pytest.raises(UserError, match="no cross-play cell random \\(run 0\\) with random"):
        smoke.crossplay_cell_inputs("cogs.tiny", "random", "random", 2, 0, 0)


def test_crossplay_pairs_every_run_of_both_policies_once(smoke):
    assert smoke.crossplay_pairings("ppo_a", "random") == [(0, 0), (1, 0)]
    assert smoke.crossplay_pairings("random", "ppo_a") == [(0, 0), (0, 1)]
    assert smoke.crossplay_players("forage.open") == ["random", "baseline"]  # ppo_a plays cogs.tiny only
    assert smoke.crossplay_counts("cogs.tiny") == [1]  # half of cogs.tiny's 2 agents
    cells = smoke.crossplay_cells("cogs.tiny")
    # 6 ordered pairs; the 4 with ppo_a (2 runs) play twice, the 2 without it once
    assert len(cells) == len(set(cells)) == 4 * 2 + 2
    assert "results/crossplay/cells/cogs.tiny/random/ppo_a/k1/run0-1.parquet" in cells
    assert "results/crossplay/cells/cogs.tiny/ppo_a/random/k1/run1-0.parquet" in cells
    assert smoke.crossplay_cell_inputs("cogs.tiny", "ppo_a", "random", 1, 1, 0) == [
        "results/checkpoints/ppo_a/seed1/model.pt"
    ]


def test_vor_plays_k_candidates_for_every_k_and_the_all_replacement_game(smoke):
    tables = smoke.vor_scenario_tables("ppo_a")
    scenarios = [t for t in tables if "/k" in t]
    runs = smoke.study.policy_runs("ppo_a")
    assert runs == [0, 1]  # every training run plays every scenario
    assert len(scenarios) == smoke.mission_agents["cogs.tiny"] * len(smoke.study.vor_missions("ppo_a")) * len(runs)
    assert {t.split("/")[-2] for t in scenarios} == {"run0", "run1"}
    assert sum("replacement" in t for t in tables) == len(smoke.study.vor_missions("ppo_a"))
    assert smoke.vor_outputs() == ["results/vor/ppo_a.json"]
    assert smoke.vor_replacement_flags() == (
        "--replacement random --replacement baseline --replacement-labels random,baseline"
    )


def test_flags_quote_and_name_every_setting(smoke):
    flags = shlex.split(smoke.hyperparameter_flags("ppo_a"))
    assert flags[::2] == ["--set"] * len(PPOConfig.model_fields)  # every hyperparameter, explicitly
    assert {f.split("=")[0] for f in flags[1::2]} == set(PPOConfig.model_fields)
    assert "num_envs=2" in flags[1::2]
    assert smoke.train_mission_flags("ppo_a") == "--mission cogs.tiny --mission cogs.small --preset gather"
    assert smoke.compare_normalize_flag() == "--normalize random,baseline"
    assert smoke.plan_flags() == "--power 0.8 --max-runs 20 --sims 200 --half-width 0.5 --pairs ppo_a:random"
    assert pool_flags(["class=x,data=a b.pt"], ["x"], [0.25]) == (
        "--replacement 'class=x,data=a b.pt' --replacement-labels x --replacement-weights 0.25"
    )


def test_report_flags_leave_out_inputs_without_files():
    inputs = {name: [] for name in ("vor", "replays", "variants", "curves", "plan", "crossplay", "crossplay_gaps",
                                    "nash", "alpharank")}  # fmt: skip
    inputs["train_logs"] = ["a/train_log.parquet", "b/train_log.parquet"]
    inputs["nash"] = ["results/population/nash.parquet"]
    assert report_flags(inputs, ["results/sweeps/s/best.json"]) == (
        "--train-logs a/train_log.parquet b/train_log.parquet --nash results/population/nash.parquet "
        "--sweeps results/sweeps/s"
    )


def test_a_weights_file_is_hashed_once_and_a_missing_one_says_so(tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights")
    plan = study(policies={"random": {"spec": "random"}, "mine": {"spec": f"class=random,data={weights}"}})
    first = plan.weights_sha("random", "mine")
    assert len(first) == 64  # random has no weights file: one digest
    weights.write_bytes(b"changed")
    assert plan.weights_sha("mine") == first  # read once per plan (one DAG build)
    assert StudyPlan(plan.study).weights_sha("mine") != first
    assert plan.file_sha(str(tmp_path / "nope.pt")) == "missing"


def test_tpe_rounds_wait_for_the_previous_round():
    sweep = {
        "policy": "ppo", "strategy": "tpe", "trials": 4, "batch_size": 2, "steps": 1000, "episodes": 2,
        "space": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}},
    }  # fmt: skip
    plan = study(
        policies={"random": {"spec": "random"}, "ppo": {"train": {"mission": "cogs.tiny", "steps": 1000}}},
        sweeps={"s": sweep},
    )
    slots = plan.tpe_slots["s"]
    assert [r for r, _ in slots] == [0, 0, 1, 1]
    first, second = [tid for r, tid in slots if r == 0], [tid for r, tid in slots if r == 1]
    assert plan.tpe_previous_round("s", first[0]) == []
    assert plan.tpe_previous_round("s", second[1]) == [f"results/sweeps/s/trials/{t}/told.json" for t in first]
    assert plan.tpe_round_runs("s", second[0]) == [f"results/sweeps/s/trials/{t}/seed0/run.json" for t in second]


def test_a_vor_scenario_of_a_run_reads_that_runs_checkpoint(smoke):
    """Each training run's scenarios wait for that run's training (not run 0's)."""
    assert smoke.run_inputs("ppo_a", "cogs.tiny", 1) == ["results/checkpoints/ppo_a/seed1/model.pt"]


def test_population_inputs_and_flags(smoke):
    """The smoke study Nash-averages random and baseline on both missions and ranks each cross-play
    mission by α-Rank; the normalisation's references are inputs of the Nash job."""
    assert smoke.nash_tables() == [
        "results/evals/random/cogs.tiny.parquet", "results/evals/random/forage.open.parquet",
        "results/evals/baseline/cogs.tiny.parquet", "results/evals/baseline/forage.open.parquet",
    ]  # fmt: skip
    assert (
        smoke.nash_flags() == "--policies random,baseline --missions cogs.tiny,forage.open --normalize random,baseline"
    )
    ranked_missions = ["cogs.tiny", "forage.open"]
    assert smoke.population_outputs() == {
        "nash": ["results/population/nash.parquet"],
        "alpharank": [f"results/population/alpharank/{m}.parquet" for m in ranked_missions],
    }
    assert smoke.alpharank_flags() == "--population-size 50 --selection population --payoff team"
    ranked = study(
        policies={"random": {"spec": "random"}, "baseline": {"spec": "baseline"}, "noop": {"spec": "noop"}},
        crossplay={"policies": ["random", "baseline"]},
        population={"nash": False, "policies": ["noop", "baseline"], "alpharank": {"alpha": 0.5, "payoff": "own"}},
    )
    assert ranked.population_outputs() == {"nash": [], "alpharank": ["results/population/alpharank/cogs.tiny.parquet"]}
    assert ranked.alpharank_flags() == "--population-size 50 --selection population --payoff own --alpha 0.5"
    nash = study(population={"policies": ["baseline", "random"]})  # no normalisation: references are not inputs
    assert nash.nash_tables() == ["results/evals/baseline/cogs.tiny.parquet", "results/evals/random/cogs.tiny.parquet"]
    assert nash.nash_flags() == "--policies baseline,random --missions cogs.tiny"
    assert study().population_outputs() == {"nash": [], "alpharank": []}

"""`daf evaluate` (daf/evaluation/request.py): the parquet contract, determinism, mixed episodes, policies
of every kind, chunks and runs merged (`daf merge-evals`). Playing episodes itself: test_episodes.py."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import torch

from daf.cli import main
from daf.errors import UserError
from daf.evaluation.episodes import CORE_COLUMNS, Seat, episode_seed, mission_env_info, run_episodes
from daf.missions import MISSIONS
from daf.policies import parse_spec
from daf.policies.actors import AgentPolicyActor, TorchActor, build_actor


def evaluate(tmp_path, name, *args):
    out = tmp_path / f"{name}.parquet"
    code = main(["evaluate", *args, "--out", str(out), "--no-progress"])
    assert code == 0
    return out


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_parquet_contract(tmp_path):
    out = evaluate(tmp_path, "r", "--policy", "random", "--mission", "cogs.small", "--episodes", "3", "--seed", "5")
    frame = pd.read_parquet(out)
    assert list(frame.columns[: len(CORE_COLUMNS)]) == CORE_COLUMNS
    assert len(frame) == 3 * 4  # episodes x agents
    assert set(frame["policy"]) == {"random"} and set(frame["role"]) == {"candidate"}
    assert (frame["steps"] == 500).all()
    assert sorted(frame["episode"].unique()) == [0, 1, 2]
    assert list(frame.groupby("episode")["seed"].first()) == [episode_seed(5, k) for k in range(3)]
    stats = [c for c in frame.columns if c.startswith("stat.")]
    assert "stat.heart.gained" in stats and "stat.action.move.success" in stats
    # reward is the heart count here: the engine's reward and its stat agree
    assert np.allclose(frame["reward"], frame["stat.heart.gained"])
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["base_seed"] == 5 and sidecar["episode_seeds"][0] == episode_seed(5, 0)
    assert sidecar["mission"]["sha256"] == MISSIONS["cogs.small"].fingerprint()
    assert {"mettagrid", "torch", "daf"} <= set(sidecar["versions"])


@pytest.mark.parametrize("spec", ["random", "baseline", "lstm"])
def test_byte_identical_reruns(tmp_path, spec):
    args = ["--policy", spec, "--mission", "cogs.tiny", "--episodes", "3", "--seed", "11"]
    first = evaluate(tmp_path, "a", *args)
    second = evaluate(tmp_path, "b", *args)
    assert sha(first) == sha(second)


def test_mixed_episodes_record_who_controlled_each_agent(tmp_path):
    out = evaluate(
        tmp_path,
        "mix",
        "--policy",
        "baseline",
        "--replacement",
        "random",
        "--candidate-agents",
        "1",
        "--mission",
        "cogs.small",
        "--episodes",
        "6",
        "--seed",
        "2",
    )
    frame = pd.read_parquet(out)
    per_episode = frame.groupby("episode")
    assert (per_episode.apply(lambda g: (g["role"] == "candidate").sum()) == 1).all()
    assert set(frame.loc[frame["role"] == "candidate", "policy"]) == {"baseline"}
    assert set(frame.loc[frame["role"] == "replacement", "policy"]) == {"random"}
    assert (frame["candidate_agents"] == 1).all()
    # the candidate's slot is drawn per episode, not always agent 0
    slots = frame.loc[frame["role"] == "candidate"].groupby("episode")["agent"].first()
    assert slots.nunique() > 1
    # same seeds as a solo evaluation of the same episodes (pairing across VOR scenarios)
    solo = pd.read_parquet(
        evaluate(tmp_path, "solo", "--policy", "random", "--mission", "cogs.small", "--episodes", "6", "--seed", "2")
    )
    assert solo.groupby("episode")["seed"].first().tolist() == per_episode["seed"].first().tolist()


@pytest.mark.parametrize("k", [0, 4])
def test_mixed_extremes(tmp_path, k):
    frame = pd.read_parquet(
        evaluate(
            tmp_path,
            f"k{k}",
            "--policy",
            "baseline",
            "--replacement",
            "random",
            "--candidate-agents",
            str(k),
            "--mission",
            "cogs.small",
            "--episodes",
            "2",
            "--seed",
            "0",
        )
    )
    assert (frame["role"] == "candidate").sum() == 2 * k


def test_stateless_and_generic_policies_run(tmp_path):
    mission = MISSIONS["cogs.tiny"]
    info = mission_env_info(mission)
    assert isinstance(build_actor(parse_spec("stateless"), info, seed=0), TorchActor)
    generic = build_actor(parse_spec("policies_for_tests.GlobalRandomPolicy"), info, seed=0)
    assert isinstance(generic, AgentPolicyActor) and not generic.batched
    a = run_episodes(mission, Seat("g", generic), 3, 4)
    b = run_episodes(
        mission, Seat("g", build_actor(parse_spec("policies_for_tests.GlobalRandomPolicy"), info, 0)), 3, 4
    )
    pd.testing.assert_frame_equal(a, b)  # global RNGs are seeded per episode
    out = evaluate(tmp_path, "st", "--policy", "stateless", "--mission", "cogs.tiny", "--episodes", "2", "--seed", "0")
    assert len(pd.read_parquet(out)) == 4


def test_checkpoint_loads_through_data_spec(tmp_path):
    """`class=stateless,data=weights.pt`: the weights are really used."""
    from mettagrid.policy.stateless import StatelessPolicy

    mission = MISSIONS["cogs.tiny"]
    info = mission_env_info(mission)
    torch.manual_seed(123)
    policy = StatelessPolicy(info)
    with torch.no_grad():  # a network that always picks move_east
        for p in policy.network().parameters():
            p.zero_()
        policy.network().action_head.bias[info.action_names.index("move_east")] = 100.0
    path = tmp_path / "east.pt"
    policy.save_policy_data(str(path))
    out = evaluate(
        tmp_path,
        "east",
        "--policy",
        f"class=stateless,data={path}",
        "--mission",
        "cogs.tiny",
        "--episodes",
        "1",
        "--seed",
        "0",
    )
    frame = pd.read_parquet(out)
    assert (frame["stat.action.noop.success"] == 0).all()  # it never idles
    assert (frame["stat.cell.max_distance_from_spawn"] <= 8).all()


def test_mission_file_evaluates(tmp_path, mission_file):
    out = evaluate(
        tmp_path, "f", "--policy", "baseline", "--mission", str(mission_file), "--episodes", "2", "--seed", "0"
    )
    frame = pd.read_parquet(out)
    assert set(frame["mission"]) == {"my_mission"}
    assert frame.groupby("episode")["reward"].sum().min() >= 4 and frame["success"].all()


def _chunk(tmp_path, name, first, episodes, run=0, policy="baseline"):
    return evaluate(tmp_path, name, "--policy", policy, "--mission", "cogs.tiny", "--seed", "3", "--num-envs", "2",
                    "--first-episode", str(first), "--episodes", str(episodes), "--run", str(run))  # fmt: skip


def test_chunks_merge_into_the_whole_evaluation(tmp_path):
    """Episode k does not depend on the range it is played in: chunks 0-1 and 2-4, merged, are
    byte for byte the 5-episode evaluation, so an evaluation grows without replaying."""
    whole = _chunk(tmp_path, "whole", 0, 5)
    parts = [_chunk(tmp_path, "b", 2, 3), _chunk(tmp_path, "a", 0, 2)]
    merged = tmp_path / "merged.parquet"
    assert main(["merge-evals", "--chunks", *map(str, parts), "--out", str(merged)]) == 0
    assert sha(merged) == sha(whole)
    assert json.loads(merged.with_suffix(".json").read_text())["episodes"] == 5
    frame = pd.read_parquet(_chunk(tmp_path, "r7", 0, 2, run=7))
    assert set(frame["run"]) == {7} and frame["run"].dtype == np.int64


def test_merge_writes_the_outcomes_daf_analyze_writes(tmp_path, capsys):
    """The workflow's merge job also writes each episode's outcome: byte for byte what `daf
    analyze` writes from the merged table. Half the options, or an unknown mission, is one line
    and writes nothing."""
    parts = [str(_chunk(tmp_path, f"r{r}", 0, 2, run=r)) for r in (0, 1)]
    merged, outcomes = tmp_path / "m.parquet", tmp_path / "outcomes.parquet"
    args = ["merge-evals", "--chunks", *parts, "--out", str(merged)]
    assert main([*args, "--outcomes", str(outcomes), "--mission", "cogs.tiny"]) == 0
    assert (
        main(["analyze", "--evals", str(merged), "--mission", "cogs.tiny", "--out", str(tmp_path / "a.parquet")]) == 0
    )
    assert sha(outcomes) == sha(tmp_path / "a.parquet") and len(pd.read_parquet(outcomes)) == 4  # 2 runs x 2
    merged.unlink(), outcomes.unlink()
    capsys.readouterr()
    cases = [
        (["--outcomes", str(outcomes)], "--outcomes and --mission go together"),
        (["--outcomes", str(outcomes), "--mission", "cogs.tny"], "unknown mission 'cogs.tny'"),
    ]
    for extra, needle in cases:
        assert main([*args, *extra]) == 2
        assert needle in capsys.readouterr().err and not merged.exists() and not outcomes.exists()


def test_runs_merge_side_by_side(tmp_path):
    """Two runs of one policy on the same episodes: one table, the `run` column tells them apart."""
    chunks = [_chunk(tmp_path, f"r{run}", 0, 2, run=run, policy="random") for run in (4, 1)]
    merged = tmp_path / "merged.parquet"
    assert main(["merge-evals", "--chunks", *map(str, chunks), "--out", str(merged)]) == 0
    frame = pd.read_parquet(merged)
    assert list(frame.groupby("run")["episode"].nunique().items()) == [(1, 2), (4, 2)]
    assert list(frame["run"].iloc[[0, -1]]) == [1, 4]  # sorted by run, episode, agent


@pytest.mark.parametrize(
    "chunks, needle",
    [
        ([("a", 0, 2, 0), ("b", 1, 2, 0)], "run 0 episode 1 appears in more than one chunk"),
        ([("a", 0, 2, 0), ("b", 0, 1, 1)], "run 1 lacks episodes [1] that other runs have"),
    ],
)
def test_merge_refuses_inconsistent_chunks(tmp_path, capsys, chunks, needle):
    paths = [str(_chunk(tmp_path, name, first, n, run=run, policy="random")) for name, first, n, run in chunks]
    capsys.readouterr()
    assert main(["merge-evals", "--chunks", *paths, "--out", str(tmp_path / "m.parquet")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("daf: error: ") and needle in error and "\n" not in error
    assert not (tmp_path / "m.parquet").exists()


def test_merge_refuses_chunks_of_two_policies(tmp_path, capsys):
    paths = [str(_chunk(tmp_path, "a", 0, 1, policy="random")), str(_chunk(tmp_path, "b", 1, 1, policy="noop"))]
    capsys.readouterr()
    assert main(["merge-evals", "--chunks", *paths, "--out", str(tmp_path / "m.parquet")]) == 2
    assert "chunks to merge must share one policy; got ['noop', 'random']" in capsys.readouterr().err


def test_evaluate_to_file_is_the_library_call_behind_daf_evaluate(tmp_path):
    """Called directly it writes what the command writes: the same table bytes, and a sidecar
    with the episode seeds, the mission fingerprint and the pool."""
    from daf.evaluation.request import EvaluationRequest, evaluate_to_file

    request = EvaluationRequest(policy="baseline", mission="cogs.tiny", episodes=3, seed=4, candidate_agents=1,
                                replacement=["random"], labels=["r"], num_envs=2)  # fmt: skip
    metrics = evaluate_to_file(request, tmp_path / "lib.parquet", command="test")
    assert metrics["rows"] == 3 * MISSIONS["cogs.tiny"].config().game.num_agents and metrics["episodes"] == 3
    argv = ["evaluate", "--policy", "baseline", "--mission", "cogs.tiny", "--episodes", "3", "--seed", "4",
            "--candidate-agents", "1", "--replacement", "random", "--replacement-labels", "r", "--num-envs", "2",
            "--out", str(tmp_path / "cli.parquet")]  # fmt: skip
    assert main(argv) == 0
    assert (tmp_path / "lib.parquet").read_bytes() == (tmp_path / "cli.parquet").read_bytes()
    sidecar = json.loads((tmp_path / "lib.json").read_text())
    assert sidecar["episode_seeds"] == [episode_seed(4, k) for k in range(3)]
    assert sidecar["mission"]["sha256"] == MISSIONS["cogs.tiny"].fingerprint()
    assert sidecar["replacement"] == [{"label": "r", "spec": "random", "weight": 1.0}] and sidecar["command"] == "test"
    with pytest.raises(UserError, match="--episodes must be at least 1"):
        evaluate_to_file(EvaluationRequest(policy="random", mission="cogs.tiny", episodes=0, seed=0),
                         tmp_path / "x.parquet", command="")  # fmt: skip
    assert not (tmp_path / "x.parquet").exists()

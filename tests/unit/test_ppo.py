"""`daf train` (daf/training/ppo.py): PPO really learns, every hyperparameter is used, checkpoints are
data, a killed run resumes, 2 ranks stay in lockstep; training on several missions, reward
shaping, env workers and TensorBoard."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import SUPPORT

from daf.config.training import PPOConfig
from daf.errors import UserError
from daf.missions import MISSIONS
from daf.policies import checkpoint
from daf.training.ppo import compute_gae, learning_rate_at, train

TINY = {"num_envs": 2, "rollout_steps": 8, "num_minibatches": 2, "update_epochs": 1}


def tiny_run(tmp_path: Path, name: str, steps: int = 64, arch: str = "tokens", **overrides) -> dict:
    hp = PPOConfig(**{**TINY, **overrides})
    out = tmp_path / name
    sidecar = train(MISSIONS["cogs.tiny"], steps, 0, out, arch=arch, hp=hp, device_name="cpu", fresh=True,
                    progress=False)  # fmt: skip
    return {"sidecar": sidecar, "model": checkpoint.load(out / "model.pt"), "out": out}


def weights(run) -> np.ndarray:
    return np.concatenate([v.flatten().numpy() for v in run["model"]["model"].values()])


CHANGES = {
    "learning_rate": 0.01,
    "anneal_lr": True,
    "lr_warmup_steps": 100,
    "lr_decay_steps": 16,
    "lr_final_fraction": 0.5,
    "gamma": 0.5,
    "gae_lambda": 0.5,
    "num_envs": 3,
    "rollout_steps": 6,
    "num_minibatches": 1,
    "update_epochs": 3,
    "norm_adv": False,
    "clip_coef": 0.01,
    "clip_vloss": False,
    "ent_coef": 0.5,
    "vf_coef": 2.0,
    "max_grad_norm": 0.01,
    "target_kl": 1e-9,
    "hidden_size": 16,
    "token_size": 8,
    "conv_channels": 4,
    "act_while_learning": True,
}


def test_compute_gae_by_hand():
    """GAE on 3 steps x 2 rows, worked out by hand (gamma = lambda = 0.5: every number exact in binary).
    dones[t] = 1 means the observation at step t starts a new episode, so step t's transition ended
    one iff dones[t + 1] (after the last step: next_done); dones[0] is never read.
        delta_t = r_t + gamma * V_{t+1} * (1 - done_{t+1}) - V_t
        A_t     = delta_t + gamma * lambda * (1 - done_{t+1}) * A_{t+1}        returns = A + V
    row 0: r = 1, 2, 3; V = 0.5, 1, 1.5; dones = 0, 0, 1 (an episode ends after step 1); next V 2, done 0
        t=2: delta = 3 + 0.5*2*1 - 1.5   = 2.5    A = 2.5
        t=1: delta = 2 + 0.5*1.5*0 - 1   = 1      A = 1 + 0.25*0*2.5 = 1       (nothing flows across the end)
        t=0: delta = 1 + 0.5*1*1 - 0.5   = 1      A = 1 + 0.25*1*1   = 1.25
    row 1: r = 0, 0, 1; V = 1, 1, 1; dones = 1, 0, 0; next V 4, next done 1 (the last step ended an episode)
        t=2: delta = 1 + 0.5*4*0 - 1     = 0      A = 0                        (next V not bootstrapped)
        t=1: delta = 0 + 0.5*1*1 - 1     = -0.5   A = -0.5 + 0.25*1*0    = -0.5
        t=0: delta = 0 + 0.5*1*1 - 1     = -0.5   A = -0.5 + 0.25*1*-0.5 = -0.625
    """
    rewards = torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 1.0]])  # (steps, rows), time-major
    values = torch.tensor([[0.5, 1.0], [1.0, 1.0], [1.5, 1.0]])
    dones = torch.tensor([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    next_value, next_done = torch.tensor([2.0, 4.0]), torch.tensor([0.0, 1.0])
    inputs = [x.clone() for x in (rewards, values, dones, next_value, next_done)]
    advantages, returns = compute_gae(rewards, values, dones, next_value, next_done, 0.5, 0.5)
    exact = {"rtol": 0.0, "atol": 0.0}
    torch.testing.assert_close(advantages, torch.tensor([[1.25, -0.625], [1.0, -0.5], [2.5, 0.0]]), **exact)
    torch.testing.assert_close(returns, torch.tensor([[1.75, 0.375], [2.0, 0.5], [4.0, 1.0]]), **exact)
    for before, after in zip(inputs, (rewards, values, dones, next_value, next_done)):
        assert torch.equal(before, after)  # pure: the rollout's tensors are left as they were
    flipped = dones.clone()
    flipped[0] = 1 - flipped[0]  # dones[0] concerns the step before the rollout
    assert torch.equal(compute_gae(rewards, values, flipped, next_value, next_done, 0.5, 0.5)[0], advantages)


def test_learning_rate_schedule_by_hand():
    """Warm-up and decay are in agent-steps: the rate at a step does not depend on the budget."""
    hp = PPOConfig(learning_rate=1e-3, anneal_lr=False, lr_warmup_steps=99, lr_decay_steps=1000,
                   lr_final_fraction=0.1)  # fmt: skip
    for budget in (1, 2_000, 10**9):
        assert learning_rate_at(hp, 0, budget) == pytest.approx(1e-5)  # (0 + 1) / (99 + 1) of the peak
        assert learning_rate_at(hp, 49, budget) == pytest.approx(5e-4)
        assert learning_rate_at(hp, 99, budget) == pytest.approx(1e-3)  # warm-up done: the peak
        assert learning_rate_at(hp, 599, budget) == pytest.approx(1e-3 * (1 - 0.5 * 0.9))  # half-way down
        assert learning_rate_at(hp, 1099, budget) == pytest.approx(1e-4)  # decay done: the final fraction
        assert learning_rate_at(hp, 10**8, budget) == pytest.approx(1e-4)  # and held there
    assert learning_rate_at(PPOConfig(learning_rate=3e-3, lr_decay_steps=0), 12_345, 20_000) == 3e-3  # constant
    annealed = PPOConfig(learning_rate=1e-3, anneal_lr=True, lr_decay_steps=5)  # a fraction of the budget
    assert learning_rate_at(annealed, 500, 1_000) == pytest.approx(5e-4)  # (the decay in agent-steps unused)
    assert learning_rate_at(annealed, 500, 2_000) == pytest.approx(7.5e-4)
    shipped = PPOConfig()  # the defaults: 2.5e-3 down to 10% over the first 2M agent-steps, whatever the budget
    for budget in (100_000, 2_000_000, 5_000_000):
        assert learning_rate_at(shipped, 0, budget) == pytest.approx(2.5e-3)
        assert learning_rate_at(shipped, 1_000_000, budget) == pytest.approx(2.5e-3 * 0.55)
        assert learning_rate_at(shipped, 4_000_000, budget) == pytest.approx(2.5e-4)


def test_first_updates_do_not_depend_on_the_budget(tmp_path):
    """Two budgets with a schedule in agent-steps: the shorter run's updates are the longer run's first
    updates, rate and weights alike (the budget-relative anneal_lr fails this)."""
    logs = {}
    for steps in (200, 400):
        tiny_run(tmp_path, f"b{steps}", steps=steps, anneal_lr=False, lr_warmup_steps=96, lr_decay_steps=96)
        logs[steps] = pd.read_parquet(tmp_path / f"b{steps}" / "train_log.parquet")
    short, long = logs[200], logs[400]
    assert len(long) > len(short) >= 3
    columns = ["agent_steps", "learning_rate", "policy_loss", "value_loss", "param_checksum"]
    pd.testing.assert_frame_equal(short[columns], long[columns].iloc[: len(short)])
    assert short["learning_rate"].nunique() == len(short)  # the schedule moved within the run
    for steps in (200, 400):
        tiny_run(tmp_path, f"a{steps}", steps=steps, anneal_lr=True)
    annealed = [pd.read_parquet(tmp_path / f"a{s}" / "train_log.parquet")["learning_rate"] for s in (200, 400)]
    assert annealed[0].iloc[1] != annealed[1].iloc[1]


def test_gae_bootstraps_time_limits_by_hand():
    """The same 3 steps x 2 rows with both episode ends at a time limit (truncs), gamma = lambda = 0.5:
    the ended transition is bootstrapped with its own observation's value, nothing else changes.
    row 0 (ended after step 1): t=1: delta = 2 + 0.5*1*1 - 1 = 1.5 (V_1 = 1 stands in for the lost
        final observation)   A = 1.5;   t=0: delta = 1, A = 1 + 0.25*1.5 = 1.375;   t=2 unchanged 2.5
    row 1 (the last step ended at a time limit: next_trunc): t=2: delta = 1 + 0.5*1 - 1 = 0.5, A = 0.5
        t=1: A = -0.5 + 0.25*0.5 = -0.375;   t=0: A = -0.5 + 0.25*-0.375 = -0.59375
    """
    rewards = torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 1.0]])
    values = torch.tensor([[0.5, 1.0], [1.0, 1.0], [1.5, 1.0]])
    dones = torch.tensor([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    next_value, next_done = torch.tensor([2.0, 4.0]), torch.tensor([0.0, 1.0])
    truncs, next_trunc = dones.clone(), next_done.clone()
    advantages, returns = compute_gae(rewards, values, dones, next_value, next_done, 0.5, 0.5, truncs, next_trunc)
    exact = {"rtol": 0.0, "atol": 0.0}
    torch.testing.assert_close(advantages, torch.tensor([[1.375, -0.59375], [1.5, -0.375], [2.5, 0.5]]), **exact)
    torch.testing.assert_close(returns, advantages + values, **exact)
    plain = compute_gae(rewards, values, dones, next_value, next_done, 0.5, 0.5)
    no_limits = compute_gae(rewards, values, dones, next_value, next_done, 0.5, 0.5, torch.zeros_like(dones),
                            torch.zeros_like(next_done))  # fmt: skip
    torch.testing.assert_close(no_limits, plain, **exact)  # ends by the game itself: as before


def test_bootstrap_time_limits_changes_training_only_from_the_first_time_limit(tmp_path):
    """cogs.tiny ends every episode at its time limit (300 steps): the runs agree update for update
    until the first rollout that holds an episode end, and differ after it."""
    steps = 2 * 2 * 8 * 60  # 2 envs x 2 agents x 8 steps per update, 60 updates: past one time limit
    logs = {}
    for flag in (False, True):
        run = tiny_run(tmp_path, f"b{flag}", steps=steps, bootstrap_time_limits=flag)
        logs[flag] = pd.read_parquet(run["out"] / "train_log.parquet")
        assert run["sidecar"]["hyperparameters"]["bootstrap_time_limits"] is flag
    plain, boot = logs[False], logs[True]
    first_end = int(np.flatnonzero(plain["episodes"].to_numpy() > 0)[0])  # the update whose rollout ended one
    assert first_end == 300 // 8  # env step 300 falls in update 38 (0-based 37): 8 env steps per update
    same = ["agent_steps", "policy_loss", "value_loss", "param_checksum"]
    pd.testing.assert_frame_equal(plain[same].iloc[:first_end], boot[same].iloc[:first_end])
    assert plain["param_checksum"].iloc[first_end] != boot["param_checksum"].iloc[first_end]


def test_changes_cover_every_hyperparameter():
    assert set(CHANGES) | {"checkpoint_interval", "bootstrap_time_limits"} == set(PPOConfig.model_fields)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    # update_epochs=2 so that target_kl (checked after an epoch) can cut the second one
    return tiny_run(tmp_path_factory.mktemp("ref"), "ref", update_epochs=2)


# Settings under which a hyperparameter can matter in a 2-update run (value clipping only
# bites once values have moved by more than clip_coef).
CONTEXT = {
    "clip_vloss": {"learning_rate": 0.05, "clip_coef": 0.001, "update_epochs": 4},
    "conv_channels": {"arch": "cnn"},
    # the final fraction needs a decay that ends within the run
    "lr_final_fraction": {"lr_decay_steps": 16},
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_every_hyperparameter_changes_the_run(tmp_path, reference, name):
    context = {"update_epochs": 2, **CONTEXT.get(name, {})}
    base = tiny_run(tmp_path, "base", **context) if name in CONTEXT else reference
    changed = tiny_run(tmp_path, name, **{**context, name: CHANGES[name]})
    assert changed["sidecar"]["hyperparameters"][name] == CHANGES[name]  # recorded in the sidecar
    a, b = weights(base), weights(changed)
    assert a.shape != b.shape or not np.array_equal(a, b), f"{name} did not change the trained weights"


def test_checkpoint_interval_changes_the_periodic_checkpoints(tmp_path):
    runs = [tiny_run(tmp_path, f"ci{n}", steps=96, checkpoint_interval=n) for n in (32, 1000)]
    counts = [len(list((r["out"] / "periodic").rglob("step_*.pt"))) for r in runs]
    assert counts == [3, 1]  # every 32 steps vs only the final one


def test_same_seed_same_weights(tmp_path):
    assert np.array_equal(weights(tiny_run(tmp_path, "a")), weights(tiny_run(tmp_path, "b")))


def evaluate_checkpoint(spec: str, mission: str, table: Path) -> int:
    """`daf evaluate` of a policy SPEC: 2 episodes, seed 0, into `table`; the exit status."""
    from daf.cli import main

    argv = ["evaluate", "--policy", spec, "--mission", mission, "--episodes", "2", "--seed", "0"]
    return main([*argv, "--out", str(table), "--no-progress"])


def test_outputs_and_sidecar(tmp_path):
    run = tiny_run(tmp_path, "out", steps=100)
    out = run["out"]
    assert {p.name for p in out.iterdir()} >= {"model.pt", "model.json", "train_log.parquet", "periodic"}
    disk = json.loads((out / "model.json").read_text())
    assert disk["sha256"] == checkpoint.sha256_file(out / "model.pt")
    assert disk["steps"] == 128 and disk["requested_steps"] == 100  # whole updates of 2 envs x 2 agents x 8
    assert disk["mission"]["name"] == "cogs.tiny" and disk["seed"] == 0 and disk["arch"] == "tokens"
    assert disk["missions"] == [disk["mission"]] and disk["shaping"] == {} and disk["mission_weights"] == [1.0]
    assert disk["hyperparameters"]["rollout_steps"] == 8 and "torch" in disk["versions"]
    log = pd.read_parquet(out / "train_log.parquet")
    expected = {"agent_steps", "episode_reward", "policy_loss", "value_loss", "entropy", "explained_variance", "sps"}
    assert expected <= set(log.columns) and log["agent_steps"].tolist() == [32, 64, 96, 128]


@pytest.mark.slow
def test_ppo_learns_cogs_tiny(tmp_path):
    """100k agent-steps (the learning benchmark's budget) with the shipped settings (default hyperparameters,
    the cogs missions' `gather` preset), on a seed the benchmark never uses (it trains seeds 1000+): reward
    improves markedly."""
    out = tmp_path / "learn"
    train(MISSIONS["cogs.tiny"], 100_000, 0, out, device_name="cpu", fresh=True, progress=False, preset="gather")
    log = pd.read_parquet(out / "train_log.parquet").dropna(subset=["episode_reward"])
    first, last = log["episode_reward"].iloc[:3].mean(), log["episode_reward"].iloc[-3:].mean()
    # random scores ~0.9 per agent here and the baseline 20; normalised 0.5 is ~10.5 (the first episodes
    # end after a few updates, when gather-shaped runs have already begun to learn)
    assert last > 10.5 and last > first, (first, last)
    assert log["entropy"].iloc[-1] < log["entropy"].iloc[0]


def test_lstm_trains_and_evaluates(tmp_path):
    hp = PPOConfig(**TINY)
    out = tmp_path / "lstm"
    train(MISSIONS["cogs.tiny"], 64, 0, out, arch="lstm", hp=hp, device_name="cpu", fresh=True, progress=False)
    assert checkpoint.load(out / "model.pt")["net_kwargs"]["arch"] == "lstm"
    table = tmp_path / "lstm.parquet"
    assert evaluate_checkpoint(str(out / "model.pt"), "cogs.tiny", table) == 0
    assert len(pd.read_parquet(table)) == 4


def test_checkpoint_round_trip_through_evaluate(tmp_path):
    """The evaluated actions come from the checkpoint's weights: force `noop` and nobody moves."""
    run = tiny_run(tmp_path, "rt")
    payload = run["model"]
    names = payload["action_names"]
    payload["model"]["actor.weight"].zero_()
    payload["model"]["actor.bias"].fill_(-50.0)
    payload["model"]["actor.bias"][names.index("noop")] = 50.0
    forced = tmp_path / "noop" / "model.pt"
    checkpoint.save(forced, payload, {"note": "edited"})
    for spec in (str(forced), f"class=trained,data={forced}"):
        table = tmp_path / "e.parquet"
        assert evaluate_checkpoint(spec, "cogs.small", table) == 0
        frame = pd.read_parquet(table)
        assert (frame["stat.action.move.success"] == 0).all() and (frame["stat.action.noop.success"] > 0).all()


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = Path("/tmp/daf-pickle-exploit-ran")


def test_pickle_that_runs_code_is_refused(tmp_path, daf):
    MARKER.unlink(missing_ok=True)
    evil = tmp_path / "evil.pt"
    torch.save({"format": checkpoint.FORMAT, "payload": Exploit()}, evil)
    with pytest.raises(UserError, match="refused: it is not plain data"):
        checkpoint.load(evil)
    result = daf(
        "evaluate",
        "--policy",
        str(evil),
        "--mission",
        "cogs.tiny",
        "--episodes",
        "1",
        "--seed",
        "0",
        "--out",
        str(tmp_path / "x.parquet"),
    )
    assert result.returncode == 2 and "refused" in result.stderr and "Traceback" not in result.stderr
    assert not MARKER.exists()


def test_bad_checkpoints(tmp_path, daf):
    run = tiny_run(tmp_path, "good")
    model = run["out"] / "model.pt"
    # another architecture: trained on cogs.tiny, evaluated on forage (other features and tags)
    result = daf(
        "evaluate",
        "--policy",
        str(model),
        "--mission",
        "forage.open",
        "--episodes",
        "1",
        "--seed",
        "0",
        "--out",
        str(tmp_path / "a.parquet"),
    )
    assert result.returncode == 2 and "trained for other observations/actions" in result.stderr
    # truncated
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(model.read_bytes()[:500])
    result = daf(
        "evaluate",
        "--policy",
        str(truncated),
        "--mission",
        "cogs.tiny",
        "--episodes",
        "1",
        "--seed",
        "0",
        "--out",
        str(tmp_path / "b.parquet"),
    )
    assert result.returncode == 2 and "corrupt or not a torch file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    # a periodic (training-state) checkpoint is not a policy
    periodic = next((run["out"] / "periodic").rglob("step_*.pt"))
    with pytest.raises(UserError, match="periodic training checkpoint"):
        from daf.evaluation.episodes import mission_env_info
        from daf.policies.trained import TrainedPolicy

        TrainedPolicy(mission_env_info(MISSIONS["cogs.tiny"])).load_policy_data(str(periodic))
    for path in (tmp_path / "a.parquet", tmp_path / "b.parquet"):
        assert not path.exists()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--set", "lr=0.1"], "unknown hyperparameter 'lr'"),
        (["--set", "learning_rate=-1"], "hyperparameter learning_rate: Input should be greater than 0"),
        (["--set", "learning_rate"], "is not KEY=VALUE"),
        (["--steps", "-5"], "--steps must be positive"),
        (["--mission", "cogs.nope"], "unknown mission 'cogs.nope'"),
        (["--arch", "transformer"], "unknown arch 'transformer'; valid archs: tokens, tokens_lstm, cnn, lstm"),
        (["--device", "tpu"], "--device 'tpu' is not one of auto, cpu, cuda"),
    ],
)
def test_train_bad_input(daf, tmp_path, args, needle):
    base = {"--mission": "cogs.tiny", "--steps": "64", "--seed": "0", "--out": str(tmp_path / "o")}
    flags = dict(base)
    extra = []
    for i in range(0, len(args), 2):
        if args[i] in flags:
            flags[args[i]] = args[i + 1]
        else:
            extra += args[i : i + 2]
    result = daf("train", *[x for kv in flags.items() for x in kv], *extra, "--no-progress")
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o" / "model.pt").exists()


def _train_cmd(out: Path, steps: int, extra=()):
    return [
        sys.executable,
        "-m",
        "daf",
        "train",
        "--mission",
        "cogs.tiny",
        "--steps",
        str(steps),
        "--seed",
        "3",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--no-progress",
        "--set",
        "num_envs=2",
        "--set",
        "rollout_steps=16",
        "--set",
        "checkpoint_interval=1024",
        *extra,
    ]


@pytest.mark.slow
def test_kill_and_resume(tmp_path):
    """SIGKILL after the first periodic checkpoint; the rerun continues from the newest one."""
    out = tmp_path / "run"
    steps = 12_000  # 2 envs x 2 agents x 16 steps = 64 per update; a checkpoint every 1024
    proc = subprocess.Popen(_train_cmd(out, steps), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("periodic/*/step_*.json")):
        time.sleep(0.05)
    assert list(out.glob("periodic/*/step_*.json")), "no periodic checkpoint appeared"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "model.pt").exists()  # no final output from a killed run
    saved = sorted(int(p.stem.split("_")[1]) for p in out.glob("periodic/*/step_*.json"))
    assert saved and saved[-1] < steps
    result = subprocess.run(_train_cmd(out, steps), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    sidecar = json.loads((out / "model.json").read_text())
    assert sidecar["resumed_from_step"] == saved[-1]  # the newest complete checkpoint
    assert sidecar["steps"] >= steps
    log = pd.read_parquet(out / "train_log.parquet")
    assert log["agent_steps"].is_monotonic_increasing and log["agent_steps"].iloc[0] == 64
    assert log["agent_steps"].diff().dropna().eq(64).all()  # no update lost from the log, none repeated
    # a different run (other hyperparameters) never resumes from these files
    other = subprocess.run(_train_cmd(out, 256, ["--set", "gamma=0.9"]), capture_output=True, text=True, timeout=300)
    assert other.returncode == 0 and json.loads((out / "model.json").read_text())["resumed_from_step"] is None


def test_corrupt_periodic_checkpoint_is_skipped(tmp_path):
    out = tmp_path / "c"
    hp = PPOConfig(**{**TINY, "checkpoint_interval": 32})
    train(MISSIONS["cogs.tiny"], 96, 0, out, hp=hp, device_name="cpu", fresh=True, progress=False)
    newest = sorted(out.glob("periodic/*/step_*.pt"))[-1]
    newest.write_bytes(newest.read_bytes()[:100])  # e.g. a disk-full write that escaped the atomic rename
    side = train(MISSIONS["cogs.tiny"], 128, 0, out, hp=hp, device_name="cpu", progress=False)
    assert side["resumed_from_step"] == 64  # fell back to the previous good one


TORCHRUN = Path(sys.executable).parent / "torchrun"


@pytest.mark.slow
@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun not installed")
def test_two_ranks_gloo_stay_identical(tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        str(TORCHRUN),
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "daf",
        "train",
        "--mission",
        "cogs.tiny",
        "--steps",
        "512",
        "--seed",
        "1",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--no-progress",
        "--set",
        "num_envs=2",
        "--set",
        "rollout_steps=16",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    sidecar = json.loads((out / "model.json").read_text())
    assert sidecar["world_size"] == 2 and sidecar["steps"] == 512  # 2 ranks x 64 samples x 4 updates
    log = pd.read_parquet(out / "train_log.parquet")
    assert len(log) == 4 and log["param_checksum"].nunique() == 4  # checked equal across ranks every update
    # the check itself: ranks with different parameters are caught
    probe = SUPPORT / "ddp_divergence_probe.py"
    bad = subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", str(probe)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 0, bad.stderr[-2000:]
    assert "caught: ranks hold different parameters" in bad.stdout


def test_launch_commands(monkeypatch):
    from daf.training import launch

    assert launch.torchrun_command(2, 1, env={})[1:] == ["--standalone", "--nproc_per_node=2"]
    with pytest.raises(UserError, match="--nnodes 2 needs a SLURM allocation"):
        launch.torchrun_command(1, 2, env={})
    monkeypatch.setattr(launch, "first_host", lambda nodelist: "node-a")
    env = {"SLURM_JOB_NODELIST": "node-[a-b]", "SLURM_JOB_ID": "42", "SLURM_JOB_NUM_NODES": "2"}
    cmd = launch.torchrun_command(4, 2, env=env)
    assert cmd[:4] == ["srun", "--nodes=2", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
    assert "--nnodes=2" in cmd and "--nproc_per_node=4" in cmd
    assert "--rdzv_endpoint=node-a:29500" in cmd and "--rdzv_id=daf-42" in cmd
    with pytest.raises(UserError, match="allocation has 1 node"):
        launch.torchrun_command(1, 2, env={**env, "SLURM_JOB_NUM_NODES": "1"})


def test_learning_curve_points_are_the_checkpoints_evaluated(tmp_path):
    """`daf curves` scores every periodic checkpoint on the evaluation's episodes: each point
    equals `daf evaluate` of that checkpoint's weights saved as a policy (the last one: model.pt)."""
    from daf.cli import main
    from daf.evaluation.checkpoints import evaluate_checkpoints, periodic_checkpoints
    from daf.evaluation.table import episode_scores

    run = tiny_run(tmp_path, "curve", steps=96, checkpoint_interval=32, learning_rate=0.05)
    table = evaluate_checkpoints(run["out"], [MISSIONS["cogs.tiny"]], 3, 5, "p", 4, num_envs=2)
    points = periodic_checkpoints(run["out"])
    assert len(points) == len(list((run["out"] / "periodic").rglob("step_*.pt"))) >= 3
    assert [nominal for nominal, _, _ in points] == sorted(table["agent_steps"].unique())
    assert all(nominal % 32 == 0 and 0 <= actual - nominal < 32 for nominal, actual, _ in points[:-1])
    assert list(table.columns[:6]) == ["policy", "run", "agent_steps", "mission", "episode", "seed"]
    assert set(table["run"]) == {4} and len(table) == len(points) * 3
    args = ["--mission", "cogs.tiny", "--episodes", "3", "--seed", "5", "--num-envs", "2", "--no-progress"]
    distinct = set()
    for nominal, _, path in points:
        policy = dict(run["model"], model=checkpoint.load(path)["model"])
        checkpoint.save(tmp_path / f"at{nominal}" / "model.pt", policy, {})
        out = tmp_path / f"at{nominal}.parquet"
        assert (
            main(["evaluate", "--policy", str(tmp_path / f"at{nominal}" / "model.pt"), *args, "--out", str(out)]) == 0
        )
        expected = episode_scores(pd.read_parquet(out))["score"].to_numpy()
        np.testing.assert_array_equal(table.loc[table["agent_steps"] == nominal, "score"].to_numpy(), expected)
        distinct.add(tuple(pd.read_parquet(out)["stat.action.move.success"]))
    assert len(distinct) > 1  # the checkpoints really act differently (the test can tell them apart)
    every_other = evaluate_checkpoints(run["out"], [MISSIONS["cogs.tiny"]], 1, 5, "p", 4, num_envs=2, every=2)
    kept = [nominal for i, (nominal, _, _) in enumerate(points) if i % 2 == 0 or i == len(points) - 1]
    assert sorted(every_other["agent_steps"].unique()) == kept


def test_loading_weights_into_an_acting_network_drops_its_cache():
    """The tokens network caches its token table while acting; new weights must not act with it."""
    from daf.evaluation.episodes import mission_env_info
    from daf.policies.networks import ObsEncoder
    from daf.training.run import build_net

    info = mission_env_info(MISSIONS["cogs.tiny"])
    encoder = ObsEncoder(info)
    torch.manual_seed(0)
    net, _ = build_net(encoder, len(info.action_names), "tokens", PPOConfig())
    torch.manual_seed(1)
    other, _ = build_net(encoder, len(info.action_names), "tokens", PPOConfig())
    net.eval(), other.eval()
    with torch.no_grad():
        before = net.token_table().clone()
        net.load_state_dict(other.state_dict())
        assert torch.equal(net.token_table(), other.token_table())
        assert not torch.equal(net.token_table(), before)


def test_final_and_best_checkpoints_are_checked_against_their_sidecar(tmp_path, daf):
    """model.pt (and a sweep's best/model.pt, a copy of one) loads only if its bytes match the
    sha256 in its sidecar; without a sidecar it loads with a one-line warning."""
    run = tiny_run(tmp_path, "run")
    best = tmp_path / "sweep" / "best"
    best.mkdir(parents=True)
    for name in ("model.pt", "model.json"):
        shutil.copyfile(run["out"] / name, best / name)
    tampered = dict(run["model"])
    tampered["model"] = {k: torch.zeros_like(v) for k, v in run["model"]["model"].items()}
    evaluate = ["evaluate", "--mission", "cogs.tiny", "--episodes", "1", "--seed", "0"]
    for path in (run["out"] / "model.pt", best / "model.pt"):
        torch.save(tampered, path)  # weights replaced, sidecar left as it was
        with pytest.raises(UserError, match="does not match the sha256 in model.json"):
            checkpoint.load(path)
        out = tmp_path / "e.parquet"
        result = daf(*evaluate, "--policy", str(path), "--out", str(out))
        assert result.returncode == 2 and not out.exists(), result.stderr
        assert result.stderr.strip().splitlines() == [
            f"daf: error: checkpoint '{path}' does not match the sha256 in model.json (corrupt, truncated or replaced)"
        ]
    (best / "model.json").unlink()
    out = tmp_path / "e.parquet"
    result = daf(*evaluate, "--policy", str(best / "model.pt"), "--out", str(out))
    assert result.returncode == 0 and out.exists(), result.stderr
    assert f"daf: warning: checkpoint '{best / 'model.pt'}' has no sidecar model.json" in result.stderr


def test_same_run_writes_byte_identical_checkpoints(tmp_path):
    """Rerunning the same training writes the same model.pt bytes (torch.save must not embed
    the random temp file's name as the zip's root folder), so sha256s compare across reruns."""
    first, second = tiny_run(tmp_path, "a"), tiny_run(tmp_path, "b")
    # (periodic checkpoints carry the training log so far, whose timing columns differ)
    assert checkpoint.sha256_file(first["out"] / "model.pt") == checkpoint.sha256_file(second["out"] / "model.pt")


# --- several missions, reward shaping, env workers and TensorBoard ---------------------------

SMALL = {"num_envs": 4, "rollout_steps": 8, "num_minibatches": 2, "update_epochs": 1}
VOLATILE = ["sps", "wall_seconds"]  # timing columns of the training log


def small_run(tmp_path: Path, name: str, missions, steps: int = 256, **kwargs) -> tuple[dict, pd.DataFrame]:
    hp = PPOConfig(**{**SMALL, **kwargs.pop("hp", {})})
    out = tmp_path / name
    side = train(missions, steps, 0, out, hp=hp, device_name="cpu", fresh=True, progress=False, **kwargs)
    return side, pd.read_parquet(out / "train_log.parquet")


def test_shaping_changes_training_but_never_evaluation(tmp_path, daf):
    shaping = {"carbon.gained": 1.0, "oxygen.gained": 1.0}
    plain_side, plain = small_run(tmp_path, "plain", MISSIONS["cogs.tiny"], steps=1200)
    shaped_side, shaped = small_run(tmp_path, "shaped", MISSIONS["cogs.tiny"], steps=1200, shaping=shaping)
    assert shaped_side["shaping"] == shaping and plain_side["shaping"] == {}
    assert json.loads((tmp_path / "shaped" / "model.json").read_text())["shaping"] == shaping  # in the sidecar
    assert shaped["reward_per_step"].sum() > plain["reward_per_step"].sum()  # the training signal changed
    ended = shaped.dropna(subset=["episode_reward"])
    assert (ended["episode_reward_shaped"] > ended["episode_reward"]).all()  # own reward logged apart
    # evaluation plays the mission's own reward: the same checkpoint evaluates to the same
    # bytes whether or not its record says it was trained with shaping
    model = tmp_path / "shaped" / "model.pt"
    copy = tmp_path / "unrecorded" / "model.pt"
    copy.parent.mkdir()
    payload = checkpoint.load(model)
    sidecar = {**json.loads(model.with_suffix(".json").read_text()), "shaping": {}, "preset": None}
    checkpoint.save(copy, payload, sidecar)
    tables = []
    for path in (model, copy):
        out = tmp_path / f"{path.parent.name}.parquet"
        result = daf("evaluate", "--policy", str(path), "--mission", "cogs.tiny", "--episodes", "4", "--seed", "3",
                     "--out", str(out), "--label", "p")  # fmt: skip
        assert result.returncode == 0, result.stderr
        tables.append(out.read_bytes())
    assert tables[0] == tables[1]


def test_same_seed_and_workers_same_log_and_workers_change_speed_only(tmp_path):
    missions = [MISSIONS["cogs.tiny"], MISSIONS["cogs.small"]]
    kwargs = {"steps": 2000, "mission_weights": [1, 1], "shaping": {"carbon.gained": 0.1}}
    logs, weights = [], []
    for name, workers in (("w2a", 2), ("w2b", 2), ("w0", 0)):
        side, log = small_run(tmp_path, name, missions, workers=workers, **kwargs)
        assert side["workers"] == workers
        logs.append(log.drop(columns=VOLATILE))
        weights.append(checkpoint.load(tmp_path / name / "model.pt")["model"])
    pd.testing.assert_frame_equal(logs[0], logs[1])  # same seed, same worker count: identical
    pd.testing.assert_frame_equal(logs[0], logs[2])  # and the worker count does not change the run
    assert all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])
    assert {"episode_reward/cogs.tiny", "episode_reward/cogs.small", "episodes/cogs.tiny"} <= set(logs[0].columns)


@pytest.mark.parametrize("missions", [["cogs.small"], ["cogs.tiny", "cogs.small"]])
def test_acting_while_learning_same_log_whatever_the_workers(tmp_path, missions):
    """The learner thread and the collector share nothing that depends on timing: reruns and
    every worker count give the same log and weights; the first update (acted with the
    initial weights either way) equals the sequential run's, the later ones do not."""
    missions = [MISSIONS[m] for m in missions]
    kwargs = {"steps": 1500, "hp": {"act_while_learning": True}}
    if len(missions) > 1:
        kwargs["mission_weights"] = [1, 1]
    logs, nets = [], []
    for name, workers in (("a", 1), ("b", 1), ("w0", 0), ("w2", 2)):
        side, log = small_run(tmp_path, name, missions, workers=workers, **kwargs)
        assert side["hyperparameters"]["act_while_learning"] is True
        logs.append(log.drop(columns=VOLATILE))
        nets.append(checkpoint.load(tmp_path / name / "model.pt")["model"])
    for log, net in zip(logs[1:], nets[1:]):
        pd.testing.assert_frame_equal(logs[0], log)
        assert all(torch.equal(nets[0][k], net[k]) for k in net)
    steps = logs[0]["agent_steps"]
    assert steps.iloc[-1] >= 1500 > steps.iloc[-2]  # no rollout beyond the budget is learned from or counted
    _, sequential = small_run(tmp_path, "seq", missions, **{**kwargs, "hp": {"act_while_learning": False}})
    assert sequential["policy_loss"].iloc[0] == logs[0]["policy_loss"].iloc[0]
    assert sequential["policy_loss"].iloc[1] != logs[0]["policy_loss"].iloc[1]
    assert sequential["agent_steps"].tolist() == logs[0]["agent_steps"].tolist()  # the same samples per update


def test_acting_while_learning_resumes_from_its_periodic_checkpoints(tmp_path):
    """A longer budget continues the run from its newest periodic checkpoint (as after a kill):
    the rollout that was collected but not learned from when it was saved is collected again
    with the saved weights, so no update is lost or repeated in the log."""
    missions = [MISSIONS["cogs.small"]]
    hp = {"act_while_learning": True, "checkpoint_interval": 256}
    short, _ = small_run(tmp_path, "run", missions, steps=640, hp=hp)
    out = tmp_path / "run"
    longer = train(missions, 1280, 0, out, hp=PPOConfig(**{**SMALL, **hp}), device_name="cpu", progress=False)
    assert longer["resumed_from_step"] == short["steps"] == 640 and longer["steps"] == 1280
    log = pd.read_parquet(out / "train_log.parquet")
    assert log["agent_steps"].tolist() == list(range(128, 1281, 128))


def test_an_error_in_the_learner_thread_reaches_the_caller(tmp_path, monkeypatch):
    from daf.training import ppo

    learned = []

    def failing_learn(rollout, hp, **kwargs):
        learned.append(1)
        if len(learned) == 2:
            raise RuntimeError("learner failed")
        return original(rollout, hp, **kwargs)

    original = ppo._learn
    monkeypatch.setattr(ppo, "_learn", failing_learn)
    with pytest.raises(RuntimeError, match="learner failed"):
        small_run(tmp_path, "fail", [MISSIONS["cogs.small"]], steps=1000, hp={"act_while_learning": True})
    assert len(learned) == 2 and not (tmp_path / "fail" / "model.pt").exists()


def test_tensorboard_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    small_run(tmp_path, "tb", MISSIONS["cogs.tiny"], steps=256, tensorboard=True)
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"policy_loss", "entropy", "reward_per_step", "explained_variance"} <= tags
    assert [e.step for e in events.Scalars("entropy")] == [64, 128, 192, 256]


@pytest.mark.slow
def test_multi_mission_training_beats_random_on_both(tmp_path, daf):
    """One network on forage.open and forage.rooms (other maps, other agent counts) for a
    small budget: better than random on each mission's held-out episodes."""
    out = tmp_path / "two"
    result = daf("train", "--mission", "forage.open", "--mission", "forage.rooms", "--steps", "150000", "--seed", "0",
                 "--out", str(out), "--device", "cpu", "--workers", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    log = pd.read_parquet(out / "train_log.parquet")
    assert log["episodes/forage.open"].sum() > 0 and log["episodes/forage.rooms"].sum() > 0
    for mission in ("forage.open", "forage.rooms"):
        scores = {}
        for policy in (str(out / "model.pt"), "random"):
            table = tmp_path / f"{mission}-{Path(policy).stem}.parquet"
            done = daf("evaluate", "--policy", policy, "--mission", mission, "--episodes", "16", "--seed", "10000",
                       "--out", str(table), "--label", "p")  # fmt: skip
            assert done.returncode == 0, done.stderr
            scores[policy] = pd.read_parquet(table).groupby("episode")["reward"].mean()
        trained, random = scores[str(out / "model.pt")], scores["random"]
        assert trained.mean() > random.mean() + 4 * (trained.std() + random.std()) / 4, (mission, trained, random)


@pytest.mark.slow
def test_kill_and_resume_with_workers(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "daf", "train", "--mission", "cogs.tiny", "--mission", "cogs.small", "--steps",
           "40000", "--seed", "0", "--out", str(out), "--device", "cpu", "--no-progress", "--workers", "2",
           "--set", "num_envs=4", "--set", "checkpoint_interval=2000"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while time.time() < deadline and not list(out.glob("periodic/*/step_*.json")):
        time.sleep(0.05)
    assert list(out.glob("periodic/*/step_*.json")), "no periodic checkpoint appeared"
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "model.pt").exists()
    saved = sorted(int(p.stem.split("_")[1]) for p in out.glob("periodic/*/step_*.json"))
    deadline = time.time() + 30  # orphaned env workers notice the closed pipe and exit
    while time.time() < deadline and _workers_alive(out):
        time.sleep(0.2)
    assert not _workers_alive(out)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    sidecar = json.loads((out / "model.json").read_text())
    assert sidecar["resumed_from_step"] == saved[-1] and sidecar["steps"] >= 40000 and sidecar["workers"] == 2
    log = pd.read_parquet(out / "train_log.parquet")
    assert log["agent_steps"].is_monotonic_increasing and log["update"].tolist() == list(range(1, len(log) + 1))


def _workers_alive(out: Path) -> bool:
    """Env worker processes of a run whose parent was killed: forked, they carry its command line."""
    found = subprocess.run(["pgrep", "-f", "--", f"--out {out}"], capture_output=True, text=True)
    return bool(found.stdout.strip())


def test_token_pooling_over_the_valid_tokens_equals_pooling_padded_rows():
    """The tokens network pools only the tokens on the map (a flat list with offsets); the result,
    and its gradient, must be what padded rows with a padding index give, empty bags included."""
    from daf.evaluation.episodes import mission_env_info
    from daf.policies.networks import ObsEncoder
    from daf.training.run import build_net

    info = mission_env_info(MISSIONS["cogs.tiny"])
    encoder = ObsEncoder(info)
    torch.manual_seed(0)
    net, _ = build_net(encoder, len(info.action_names), "tokens", PPOConfig())
    pad = encoder.num_inputs
    gen = torch.Generator().manual_seed(3)
    rows = torch.randint(0, pad, (64, 12), generator=gen)
    rows[torch.rand(64, 12, generator=gen) < 0.4] = pad  # empty or global tokens, anywhere in a row
    rows[5], rows[9, 3:] = pad, pad  # an empty bag and a short one
    values = torch.rand(64, 12, generator=gen) * 5

    def padded_reference():
        table = net.token_table()
        total = torch.nn.functional.embedding_bag(rows, table, per_sample_weights=values, mode="sum", padding_idx=pad)
        peak = torch.nn.functional.embedding_bag(rows, table, mode="max", padding_idx=pad)
        return net.body(torch.cat([total * (1.0 / 8), peak], dim=1))

    net.train()
    got, want = net.features(rows, values), padded_reference()
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    grads = [torch.autograd.grad(out.square().sum(), net.channel_embed)[0] for out in (got, want)]
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-5)  # summed in another order
    empty = net.body(torch.zeros(1, 2 * net.channel_embed.shape[1]))[0]  # an empty bag pools to zeros
    torch.testing.assert_close(got[5], empty)

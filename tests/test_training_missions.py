"""Training on several missions, reward shaping, env workers and TensorBoard (`daf train`)."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from daf import checkpoint
from daf.config import PPOConfig, validate_study
from daf.envs import EnvMission, VecEnv
from daf.errors import UserError
from daf.mission_set import check_compatible, preset_shaping, resolve_shaping, shaped_config
from daf.missions import MISSIONS
from daf.ppo import train

SMALL = {"num_envs": 4, "rollout_steps": 8, "num_minibatches": 2, "update_epochs": 1}
VOLATILE = ["sps", "wall_seconds"]  # timing columns of the training log


def run(tmp_path: Path, name: str, missions, steps: int = 256, **kwargs) -> tuple[dict, pd.DataFrame]:
    hp = PPOConfig(**{**SMALL, **kwargs.pop("hp", {})})
    out = tmp_path / name
    side = train(missions, steps, 0, out, hp=hp, device_name="cpu", fresh=True, progress=False, **kwargs)
    return side, pd.read_parquet(out / "train_log.parquet")


# --- which missions can train together ---------------------------------------------------


def test_missions_that_differ_get_one_line_naming_the_difference():
    with pytest.raises(UserError) as err:
        check_compatible([MISSIONS["cogs.tiny"], MISSIONS["cogs.standard"]])
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("missions cogs.tiny and cogs.standard cannot train one network: observation features")
    assert "cogs.standard alone has inv:germanium" in message
    with pytest.raises(
        UserError,
        match=r"observation features differ \(cogs.tiny alone has inv:carbon, .* and 8 more; "
        r"forage.open alone has inv:food",
    ):
        check_compatible([MISSIONS["cogs.tiny"], MISSIONS["forage.open"]])
    assert check_compatible([MISSIONS["cogs.tiny"], MISSIONS["cogs.small"], MISSIONS["cogs.scarce"]])


def study(train: dict) -> dict:
    return {"policies": {"p": {"train": {"steps": 100, **train}}}, "missions": ["cogs.tiny"]}


@pytest.mark.parametrize(
    "train_settings, needle",
    [
        ({"missions": ["cogs.tiny", "cogs.standard"]}, "policies.p.train: missions cogs.tiny and cogs.standard cannot"),
        ({"mission": "cogs.tiny", "missions": ["cogs.small"]}, "give exactly one of `mission`"),
        ({}, "give exactly one of `mission`"),
        ({"missions": ["cogs.tiny", "cogs.small"], "mission_weights": [1]}, "one weight per mission (2 missions, 1"),
        ({"missions": ["cogs.tiny", "cogs.small"], "mission_weights": [1, 0]}, "weights must be positive"),
        ({"mission": "cogs.tiny", "shaping": {"carbon.gaind": 0.1}}, "'carbon.gaind' is not a stat shaping can use"),
        ({"mission": "cogs.tiny", "shaping": {"germanium.gained": 0.1}}, "valid: carbon.gained, carbon.lost"),
        ({"mission": "forage.open", "preset": "gather"}, "forage.open declare no gathered resources"),
        ({"mission": "cogs.tiny", "preset": "shiny"}, "preset"),
    ],
)
def test_bad_train_settings_name_the_key(train_settings, needle):
    with pytest.raises(UserError) as err:
        validate_study(study(train_settings), "t.yaml")
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_cli_rejects_incompatible_missions_in_one_line(daf, tmp_path):
    result = daf("train", "--mission", "cogs.tiny", "--mission", "forage.open", "--steps", "64", "--seed", "0",
                 "--out", str(tmp_path / "x"))  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "missions cogs.tiny and forage.open cannot train one network" in lines[0]
    assert not (tmp_path / "x" / "model.pt").exists()
    bad = daf("train", "--mission", "cogs.tiny", "--shape", "carbon.gained", "--steps", "64", "--seed", "0",
              "--out", str(tmp_path / "y"))  # fmt: skip
    assert bad.returncode == 2 and "--shape 'carbon.gained' is not STAT=WEIGHT" in bad.stderr
    weights = daf("train", "--mission", "cogs.tiny", "--mission", "cogs.small", "--mission-weights", "1",
                  "--steps", "64", "--seed", "0", "--out", str(tmp_path / "z"))  # fmt: skip
    assert weights.returncode == 2 and "--mission-weights needs 2 positive numbers, one per --mission" in weights.stderr


def test_gather_preset_shapes_what_the_missions_gather():
    assert preset_shaping("gather", [MISSIONS["cogs.standard"]]) == {
        f"{e}.gained": 0.5 for e in ("carbon", "germanium", "oxygen", "silicon")
    }
    # explicit terms override the preset's
    resolved = resolve_shaping("gather", {"carbon.gained": 0.2}, [MISSIONS["cogs.small"]])
    assert resolved == {"carbon.gained": 0.2, "oxygen.gained": 0.5}


# --- the envs: per-env mission draws, inactive rows, shaping accounting -------------------


def play(env: VecEnv, steps: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    trace = []
    for _ in range(steps):
        env.actions[:] = rng.integers(0, 5, size=env.actions.shape)
        rewards, done, ended = env.step()
        trace.append((rewards.copy(), done.copy(), env.active.copy(), env.obs.copy(), ended))
    return trace


def test_envs_draw_missions_per_episode_and_leave_missing_agents_inactive():
    missions = [EnvMission(n, MISSIONS[n].config()) for n in ("cogs.tiny", "cogs.small")]  # 2 and 4 agents
    env = VecEnv(missions, 6, np.random.SeedSequence(0), weights=[1, 1], groups=2)
    try:
        assert env.obs.shape[:2] == (6, 4) and env.num_agents == 4
        trace = play(env, 1300)
        drawn = [e.mission for step in trace for e in step[4]]
    finally:
        env.close()
    assert set(drawn) == {0, 1}  # both missions were played
    for rewards, _, active, obs, _ in trace:
        tiny = active.sum(1) == 2
        assert set(active.sum(1)) <= {2, 4}
        assert (rewards[~active] == 0).all() and (obs[~active] == 255).all()  # empty, unrewarded slots
        assert tiny.any() or (~tiny).any()


def test_envs_give_the_same_episodes_with_any_number_of_workers():
    missions = [EnvMission(n, MISSIONS[n].config()) for n in ("cogs.tiny", "cogs.small")]
    traces = []
    for workers in (0, 1, 3):
        env = VecEnv(missions, 5, np.random.SeedSequence(7), weights=[1, 3], workers=workers, groups=2)
        try:
            traces.append(play(env, 320))
        finally:
            env.close()
    for other in traces[1:]:
        for a, b in zip(traces[0], other):
            assert all(np.array_equal(x, y) for x, y in zip(a[:4], b[:4]))
            assert [(e.mission, e.reward, e.length) for e in a[4]] == [(e.mission, e.reward, e.length) for e in b[4]]


def test_shaped_episode_score_is_exactly_the_missions_own_reward():
    cfg = MISSIONS["cogs.tiny"].config()
    shaping = {"carbon.gained": 0.25, "oxygen.gained": 0.5, "action.move.failed": -0.01}
    plain = VecEnv([EnvMission("cogs.tiny", cfg)], 4, np.random.SeedSequence(3))
    shaped = VecEnv([EnvMission("cogs.tiny", shaped_config(cfg, shaping), shaping)], 4, np.random.SeedSequence(3))
    try:
        a, b = play(plain, 300), play(shaped, 300)  # same maps, same actions
    finally:
        plain.close()
        shaped.close()
    ended_plain = [e for step in a for e in step[4]]
    ended_shaped = [e for step in b for e in step[4]]
    assert len(ended_plain) == len(ended_shaped) == 4
    for p, s in zip(ended_plain, ended_shaped):
        assert s.score == pytest.approx(p.reward, abs=1e-6) and p.score == p.reward
        assert s.reward != s.score  # the shaping terms were paid
    assert not np.array_equal(np.sum([x[0] for x in a], 0), np.sum([x[0] for x in b], 0))
    assert "shaping:" not in json.dumps(cfg.model_dump(mode="json"))  # the mission's own config is untouched


# --- training ----------------------------------------------------------------------------


def test_shaping_changes_training_but_never_evaluation(tmp_path, daf):
    shaping = {"carbon.gained": 1.0, "oxygen.gained": 1.0}
    plain_side, plain = run(tmp_path, "plain", MISSIONS["cogs.tiny"], steps=1200)
    shaped_side, shaped = run(tmp_path, "shaped", MISSIONS["cogs.tiny"], steps=1200, shaping=shaping)
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
        side, log = run(tmp_path, name, missions, workers=workers, **kwargs)
        assert side["workers"] == workers
        logs.append(log.drop(columns=VOLATILE))
        weights.append(checkpoint.load(tmp_path / name / "model.pt")["model"])
    pd.testing.assert_frame_equal(logs[0], logs[1])  # same seed, same worker count: identical
    pd.testing.assert_frame_equal(logs[0], logs[2])  # and the worker count does not change the run
    assert all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])
    assert {"episode_reward/cogs.tiny", "episode_reward/cogs.small", "episodes/cogs.tiny"} <= set(logs[0].columns)


def test_tensorboard_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run(tmp_path, "tb", MISSIONS["cogs.tiny"], steps=256, tensorboard=True)
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

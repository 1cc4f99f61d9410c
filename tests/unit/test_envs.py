"""The vectorised envs (daf/missions/envs.py): per-env mission draws, inactive rows, the same episodes
with any number of workers, and shaping accounting."""

import json

import numpy as np
import pytest

from daf.missions import MISSIONS
from daf.missions.envs import EnvMission, VecEnv
from daf.missions.sets import shaped_config


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


@pytest.mark.parametrize(
    "shaping",
    [{"carbon.gained": 0.25, "oxygen.gained": 0.5, "action.move.failed": -0.01}, {"cell.unique_visited": 0.01}],
)
def test_shaped_episode_score_is_exactly_the_missions_own_reward(shaping):
    cfg = MISSIONS["cogs.tiny"].config()
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
    if list(shaping) == ["cell.unique_visited"]:  # 0.01 per new cell, mean of 2 agents: a multiple of 0.005
        bonus = [round((s.reward - s.score) / 0.005, 3) for s in ended_shaped]
        assert all(b == int(b) and 2 <= b <= 2 * 77 for b in bonus)  # each agent enters >= 1 of the 11x7 cells
    assert "shaping:" not in json.dumps(cfg.model_dump(mode="json"))  # the mission's own config is untouched


def test_an_episode_that_ends_at_its_time_limit_is_marked_truncated():
    """mettagrid flags the time limit as terminals; DAF tells it apart by the step count (the trainer's
    bootstrap_time_limits needs to know)."""
    mission = MISSIONS["cogs.tiny"]  # 300 steps, nothing else ends an episode
    envs = VecEnv([EnvMission(mission.name, mission.config())], 2, np.random.SeedSequence(0))
    ended = []
    for _ in range(300):
        ended += envs.step()[2]
    envs.close()
    assert [(e.length, e.truncated) for e in ended] == [(300, True), (300, True)]

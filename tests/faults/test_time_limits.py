"""Time limits for code DAF does not own (daf.limits): a policy whose step or constructor never
returns, a mission whose get_config() never returns, an episode that is too slow, a policy that
swallows the limit's exception. Each ends the job in seconds with one line naming the culprit
and the limit, exit 2, nothing written, no child process left."""

from __future__ import annotations

import os
import signal
import time

import pytest
import yaml
from helpers import SUPPORT
from workflow_runs import REPO, run_snakemake

from daf.errors import UserError
from daf.limits import LIMITS_ENV, TimeLimitExceeded, TimeLimits, time_limit

pytestmark = pytest.mark.faults

EVAL = ["evaluate", "--mission", "cogs.tiny", "--episodes", "2", "--seed", "0", "--no-progress"]


def _evaluate(daf, tmp_path, policy, *flags, env=None):
    out = tmp_path / "out" / "eval.parquet"
    args = [*EVAL, "--policy", f"policies_for_tests.{policy}", "--replays", "2", "--replay-dir",
            str(tmp_path / "out" / "replays"), "--out", str(out), *flags]  # fmt: skip
    started = time.monotonic()
    result = daf(*args, cwd=SUPPORT, env=env)
    return result, time.monotonic() - started, tmp_path / "out"


def _no_files(directory) -> bool:
    """Nothing written: no file under `directory` (the command creates the empty output folder
    before it starts, to fail early when it cannot write there)."""
    return not [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else True


def _one_line(result, *needles):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("daf: error: "), result.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_a_step_that_never_returns(daf, tmp_path):
    result, seconds, out = _evaluate(daf, tmp_path, "SleepingPolicy", "--step-timeout", "1")
    _one_line(result, "policy 'policies_for_tests.SleepingPolicy' on mission 'cogs.tiny' in episode 0: a step took "
              "longer than its limit of 1 s (evaluation.step_timeout / --step-timeout)")  # fmt: skip
    assert seconds < 30 and _no_files(out)


def test_a_constructor_that_never_returns(daf, tmp_path):
    result, seconds, out = _evaluate(daf, tmp_path, "SlowStartPolicy", "--setup-timeout", "1")
    _one_line(result, "building policy 'policies_for_tests.SlowStartPolicy' took longer than its limit of 1 s "
              "(evaluation.setup_timeout / --setup-timeout)")  # fmt: skip
    assert seconds < 30 and _no_files(out)


def test_a_slow_episode(daf, tmp_path):
    """0.3 s in every reset: no call is stuck, but the episode runs past a 0.2 s limit."""
    result, seconds, out = _evaluate(daf, tmp_path, "SlowPolicy", "--episode-timeout", "0.2")
    _one_line(result, "episode 0 of mission 'cogs.tiny' (1 in lockstep) took longer than its limit of 0.2 s "
              "(evaluation.episode_timeout / --episode-timeout)")  # fmt: skip
    assert seconds < 30 and _no_files(out)
    fine, _, _ = _evaluate(daf, tmp_path, "SlowPolicy", "--episode-timeout", "0")  # 0: no limit
    assert fine.returncode == 0, fine.stderr[-2000:]


def test_the_limits_come_from_the_environment_and_flags_win(daf, tmp_path):
    """The workflow passes the config's limits in DAF_TIME_LIMITS; a flag overrides them."""
    result, seconds, _ = _evaluate(daf, tmp_path, "SleepingPolicy", env={LIMITS_ENV: "step=1,episode=0,setup=0"})
    _one_line(result, "a step took longer than its limit of 1 s")
    result, _, _ = _evaluate(daf, tmp_path, "SleepingPolicy", "--step-timeout", "2", env={LIMITS_ENV: "step=1"})
    _one_line(result, "a step took longer than its limit of 2 s")
    bad, _, _ = _evaluate(daf, tmp_path, "SleepingPolicy", env={LIMITS_ENV: "steps=1"})
    _one_line(bad, f"{LIMITS_ENV} entry 'steps=1' must be step=S, episode=S or setup=S (seconds)")
    bad, _, _ = _evaluate(daf, tmp_path, "SleepingPolicy", "--step-timeout", "-1")
    _one_line(bad, "--step-timeout must be a number of seconds >= 0 (0: no limit); got '-1.0'")


def test_a_mission_whose_get_config_never_returns(daf, tmp_path):
    mission = tmp_path / "stuck.py"
    mission.write_text("import time\n\ndef get_config():\n    time.sleep(10_000)\n")
    out = tmp_path / "out" / "eval.parquet"
    started = time.monotonic()
    result = daf("evaluate", "--policy", "random", "--mission", str(mission), "--episodes", "1", "--seed", "0",
                 "--out", str(out),
                 "--setup-timeout", "1", "--no-progress")  # fmt: skip
    _one_line(result, f"mission 'stuck' ({mission}): get_config() took longer than its limit of 1 s")
    assert time.monotonic() - started < 30 and _no_files(out.parent)


def test_a_policy_that_swallows_the_limit_is_ended_by_the_watchdog(daf, tmp_path):
    """The signal's exception is caught by the policy: past the deadline plus the grace the
    watchdog prints the line, kills the policy's child process and exits 2."""
    pid_file = tmp_path / "child.pid"
    result, seconds, out = _evaluate(daf, tmp_path, "StubbornPolicy", "--step-timeout", "1",
                                     env={"DAF_TEST_CHILD_PID": str(pid_file)})  # fmt: skip
    _one_line(result, "policy 'policies_for_tests.StubbornPolicy' on mission 'cogs.tiny' in episode 0: a step took "
              "longer than its limit of 1 s")  # fmt: skip
    assert 5 < seconds < 40 and not (out / "eval.parquet").exists()
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), f"the policy's child process {child} outlived the job"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie has ended (its parent is gone)
    except FileNotFoundError:
        return False


def test_limits_nest_and_give_back_the_alarm_they_found():
    """The earliest deadline fires; afterwards SIGALRM's handler and timer are what they were (here
    an alarm of 50 s with its own handler, as pytest-timeout sets one), and a previous alarm that
    falls due inside a limit still fires."""
    fired = []

    def mine(signum, frame):
        fired.append(time.monotonic())

    before = signal.signal(signal.SIGALRM, mine)
    saved = signal.setitimer(signal.ITIMER_REAL, 50)
    try:
        outer = r"^outer took longer than its limit of 0.2 s \(evaluation.episode"
        with (
            pytest.raises(TimeLimitExceeded, match=outer),
            time_limit(0.2, "outer", "episode"),
            time_limit(5, "in", "step"),
        ):
            time.sleep(3)
        assert signal.getsignal(signal.SIGALRM) is mine and 49 < signal.getitimer(signal.ITIMER_REAL)[0] <= 50
        with time_limit(5, "fast", "step"):
            time.sleep(0.01)
        assert signal.getsignal(signal.SIGALRM) is mine and 48 < signal.getitimer(signal.ITIMER_REAL)[0] <= 50
        with time_limit(None, "none", "step"), time_limit(0, "zero", "step"):
            time.sleep(0.01)
        signal.setitimer(signal.ITIMER_REAL, 0.2)  # the previous alarm falls due inside a 5 s limit
        with time_limit(5, "long", "step"):
            time.sleep(0.5)
        assert len(fired) == 1 and fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, *saved)
        signal.signal(signal.SIGALRM, before)


def test_time_limits_from_the_environment(monkeypatch):
    monkeypatch.setenv(LIMITS_ENV, "step=2.5, setup=0")
    assert TimeLimits.from_env() == TimeLimits(step=2.5, episode=3600.0, setup=None)
    assert TimeLimits.from_env(episode=7).episode == 7.0
    assert TimeLimits(step=2.5, episode=None, setup=1).to_env() == "step=2.5,episode=0,setup=1"
    monkeypatch.setenv(LIMITS_ENV, "step=soon")
    with pytest.raises(UserError, match=f"{LIMITS_ENV} step must be a number of seconds"):
        TimeLimits.from_env()


@pytest.mark.slow
def test_a_study_with_a_hung_policy_fails_that_job_in_seconds(tmp_path):
    """The config's evaluation.step_timeout reaches the evaluation jobs (through DAF_TIME_LIMITS):
    the hung policy's job fails with the line in its log, the other policy's table is made."""
    config = {
        "policies": {"random": {"spec": "random"}, "hung": {"spec": "policies_for_tests.SleepingPolicy"}},
        "missions": ["cogs.tiny"],
        "evaluation": {"episodes": 2, "num_envs": 2, "step_timeout": 1},
        "compare": {"bootstrap_reps": 100},
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SUPPORT), os.environ.get("PYTHONPATH")]))}
    started = time.monotonic()
    old = dict(os.environ)
    os.environ.update(env)
    try:
        result = run_snakemake(tmp_path, "-c2", "--keep-going", timeout=300)
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert result.returncode != 0 and time.monotonic() - started < 240
    log = (tmp_path / "results/logs/evaluate/hung/cogs.tiny/run0/chunk0.log").read_text()
    assert "policy 'hung' (policies_for_tests.SleepingPolicy) on mission 'cogs.tiny' in episode 0: a step took " \
           "longer than its limit of 1 s (evaluation.step_timeout / --step-timeout)" in log  # fmt: skip
    assert (tmp_path / "results/evals/random/cogs.tiny.parquet").is_file()
    assert not list((tmp_path / "results/evals").glob("hung/**/*.parquet"))
    assert REPO.is_dir()

"""Policies used by the tests to exercise the generic (per-agent, unbatched) path."""

import contextlib
import os
import random
import subprocess
import time

from mettagrid.policy.policy import AgentPolicy, MultiAgentPolicy
from mettagrid.simulator import Action


class GlobalRandomAgent(AgentPolicy):
    # Deliberately skips AgentPolicy.__init__ (like mettagrid's stateless agent): no `_infos`.
    def __init__(self, names):
        self._names = names

    def step(self, obs):
        return Action(name=random.choice(self._names))  # python's global RNG


class GlobalRandomPolicy(MultiAgentPolicy):
    def agent_policy(self, agent_id):
        return GlobalRandomAgent(self.policy_env_info.action_names)


class VibePolicy(MultiAgentPolicy):
    """Answers with an action the mission does not have."""

    def agent_policy(self, agent_id):
        return GlobalRandomAgent(["dance"])


class TagCheckingPolicy(MultiAgentPolicy):
    """Like a CoGames policy built for another game: asserts tags the mission lacks, when built."""

    def __init__(self, policy_env_info, **kwargs):
        super().__init__(policy_env_info, **kwargs)
        assert "cogsguard" in policy_env_info.tag_id_to_name.values(), (
            "expected the CogsGuard tags\n(see the game's docs)"
        )

    def agent_policy(self, agent_id):
        raise AssertionError("unreachable")


class FirstStepFailingAgent(AgentPolicy):
    def step(self, obs):
        raise KeyError("junction")  # e.g. looks up an object the mission does not have


class FirstStepFailingPolicy(MultiAgentPolicy):
    def agent_policy(self, agent_id):
        return FirstStepFailingAgent(self.policy_env_info)


class SecondEpisodeFailingPolicy(GlobalRandomPolicy):
    """Plays episode 0, then fails: episode 0's replay is written before the failure."""

    episodes = 0

    def reset(self):
        self.episodes += 1
        if self.episodes == 2:
            raise RuntimeError("out of memory on the policy server")


# --- policies that hang (time limits, tests/faults/test_time_limits.py) -------------------------


class SleepingAgent(AgentPolicy):
    def step(self, obs):
        time.sleep(10_000)  # a step that never returns


class SleepingPolicy(MultiAgentPolicy):
    def agent_policy(self, agent_id):
        return SleepingAgent(self.policy_env_info)


class SlowStartPolicy(MultiAgentPolicy):
    """Its constructor never returns (e.g. waits for a server that is not there)."""

    def __init__(self, policy_env_info, **kwargs):
        super().__init__(policy_env_info, **kwargs)
        time.sleep(10_000)


class StubbornAgent(AgentPolicy):
    """Swallows every exception, the time limit's included: only the watchdog can end it."""

    def step(self, obs):
        while True:
            with contextlib.suppress(BaseException):  # that is the point
                time.sleep(10_000)


class StubbornPolicy(MultiAgentPolicy):
    """Starts a child process (its pid to $DAF_TEST_CHILD_PID, if set), then hangs in every step."""

    def __init__(self, policy_env_info, **kwargs):
        super().__init__(policy_env_info, **kwargs)
        child = subprocess.Popen(["sleep", "600"])
        if os.environ.get("DAF_TEST_CHILD_PID"):
            with open(os.environ["DAF_TEST_CHILD_PID"], "w") as f:
                f.write(str(child.pid))

    def agent_policy(self, agent_id):
        return StubbornAgent(self.policy_env_info)


class SlowPolicy(GlobalRandomPolicy):
    """Random actions, 0.3 s per episode's reset: slow, never stuck (an episode limit ends it)."""

    def reset(self):
        time.sleep(0.3)


class GreedyAgent(AgentPolicy):
    """Allocates without bound: 64 MB more at every step, kept."""

    hoard: list = []

    def step(self, obs):
        while True:
            self.hoard.append(bytearray(64 * 2**20))


class GreedyPolicy(MultiAgentPolicy):
    def agent_policy(self, agent_id):
        return GreedyAgent(self.policy_env_info)

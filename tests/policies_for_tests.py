"""Policies used by the tests to exercise the generic (per-agent, unbatched) path."""

import random

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

"""Actors: batched drivers that choose actions for many (env, agent) rows at once.

The rollout runs several episodes in lockstep and hands each actor the observations
of all rows it controls as one `(rows, tokens, 3)` array. Every actor gets its own
random generator per episode (derived from the episode seed), so an episode's actions
do not depend on which other episodes share its batch. Neural policies sample with
the Gumbel-max trick on that generator's uniforms instead of torch's global RNG.

`batched = False` marks an actor that steps mettagrid `AgentPolicy` objects one agent
at a time and may use global RNGs; the rollout then runs one episode at a time and
seeds `random`, numpy and torch per episode.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod

import numpy as np
from mettagrid.policy.policy import MultiAgentPolicy
from mettagrid.policy.policy_env_interface import PolicyEnvInterface
from mettagrid.simulator import AgentObservation
from mettagrid.simulator.interface import ObservationToken

from daf.errors import PolicyFailed, UserError, moved_module_hint, one_line
from daf.policies import PolicySpec


class Actor(ABC):
    batched: bool = True

    def start(self, row_env: np.ndarray, row_agent: np.ndarray, rngs: list[np.random.Generator]) -> None:
        """Begin a batch of episodes. Row r is agent `row_agent[r]` of env `row_env[r]`;
        `rngs[e]` is this actor's generator for env e."""
        self.row_env, self.row_agent, self.rngs = row_env, row_agent, rngs
        self.env_rows = [np.flatnonzero(row_env == e) for e in range(len(rngs))]

    @abstractmethod
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions (int32, one per row) for observations `obs` of shape (rows, tokens, 3)."""


class RandomActor(Actor):
    """Uniform over the primary actions, like mettagrid's `random` without vibes."""

    def __init__(self, num_actions: int):
        self.num_actions = num_actions

    def act(self, obs: np.ndarray) -> np.ndarray:
        actions = np.empty(len(obs), dtype=np.int32)
        for rows, rng in zip(self.env_rows, self.rngs):
            if rows.size:
                actions[rows] = rng.integers(0, self.num_actions, size=rows.size)
        return actions


class NoopActor(Actor):
    def __init__(self, noop_index: int):
        self.noop_index = noop_index

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.full(len(obs), self.noop_index, dtype=np.int32)


class ScriptedActor(Actor):
    """One `BaselineBrain` per row; brains are pure Python, so rows run one by one."""

    def __init__(self, policy):
        self.policy = policy

    def start(self, row_env, row_agent, rngs) -> None:
        super().start(row_env, row_agent, rngs)
        # Each env's generator seeds its rows' brains, in row order.
        seeds = {e: rngs[e].integers(0, 2**63 - 1, size=rows.size) for e, rows in enumerate(self.env_rows)}
        self.brains = [None] * len(row_env)
        for e, rows in enumerate(self.env_rows):
            for r, seed in zip(rows, seeds[e]):
                self.brains[r] = self.policy.brain(np.random.default_rng(int(seed)))

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.fromiter((b.step(o) for b, o in zip(self.brains, obs)), dtype=np.int32, count=len(obs))


class TorchActor(Actor):
    """Drives a mettagrid network (`forward_eval(obs, state) -> (logits, values)`) in batch."""

    def __init__(self, policy: MultiAgentPolicy, recurrent: bool, device: str):
        import torch

        self.torch = torch
        self.policy = policy
        self.net = policy.network()
        self.net.eval()
        self.recurrent = recurrent
        self.device = torch.device(device)

    def start(self, row_env, row_agent, rngs) -> None:
        super().start(row_env, row_agent, rngs)
        self.state = None
        if self.recurrent:
            rnn = self.net._rnn
            shape = (len(row_env), rnn.num_layers, self.net.hidden_size)
            self.state = {
                "lstm_h": self.torch.zeros(shape, device=self.device),
                "lstm_c": self.torch.zeros(shape, device=self.device),
            }

    def act(self, obs: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.no_grad():
            x = torch.from_numpy(obs).to(self.device)
            logits, _ = self.net.forward_eval(x, self.state) if self.recurrent else self.net.forward_eval(x)
            logits = logits.float().cpu().numpy()
        return gumbel_argmax(logits, self.env_rows, self.rngs)


class TrainedActor(Actor):
    """A `daf train` network in batch: encode tokens, forward, sample (Gumbel-max)."""

    def __init__(self, policy, device: str):
        import torch

        self.torch = torch
        self.encoder = policy.encoder
        self.net = policy.network()
        self.device = torch.device(device)

    def start(self, row_env, row_agent, rngs) -> None:
        super().start(row_env, row_agent, rngs)
        self.state = self.net.initial_state(len(row_env), self.device)
        self.no_reset = self.torch.zeros(len(row_env), device=self.device)

    def act(self, obs: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.no_grad():
            tokens = torch.from_numpy(obs)
            length = max(1, int((tokens[:, :, 0] != 0xFF).sum(1).max()))  # valid tokens are a prefix
            inputs = self.net.inputs(self.encoder, self.net.stored(self.encoder, tokens[:, :length].to(self.device)))
            logits, _, self.state = self.net(*inputs, self.state, self.no_reset)
        return gumbel_argmax(logits.float().cpu().numpy(), self.env_rows, self.rngs)


def gumbel_argmax(logits: np.ndarray, env_rows: list[np.ndarray], rngs: list[np.random.Generator]) -> np.ndarray:
    """Sample categorical(softmax(logits)) per row using each env's generator."""
    noise = np.empty_like(logits, dtype=np.float64)
    for rows, rng in zip(env_rows, rngs):
        if rows.size:
            noise[rows] = rng.gumbel(size=(rows.size, logits.shape[1]))
    return np.argmax(logits + noise, axis=1).astype(np.int32)


class AgentPolicyActor(Actor):
    """Generic fallback: mettagrid `AgentPolicy.step(AgentObservation)` per agent."""

    batched = False

    def __init__(self, policy: MultiAgentPolicy, env_info: PolicyEnvInterface):
        self.policy = policy
        self.features = {f.id: f for f in env_info.obs_features}
        self.action_index = {name: i for i, name in enumerate(env_info.action_names)}

    def start(self, row_env, row_agent, rngs) -> None:
        super().start(row_env, row_agent, rngs)
        self.policy.reset()
        self.agents = []
        for agent_id in row_agent:
            agent = self.policy.agent_policy(int(agent_id))
            if not hasattr(agent, "_infos"):
                agent._infos = {}  # mettagrid's stateless agent skips AgentPolicy.__init__
            agent.reset()
            self.agents.append(agent)

    def _observation(self, agent_id: int, obs: np.ndarray) -> AgentObservation:
        tokens = []
        for loc, feature, value in obs.tolist():
            if loc == 0xFF:
                break
            tokens.append(ObservationToken(self.features[feature], int(value), (loc, feature, value)))
        return AgentObservation(agent_id=agent_id, tokens=tokens)

    def act(self, obs: np.ndarray) -> np.ndarray:
        actions = np.empty(len(obs), dtype=np.int32)
        for r, (agent, agent_id) in enumerate(zip(self.agents, self.row_agent)):
            action = agent.step(self._observation(int(agent_id), obs[r]))
            name = getattr(action, "name", action)
            if name not in self.action_index:
                raise UserError(
                    f"policy {type(self.policy).__name__} chose action '{name}', not one of the "
                    f"mission's actions: {', '.join(self.action_index)}"
                )
            actions[r] = self.action_index[name]
        return actions


def build_actor(
    spec: PolicySpec, env_info: PolicyEnvInterface, seed: int, device: str = "cpu", mission: str | None = None
) -> Actor:
    """Make the fastest faithful actor for `spec` (`mission`: its name, for error messages).

    Network weights are initialised under `torch.manual_seed(seed)`, so an untrained
    `lstm` is the same network for every mission with the same observation/action shape.
    """
    shorthand = spec.shorthand
    if shorthand == "random" and not spec.init_kwargs:
        return RandomActor(len(env_info.action_names))
    if shorthand == "noop":
        return NoopActor(env_info.action_names.index("noop"))
    policy = instantiate(spec, env_info, seed, device, mission)
    from daf.policies.baseline import BaselinePolicy

    if isinstance(policy, BaselinePolicy):
        return ScriptedActor(policy)
    from mettagrid.policy.lstm import LSTMPolicy
    from mettagrid.policy.stateless import StatelessPolicy

    if type(policy) in (LSTMPolicy, StatelessPolicy):
        return TorchActor(policy, recurrent=isinstance(policy, LSTMPolicy), device=device)
    from daf.policies.trained import TrainedPolicy

    if isinstance(policy, TrainedPolicy):
        return TrainedActor(policy, device)
    return AgentPolicyActor(policy, env_info)


def instantiate(
    spec: PolicySpec, env_info: PolicyEnvInterface, seed: int, device: str, mission: str | None = None
) -> MultiAgentPolicy:
    """Construct (and load weights into) the policy class, with a seeded init."""
    import torch
    from mettagrid.policy.loader import initialize_or_load_policy
    from mettagrid.policy.policy_spec import PolicySpec as MettagridPolicySpec

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    kwargs = dict(spec.init_kwargs)
    mg_spec = MettagridPolicySpec(class_path=spec.class_path, data_path=spec.data_path, init_kwargs=kwargs)
    try:
        return initialize_or_load_policy(env_info, mg_spec, device_override=device)
    except (ImportError, AttributeError, ModuleNotFoundError) as exc:
        hint = moved_module_hint(exc)
        raise UserError(f"cannot load policy class '{spec.class_path}' (spec '{spec.text}'): {exc}{hint}") from exc
    except UserError:
        raise
    except Exception as exc:  # user classes and user files: report on one line, name the spec
        on = f" for mission '{mission}'" if mission else ""
        raise PolicyFailed(f"cannot initialise policy '{spec.text}'{on}: {one_line(exc)}") from exc

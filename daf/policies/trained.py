"""A DAF-trained checkpoint as a mettagrid `MultiAgentPolicy`.

`class=trained,data=DIR/model.pt` (or just `DIR/model.pt`) loads a checkpoint written by
`daf train`. Loading checks that the checkpoint was trained for the same observation
features, tags and actions as the mission it is evaluated on.
"""

from __future__ import annotations

import numpy as np
import torch
from mettagrid.policy.policy import AgentPolicy, MultiAgentPolicy
from mettagrid.policy.policy_env_interface import PolicyEnvInterface
from mettagrid.simulator import Action, AgentObservation

from daf.errors import UserError
from daf.policies import checkpoint
from daf.policies.networks import ObsEncoder, PolicyNet


class TrainedPolicy(MultiAgentPolicy):
    def __init__(self, policy_env_info: PolicyEnvInterface, device: str = "cpu"):
        super().__init__(policy_env_info, device=device)
        self.device = torch.device(device)
        self.encoder = ObsEncoder(policy_env_info)
        self.net: PolicyNet | None = None
        self.metadata: dict = {}

    def load_policy_data(self, policy_data_path: str) -> None:
        payload = checkpoint.load(policy_data_path)
        if "net_kwargs" not in payload:
            raise UserError(f"'{policy_data_path}' is a periodic training checkpoint, not a policy (use model.pt)")
        expected = self.encoder.signature()
        if payload["encoder"] != expected or payload["action_names"] != list(self.policy_env_info.action_names):
            raise UserError(
                f"checkpoint '{policy_data_path}' was trained for other observations/actions than this mission "
                f"(checkpoint: {payload['encoder']}, actions {payload['action_names']}; mission: {expected}, "
                f"actions {list(self.policy_env_info.action_names)})"
            )
        try:
            net = PolicyNet(**payload["net_kwargs"])
            net.load_state_dict(payload["model"])
        except (TypeError, RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise UserError(f"checkpoint '{policy_data_path}' does not fit DAF's network: {first}") from None
        self.net = net.to(self.device).eval()
        self.metadata = {k: v for k, v in payload.items() if k not in ("model",)}

    def save_policy_data(self, policy_data_path: str) -> None:
        raise NotImplementedError("DAF policies are saved by `daf train`")

    def network(self) -> PolicyNet:
        if self.net is None:
            raise UserError("a trained policy needs weights: class=trained,data=PATH/model.pt")
        return self.net

    def is_recurrent(self) -> bool:
        return self.network().lstm is not None

    def agent_policy(self, agent_id: int) -> AgentPolicy:
        return _TrainedAgentPolicy(self, agent_id)


class _TrainedAgentPolicy(AgentPolicy):
    """Per-agent wrapper for mettagrid tools that step one agent at a time."""

    def __init__(self, parent: TrainedPolicy, agent_id: int):
        super().__init__(parent.policy_env_info)
        self.parent = parent
        self.state = parent.network().initial_state(1)
        self.rng = np.random.default_rng(agent_id)

    def reset(self, simulation=None) -> None:
        self.state = self.parent.network().initial_state(1)

    def step(self, obs: AgentObservation) -> Action:
        shape = self.parent.policy_env_info.observation_space.shape
        raw = np.full(shape, 255, dtype=np.uint8)
        for i, token in enumerate(obs.tokens[: shape[0]]):
            raw[i] = token.raw_token
        with torch.no_grad():
            net, encoder = self.parent.network(), self.parent.encoder
            inputs = net.inputs(encoder, net.stored(encoder, torch.from_numpy(raw)[None]))
            logits, _, self.state = net(*inputs, self.state, torch.zeros(1))
        probs = torch.softmax(logits[0].double(), -1).numpy()
        return Action(name=self.parent.policy_env_info.action_names[int(self.rng.choice(len(probs), p=probs))])

"""PPO's experience: a `Rollout` buffer of one update's samples and the `RolloutCollector`
that steps the envs with the current policy to fill it (the "collect" step of CleanRL's
loop; GAE and the update are in daf.training.ppo)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from daf.missions.envs import VecEnv
from daf.policies.networks import ObsEncoder, PolicyNet


@dataclass(eq=False)
class Rollout:
    """One update's samples, time-major `(steps, rows)`; rows are env x agent slots.

    Allocated once per run and refilled by every rollout. What is kept of an observation
    depends on the network (`PolicyNet.stored`): the tokens themselves (`tokens`, trimmed
    to the longest observation so far) or the encoded grid (`grids`, `globs`).
    `dones[t]` is 1 where the observation at step t starts a new episode (the step before
    ended one); `truncs[t]` is 1 where that episode ended at its time limit. `active` marks
    rows that are real agents (a mission with fewer agents than the largest leaves the rest
    empty); only those enter the losses and statistics.
    """

    tokens: torch.Tensor | None  # (steps, rows, tokens, 3) uint8, 0xFF-padded
    grids: torch.Tensor | None  # (steps, rows, H, W, C) uint8 (NHWC)
    globs: torch.Tensor | None  # (steps, rows, features) uint8
    actions: torch.Tensor
    logprobs: torch.Tensor
    rewards: torch.Tensor
    dones: torch.Tensor
    truncs: torch.Tensor
    values: torch.Tensor
    active: torch.Tensor
    length: int = 1  # longest observation so far, in tokens
    initial_state: tuple[torch.Tensor, torch.Tensor] | None = None  # LSTM state before step 0 (replayed)
    advantages: torch.Tensor | None = None  # set by compute_gae after the rollout
    returns: torch.Tensor | None = None

    @classmethod
    def allocate(cls, net: PolicyNet, encoder: ObsEncoder, steps: int, rows: int, device: torch.device) -> Rollout:
        tokens = grids = globs = None
        if net.uses_tokens:
            tokens = torch.full((steps, rows, 64, 3), 0xFF, dtype=torch.uint8, device=device)
        else:
            shape = (steps, rows, encoder.height, encoder.width, encoder.channels)
            grids = torch.zeros(shape, dtype=torch.uint8, device=device)
            globs = torch.zeros((steps, rows, encoder.num_features), dtype=torch.uint8, device=device)
        actions = torch.zeros((steps, rows), dtype=torch.long, device=device)
        floats = {name: torch.zeros((steps, rows), device=device)
                  for name in ("logprobs", "rewards", "dones", "truncs", "values", "active")}  # fmt: skip
        return cls(tokens, grids, globs, actions, **floats)

    @property
    def steps(self) -> int:
        return self.actions.shape[0]

    @property
    def rows(self) -> int:
        return self.actions.shape[1]

    def put(self, t: int, rows: slice, stored: tuple[torch.Tensor, ...]) -> None:
        """Store the observations of `rows` at step `t`."""
        if self.tokens is None:
            self.grids[t, rows], self.globs[t, rows] = stored
            return
        obs = stored[0]
        if obs.shape[1] > self.tokens.shape[2]:  # a longer observation: grow the buffer
            grown = torch.full((*self.tokens.shape[:2], obs.shape[1], 3), 0xFF, dtype=torch.uint8,
                               device=self.tokens.device)  # fmt: skip
            grown[:, :, : self.tokens.shape[2]] = self.tokens
            self.tokens = grown
        self.tokens[t, rows, : obs.shape[1]] = obs
        self.tokens[t, rows, obs.shape[1] :] = 0xFF
        self.length = max(self.length, obs.shape[1])

    def flat_stored(self) -> tuple[torch.Tensor, ...]:
        """Stored observations as `(steps * rows, ...)`, for minibatch row gathers."""
        n = self.steps * self.rows
        if self.tokens is not None:
            return (self.tokens[:, :, : self.length].reshape(n, self.length, 3),)
        return self.grids.reshape(n, *self.grids.shape[2:]), self.globs.reshape(n, -1)


class RolloutCollector:
    """Steps the envs with the current policy into a `Rollout`. Carries what continues from
    one rollout to the next: the envs' episodes, `next_done` and the LSTM state."""

    def __init__(
        self, net: PolicyNet, encoder: ObsEncoder, envs: VecEnv, steps: int, device: torch.device, buffers: int = 1
    ):
        self.net, self.encoder, self.envs, self.device = net, encoder, envs, device
        self.agents = envs.num_agents
        rows = envs.num_envs * self.agents
        # with 2 buffers a rollout can be collected while the learner still reads the previous one
        self.buffers = [Rollout.allocate(net, encoder, steps, rows, device) for _ in range(buffers)]
        self.rollout = self.buffers[0]
        self.collected = 0
        self.next_done = torch.zeros(rows, device=device)  # 1: the next observation starts an episode
        self.next_trunc = torch.zeros(rows, device=device)  # 1: ... and the one before ended at its time limit
        self.state = net.initial_state(rows, device)
        self.group_rows = [slice(lo * self.agents, hi * self.agents) for lo, hi in envs.groups]
        # views of the envs' shared arrays, which every env step overwrites in place
        self.obs_rows = torch.from_numpy(envs.obs).view(rows, envs.obs.shape[2], 3)
        self.rewards_rows = torch.from_numpy(envs.rewards).view(rows)
        self.active_rows = torch.from_numpy(envs.active).view(rows)

    def collect(self, sampler: torch.Generator) -> tuple[Rollout, list]:
        """One rollout (into the collector's buffers in turn); returns it and the episodes that
        ended in it. The env groups are pipelined: group g's actions at step t are computed while
        the other group steps."""
        buf = self.rollout = self.buffers[self.collected % len(self.buffers)]
        self.collected += 1
        state = self.state
        buf.initial_state = None if state is None else (state[0].clone(), state[1].clone())
        finished: list = []
        self.net.eval()
        for t in range(buf.steps):
            noise = torch.rand(buf.rows, generator=sampler, dtype=torch.float64)
            for g in range(len(self.group_rows)):
                if t > 0:
                    self._observe(t - 1, g, finished)
                self._act(t, g, noise)
        for g in range(len(self.group_rows)):
            self._observe(buf.steps - 1, g, finished)
        return buf, finished

    def next_value(self) -> torch.Tensor:
        """Value of the observation after the last step (to bootstrap GAE); call under no_grad."""
        stored = self._stored(self.obs_rows)
        _, value, _ = self.net(*self.net.inputs(self.encoder, stored), self.state, self.next_done)
        return value

    def _stored(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        length = max(1, int((obs[:, :, 0] != 0xFF).sum(1).max()))  # valid tokens are a prefix
        return self.net.stored(self.encoder, obs[:, :length].to(self.device))

    def _act(self, t: int, g: int, noise: torch.Tensor) -> None:
        """Actions of group g at step t: store its observations, sample, start its step."""
        buf, sl, net = self.rollout, self.group_rows[g], self.net
        stored = self._stored(self.obs_rows[sl])
        buf.put(t, sl, stored)
        buf.dones[t, sl], buf.active[t, sl] = self.next_done[sl], self.active_rows[sl].to(self.device)
        buf.truncs[t, sl] = self.next_trunc[sl]
        with torch.no_grad():
            sub = None if self.state is None else (self.state[0][:, sl], self.state[1][:, sl])
            logits, value, sub = net(*net.inputs(self.encoder, stored), sub, self.next_done[sl])
            if self.state is not None:
                self.state[0][:, sl], self.state[1][:, sl] = sub
            logp = torch.log_softmax(logits.float(), dim=-1).cpu()
            # inverse-CDF sampling with one uniform per row drawn for the whole step: the
            # actions do not depend on how rows are split into groups
            cdf = logp.exp().cumsum(-1)
            action = (cdf < noise[sl, None] * cdf[:, -1:]).sum(-1).clamp(max=logp.shape[1] - 1)
        buf.logprobs[t, sl] = logp.gather(1, action[:, None]).squeeze(1).to(self.device)
        buf.values[t, sl], buf.actions[t, sl] = value, action.to(self.device)
        self.envs.actions.reshape(buf.rows)[sl] = action.numpy()
        self.envs.step_group_async(g)

    def _observe(self, t: int, g: int, finished: list) -> None:
        """Results of group g's step t: rewards, episode ends."""
        flags, ended = self.envs.wait_group(g)
        sl = self.group_rows[g]
        self.rollout.rewards[t, sl] = self.rewards_rows[sl].to(self.device)
        self.next_done[sl] = torch.from_numpy(flags).float().repeat_interleave(self.agents).to(self.device)
        truncated = np.zeros_like(flags)
        truncated[np.flatnonzero(flags)] = [e.truncated for e in ended]  # both in env order
        self.next_trunc[sl] = torch.from_numpy(truncated).float().repeat_interleave(self.agents).to(self.device)
        finished += ended

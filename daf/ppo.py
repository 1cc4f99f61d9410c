"""PPO on vectorised MettaGrid, in plain torch (after CleanRL's ppo.py / ppo_atari_lstm.py).

Every agent of every env is a sample and all agents share one network. One update:
collect `rollout_steps` steps from `num_envs` envs, compute GAE, then `update_epochs`
passes of clipped-surrogate SGD over `num_minibatches` minibatches (for the LSTM,
minibatches are whole env-agent sequences so the recurrent state can be replayed).

Distributed data parallel: under `torchrun`, every rank runs its own envs on its own
seed stream, gradients are all-reduced (averaged) before each optimizer step, and a
parameter checksum is compared across ranks after every update. Only rank 0 writes
checkpoints and the log.

Resume: periodic checkpoints (weights, optimizer, update index, RNG states, log so far)
live in `OUT/periodic/<run key>/`; rerunning the same command continues from the newest
one whose sha256 checks out. The run key hashes everything that defines the run except
its length, so a different run never resumes from these files, and a longer `--steps`
extends the same run. Envs restart fresh episodes after a resume (engine state is not
serialisable), so a resumed run is statistically, not bitwise, the same as an
uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from pydantic import ValidationError

from daf import checkpoint
from daf.config import PPOConfig
from daf.envs import EnvMission, VecEnv
from daf.errors import RunFailed, UserError
from daf.io import git_commit, package_versions, progress_bar, write_parquet
from daf.mission_set import check_compatible, check_weights, resolve_shaping, shaped_config
from daf.missions import Mission
from daf.nn import ARCHS, RECURRENT, ObsEncoder, PolicyNet

HYPERPARAMETERS = list(PPOConfig.model_fields)


class TrainingDiverged(RunFailed):
    """The loss became NaN or infinite: these hyperparameters do not train."""


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """`KEY=VALUE` strings (values as YAML scalars) -> dict, unknown keys named."""
    import yaml

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--set '{pair}' is not KEY=VALUE")
        if key not in PPOConfig.model_fields:
            from daf.errors import unknown_choice

            raise unknown_choice("hyperparameter", key, HYPERPARAMETERS)
        out[key] = yaml.safe_load(value) if value.strip() else None
    return out


def parse_shaping(pairs: list[str]) -> dict[str, float]:
    """`STAT=WEIGHT` strings -> {stat: weight}; stat names are checked against the missions later."""
    out: dict[str, float] = {}
    for pair in pairs:
        stat, sep, value = pair.partition("=")
        stat = stat.strip()
        try:
            weight = float(value)
        except ValueError:
            weight = None
        if not sep or not stat or weight is None or not math.isfinite(weight):
            raise UserError(f"--shape '{pair}' is not STAT=WEIGHT with a finite number (e.g. carbon.gained=0.1)")
        out[stat] = weight
    return out


def make_config(values: dict[str, object]) -> PPOConfig:
    try:
        return PPOConfig(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            from daf.errors import unknown_choice

            raise unknown_choice("hyperparameter", where, HYPERPARAMETERS) from None
        raise UserError(f"hyperparameter {where}: {err['msg']} (got {err.get('input')!r})") from None


@dataclass
class Dist:
    """torch.distributed context (a single process when not launched by torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls, device: torch.device) -> Dist:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        import torch.distributed as dist

        backend = "nccl" if device.type == "cuda" else "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend=backend)
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine (use cpu or auto)")
    if name != "cpu" and not name.startswith("cuda"):
        raise UserError(f"--device '{name}' is not one of auto, cpu, cuda[:N]")
    return torch.device(name)


def run_key(
    missions: list[Mission],
    weights: list[float],
    shaping: dict[str, float],
    arch: str,
    hp: PPOConfig,
    seed: int,
    world_size: int,
) -> str:
    """Identifies a run for resuming: everything that shapes it but its length (and the
    worker count, which changes only the speed)."""
    ident = {
        "mission": [m.fingerprint() for m in missions] if len(missions) > 1 else missions[0].fingerprint(),
        "arch": arch, "hp": hp.model_dump(), "seed": seed, "world": world_size,
    }  # fmt: skip
    if len(missions) > 1:
        ident["weights"] = weights
    if shaping:
        ident["shaping"] = shaping
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def build_net(encoder: ObsEncoder, num_actions: int, arch: str, hp: PPOConfig) -> tuple[PolicyNet, dict]:
    kwargs = {
        "channels": encoder.channels,
        "num_globals": encoder.num_features,
        "num_actions": num_actions,
        "arch": arch,
        "hidden_size": hp.hidden_size,
        "conv_channels": hp.conv_channels,
        "token_size": hp.token_size,
        "height": encoder.height,
        "width": encoder.width,
    }
    return PolicyNet(**kwargs), kwargs


def explained_variance(pred: np.ndarray, target: np.ndarray) -> float:
    var = np.var(target)
    return float("nan") if var == 0 else float(1 - np.var(target - pred) / var)


ENV_GROUPS = 2  # envs step in 2 groups: one group's actions are computed while the other steps


class Rollout:
    """One update's samples, time-major `(steps, rows)`; rows are env x agent slots.

    What is kept of an observation depends on the network (`PolicyNet.stored`): the
    tokens themselves (trimmed to the longest observation so far) or the encoded grid.
    `active` marks rows that are real agents (a mission with fewer agents than the
    largest leaves the rest empty); only those enter the losses and statistics.
    """

    def __init__(self, net: PolicyNet, encoder: ObsEncoder, steps: int, rows: int, device: torch.device):
        self.steps, self.rows, self.device = steps, rows, device
        self.uses_tokens = net.uses_tokens
        if self.uses_tokens:
            self.tokens = torch.full((steps, rows, 64, 3), 0xFF, dtype=torch.uint8, device=device)
            self.length = 1
        else:
            shape = (steps, rows, encoder.height, encoder.width, encoder.channels)  # NHWC
            self.grids = torch.zeros(shape, dtype=torch.uint8, device=device)
            self.globs = torch.zeros((steps, rows, encoder.num_features), dtype=torch.uint8, device=device)
        self.actions = torch.zeros((steps, rows), dtype=torch.long, device=device)
        for name in ("logprobs", "rewards", "dones", "values", "active"):
            setattr(self, name, torch.zeros((steps, rows), device=device))

    def put(self, t: int, rows: slice, stored: tuple[torch.Tensor, ...]) -> None:
        if self.uses_tokens:
            obs = stored[0]
            if obs.shape[1] > self.tokens.shape[2]:  # a longer observation: grow the buffer
                grown = torch.full((*self.tokens.shape[:2], obs.shape[1], 3), 0xFF, dtype=torch.uint8,
                                   device=self.device)  # fmt: skip
                grown[:, :, : self.tokens.shape[2]] = self.tokens
                self.tokens = grown
            self.tokens[t, rows, : obs.shape[1]] = obs
            self.tokens[t, rows, obs.shape[1] :] = 0xFF
            self.length = max(self.length, obs.shape[1])
        else:
            self.grids[t, rows], self.globs[t, rows] = stored

    def flat_stored(self) -> tuple[torch.Tensor, ...]:
        """Stored observations as `(steps * rows, ...)`, for minibatch row gathers."""
        n = self.steps * self.rows
        if self.uses_tokens:
            return (self.tokens[:, :, : self.length].reshape(n, self.length, 3),)
        return self.grids.reshape(n, *self.grids.shape[2:]), self.globs.reshape(n, -1)


def train(
    missions: Mission | list[Mission],
    steps: int,
    seed: int,
    out: Path,
    arch: str = "tokens",
    hp: PPOConfig | None = None,
    device_name: str = "auto",
    fresh: bool = False,
    progress: bool = True,
    stop_after_updates: int | None = None,
    on_update: Callable[[dict], bool] | None = None,
    mission_weights: list[float] | None = None,
    shaping: dict[str, float] | None = None,
    workers: int = 0,
    tensorboard: bool = False,
    preset: str | None = None,
) -> dict:
    """Train one network on `missions` (each env draws its mission per episode with
    `mission_weights`); returns the final sidecar (`stopped_early` when `on_update` stopped
    it: then no final model is written). `on_update(log_row)` runs after every update on a
    single process (sweeps use it to report to a pruner) and returns True to stop.
    `shaping` adds training-only reward terms (agent stat -> weight); the log's
    `episode_reward` is always the missions' own reward; a `preset` (daf.mission_set.PRESETS)
    adds its terms under explicit ones. `workers` env processes change
    the speed, never the result. `stop_after_updates` exists for tests only.
    Raises TrainingDiverged on a non-finite loss."""
    missions = [missions] if isinstance(missions, Mission) else list(missions)
    hp = hp or PPOConfig()
    shaping = dict(shaping or {})
    weights = [1.0] * len(missions) if mission_weights is None else [float(w) for w in mission_weights]
    if steps <= 0:
        raise UserError(f"--steps must be positive (got {steps})")
    if arch not in ARCHS:
        raise UserError(f"unknown arch '{arch}'; valid archs: {', '.join(ARCHS)}")
    env_info = check_compatible(missions)
    check_weights(weights, missions)
    shaping = resolve_shaping(preset, shaping, missions)
    writer = _tensorboard_writer(out) if tensorboard else None
    device = resolve_device(device_name)
    dist_ctx = Dist.from_env(device)
    if device.type == "cuda" and dist_ctx.enabled:
        device = torch.device("cuda", dist_ctx.local_rank)
    rank, world = dist_ctx.rank, dist_ctx.world_size

    encoder = ObsEncoder(env_info)
    num_actions = len(env_info.action_names)
    env_missions = [EnvMission(m.name, shaped_config(m.config(), shaping), shaping) for m in missions]
    agents = max(m.num_agents for m in env_missions)
    rows = hp.num_envs * agents  # env x agent slots per env step on this rank
    recurrent = arch in RECURRENT
    if recurrent and rows % hp.num_minibatches:
        raise UserError(
            f"{arch}: num_envs x agents ({rows}) must be divisible by num_minibatches ({hp.num_minibatches})"
        )
    if not recurrent and rows * hp.rollout_steps < hp.num_minibatches:
        raise UserError(f"rollout batch ({rows * hp.rollout_steps}) is smaller than num_minibatches "
                        f"({hp.num_minibatches})")  # fmt: skip

    # Seeds: the network init depends only on `seed`; envs and sampling get a stream per rank.
    torch.manual_seed(seed)
    net, net_kwargs = build_net(encoder, num_actions, arch, hp)
    net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=hp.learning_rate, eps=1e-5, fused=True)
    env_seed = np.random.SeedSequence([seed, rank, 1])
    sampler = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, rank, 2]).generate_state(1)[0]))
    shuffler = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, rank, 3]).generate_state(1)[0]))
    random.seed(seed + rank)

    key = run_key(missions, weights, shaping, arch, hp, seed, world)
    periodic_dir = out / "periodic" / key
    start_update, global_step, log_rows, resumed_from = 0, 0, [], None
    env_resets = 0  # envs restart fresh after a resume: a new stream position per resume
    if not fresh:
        state = _latest_periodic(periodic_dir)
        if state is not None:
            net.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start_update, global_step = int(state["update"]), int(state["global_step"])
            log_rows = list(state["log"])
            sampler.set_state(state["rng"]["sampler"][rank])
            shuffler.set_state(state["rng"]["shuffler"][rank])
            env_resets = int(state["rng"].get("env_resets", 0)) + 1
            random.setstate(_to_random_state(state["rng"]["python"]))
            resumed_from = global_step
    if dist_ctx.enabled:  # every rank starts from rank 0's parameters
        import torch.distributed as tdist

        for p in net.parameters():
            tdist.broadcast(p.data, src=0)

    if env_resets:
        env_seed = np.random.SeedSequence([seed, rank, 1, env_resets])
    envs = VecEnv(env_missions, hp.num_envs, env_seed, weights, workers=workers, groups=ENV_GROUPS)
    try:
        sidecar = _train_loop(
            net, optimizer, hp, dist_ctx, envs, encoder, device, sampler, shuffler, steps, start_update, global_step,
            log_rows, periodic_dir, key, env_resets, progress, stop_after_updates, on_update, writer,
        )  # fmt: skip
    finally:
        envs.close()
        if writer is not None:
            writer.close()
    log_rows, global_step, stopped_early = sidecar
    sidecar = {
        "format": checkpoint.FORMAT,
        "mission": {"name": missions[0].name, "source": missions[0].source, "sha256": missions[0].fingerprint()},
        "missions": [{"name": m.name, "source": m.source, "sha256": m.fingerprint()} for m in missions],
        "mission_weights": weights,
        "preset": preset,
        "shaping": shaping,
        "arch": arch,
        "steps": global_step,
        "requested_steps": steps,
        "seed": seed,
        "hyperparameters": hp.model_dump(),
        "world_size": world,
        "workers": envs.workers,
        "device": str(device),
        "resumed_from_step": resumed_from,
        "run_key": key,
        "updates": len(log_rows),
        "stopped_early": stopped_early,
        "wall_seconds": log_rows[-1]["wall_seconds"] if log_rows else 0.0,
        "versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
    }
    if rank == 0 and global_step >= steps and not stopped_early:
        write_parquet(out / "train_log.parquet", pd.DataFrame(log_rows))
        payload = _policy_payload(net, net_kwargs, encoder, env_info.action_names)
        sidecar["sha256"] = checkpoint.save(out / "model.pt", payload, sidecar)
    if dist_ctx.enabled:
        import torch.distributed as tdist

        tdist.barrier()
        tdist.destroy_process_group()
    return sidecar


def _train_loop(
    net, optimizer, hp, dist_ctx, envs, encoder, device, sampler, shuffler, steps, start_update, global_step,
    log_rows, periodic_dir, key, env_resets, progress, stop_after_updates, on_update, writer,
) -> tuple[list[dict], int, bool]:  # fmt: skip
    rank = dist_ctx.rank
    agents = envs.num_agents
    rows = envs.num_envs * agents
    T = hp.rollout_steps
    buf = Rollout(net, encoder, T, rows, device)
    names = [m.name for m in envs.missions]
    next_done = torch.zeros(rows, device=device)
    state = net.initial_state(rows, device)
    bar = progress_bar(steps, "train", progress and rank == 0, initial=min(global_step, steps), unit="step")
    started = time.perf_counter()
    wall_offset = log_rows[-1]["wall_seconds"] if log_rows else 0.0
    last_checkpoint = global_step
    total_tokens = envs.obs.shape[2]
    stopped_early = False
    if on_update is not None and dist_ctx.enabled:
        raise UserError("on_update (pruning) runs on a single process, not under torchrun")
    group_rows = [slice(lo * agents, hi * agents) for lo, hi in envs.groups]
    obs_rows = torch.from_numpy(envs.obs).view(rows, total_tokens, 3)
    rewards_rows = torch.from_numpy(envs.rewards).view(rows)
    active_rows = torch.from_numpy(envs.active).view(rows)
    update = start_update

    def act(t: int, g: int, noise: torch.Tensor) -> None:
        """Actions of group g at step t: store its observations, sample, start its step."""
        nonlocal state
        sl = group_rows[g]
        obs = obs_rows[sl]
        length = max(1, int((obs[:, :, 0] != 0xFF).sum(1).max()))  # valid tokens are a prefix
        stored = net.stored(encoder, obs[:, :length].to(device))
        buf.put(t, sl, stored)
        buf.dones[t, sl], buf.active[t, sl] = next_done[sl], active_rows[sl].to(device)
        with torch.no_grad():
            sub = None if state is None else (state[0][:, sl], state[1][:, sl])
            logits, value, sub = net(*net.inputs(encoder, stored), sub, next_done[sl])
            if state is not None:
                state[0][:, sl], state[1][:, sl] = sub
            logp = torch.log_softmax(logits.float(), dim=-1).cpu()
            # inverse-CDF sampling with one uniform per row drawn for the whole step: the
            # actions do not depend on how rows are split into groups
            cdf = logp.exp().cumsum(-1)
            action = (cdf < noise[sl, None] * cdf[:, -1:]).sum(-1).clamp(max=logp.shape[1] - 1)
        buf.logprobs[t, sl] = logp.gather(1, action[:, None]).squeeze(1).to(device)
        buf.values[t, sl], buf.actions[t, sl] = value, action.to(device)
        envs.actions.reshape(rows)[sl] = action.numpy()
        envs.step_group_async(g)

    def collect(t: int, g: int, finished: list) -> None:
        """Results of group g's step t: rewards, episode ends."""
        flags, ended = envs.wait_group(g)
        sl = group_rows[g]
        buf.rewards[t, sl] = rewards_rows[sl].to(device)
        next_done[sl] = torch.from_numpy(flags).float().repeat_interleave(agents).to(device)
        finished += ended

    while global_step < steps:
        update_start = time.perf_counter()
        if hp.anneal_lr:
            optimizer.param_groups[0]["lr"] = hp.learning_rate * max(0.0, 1.0 - global_step / steps)
        initial_state = None if state is None else (state[0].clone(), state[1].clone())
        finished: list = []
        net.eval()
        for t in range(T):
            noise = torch.rand(rows, generator=sampler, dtype=torch.float64)
            for g in range(len(group_rows)):
                if t > 0:
                    collect(t - 1, g, finished)
                act(t, g, noise)
        for g in range(len(group_rows)):
            collect(T - 1, g, finished)
        active_steps = int(buf.active.sum().item())
        previous_step = global_step
        global_step += _sum_over_ranks(active_steps, dist_ctx)

        with torch.no_grad():  # bootstrap value and GAE
            obs = obs_rows
            length = max(1, int((obs[:, :, 0] != 0xFF).sum(1).max()))
            stored = net.stored(encoder, obs[:, :length].to(device))
            _, next_value, _ = net(*net.inputs(encoder, stored), state, next_done)
            advantages = torch.zeros_like(buf.rewards)
            last = torch.zeros(rows, device=device)
            for t in reversed(range(T)):
                not_done = 1.0 - (next_done if t == T - 1 else buf.dones[t + 1])
                nv = next_value if t == T - 1 else buf.values[t + 1]
                delta = buf.rewards[t] + hp.gamma * nv * not_done - buf.values[t]
                last = delta + hp.gamma * hp.gae_lambda * not_done * last
                advantages[t] = last
            returns = advantages + buf.values

        net.train()
        stats = _learn(net, optimizer, hp, dist_ctx, shuffler, encoder, initial_state, buf, advantages, returns)
        bad = [name for name, value in stats.items() if not math.isfinite(value)]
        if bad:
            raise TrainingDiverged(
                f"training diverged at update {update + 1} (agent-step {global_step:,}): "
                f"{', '.join(bad)} not finite (learning_rate {hp.learning_rate}); lower the learning rate"
            )
        checksum = _check_in_sync(net, dist_ctx)

        elapsed = time.perf_counter() - update_start
        live = buf.active.bool()
        row = {
            "update": update + 1,
            "agent_steps": global_step,
            "episodes": len(finished),
            "episode_reward": _mean([e.score for e in finished]),  # the missions' own reward
            "episode_length": _mean([e.length for e in finished]),
            # per agent-step of this rollout (shaping included): defined before any episode ends
            "reward_per_step": float(buf.rewards[live].mean()) if active_steps else float("nan"),
            **stats,
            "explained_variance": explained_variance(buf.values[live].cpu().numpy(), returns[live].cpu().numpy()),
            "learning_rate": optimizer.param_groups[0]["lr"],
            "sps": (global_step - previous_step) / elapsed,
            "wall_seconds": wall_offset + time.perf_counter() - started,
            "param_checksum": checksum,
        }
        if any(m.shaping for m in envs.missions):
            row["episode_reward_shaped"] = _mean([e.reward for e in finished])
        if len(names) > 1:
            for i, name in enumerate(names):
                row[f"episode_reward/{name}"] = _mean([e.score for e in finished if e.mission == i])
                row[f"episodes/{name}"] = sum(e.mission == i for e in finished)
        log_rows.append(row)
        if writer is not None and rank == 0:
            for name, value in row.items():
                if isinstance(value, (int, float)) and math.isfinite(value) and name not in ("update", "agent_steps"):
                    writer.add_scalar(name, value, global_step)
            writer.flush()
        bar.update(min(global_step, steps) - min(previous_step, steps))
        update += 1
        # every rank decides alike (global_step is shared) because saving gathers every rank's RNG state
        # on a fixed grid (the first update at or past each multiple of the interval), so runs whose
        # updates differ in size (several missions) have checkpoints at comparable agent-steps
        if global_step // hp.checkpoint_interval > last_checkpoint // hp.checkpoint_interval or global_step >= steps:
            generators = {"sampler": sampler, "shuffler": shuffler}
            _save_periodic(periodic_dir, net, optimizer, update, global_step, log_rows, generators, env_resets,
                           dist_ctx, key)  # fmt: skip
            last_checkpoint = global_step
        if stop_after_updates is not None and update - start_update >= stop_after_updates:
            break
        if on_update is not None and on_update(row):
            stopped_early = True
            break
    bar.close()
    return log_rows, global_step, stopped_early


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def _sum_over_ranks(value: int, dist_ctx: Dist) -> int:
    if not dist_ctx.enabled:
        return value
    import torch.distributed as tdist

    total = torch.tensor([value], dtype=torch.long)
    tdist.all_reduce(total)
    return int(total.item())


def _tensorboard_writer(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError(
            "--tensorboard needs the tensorboard package: pip install -c constraints.txt -e '.[tensorboard]'"
        ) from None
    return SummaryWriter(log_dir=str(out / "tensorboard"))


def _masked_mean(mask: torch.Tensor, count: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: (x * mask).sum() / count


def _learn(net, optimizer, hp, dist_ctx, shuffler, encoder, initial_state, buf: Rollout, advantages, returns) -> dict:
    """The PPO update over the active rows; returns loss statistics of the last minibatch
    (and KL / clip fraction)."""
    steps, rows = buf.actions.shape
    n = steps * rows
    stored = buf.flat_stored()
    b_actions, b_logprobs = buf.actions.reshape(n), buf.logprobs.reshape(n)
    b_adv, b_returns, b_values = advantages.reshape(n), returns.reshape(n), buf.values.reshape(n)
    b_dones, b_active = buf.dones.reshape(n), buf.active.reshape(n)
    recurrent = net.lstm is not None
    units = rows if recurrent else n  # recurrent minibatches are whole env-agent sequences
    per_mb = max(1, units // hp.num_minibatches)
    clipfracs, approx_kl, pg_loss, v_loss, entropy = [], 0.0, 0.0, 0.0, 0.0
    for _epoch in range(hp.update_epochs):
        order = torch.randperm(units, generator=shuffler)
        for start in range(0, units, per_mb):
            chosen = order[start : start + per_mb]
            if recurrent:  # all time steps of the chosen env-agent rows, time-major
                idx = (torch.arange(steps)[:, None] * rows + chosen[None, :]).reshape(-1)
                mb_state = (initial_state[0][:, chosen], initial_state[1][:, chosen])
            else:
                idx, mb_state = chosen, None
            mask = b_active[idx]
            count = mask.sum()
            if count == 0:
                continue
            inputs = net.inputs(encoder, tuple(x.index_select(0, idx) for x in stored))
            logits, new_values, _ = net(*inputs, mb_state, b_dones[idx])
            log_all = torch.log_softmax(logits, dim=-1)
            new_logprob = log_all.gather(1, b_actions[idx][:, None]).squeeze(1)
            logratio = new_logprob - b_logprobs[idx]
            ratio = logratio.exp()
            masked_mean = _masked_mean(mask, count)
            ent = masked_mean(-(log_all.exp() * log_all).sum(-1))
            with torch.no_grad():
                approx_kl = float(masked_mean((ratio - 1) - logratio))
                clipfracs.append(float(masked_mean(((ratio - 1.0).abs() > hp.clip_coef).float())))
            mb_adv = b_adv[idx]
            if hp.norm_adv and count > 1:
                mean = masked_mean(mb_adv)
                std = (masked_mean((mb_adv - mean) ** 2) * count / (count - 1)).sqrt()
                mb_adv = (mb_adv - mean) / (std + 1e-8)
            clipped = torch.clamp(ratio, 1 - hp.clip_coef, 1 + hp.clip_coef)
            pg = masked_mean(torch.max(-mb_adv * ratio, -mb_adv * clipped))
            if hp.clip_vloss:
                v_unclipped = (new_values - b_returns[idx]) ** 2
                v_clipped = b_values[idx] + torch.clamp(new_values - b_values[idx], -hp.clip_coef, hp.clip_coef)
                vl = 0.5 * masked_mean(torch.max(v_unclipped, (v_clipped - b_returns[idx]) ** 2))
            else:
                vl = 0.5 * masked_mean((new_values - b_returns[idx]) ** 2)
            loss = pg - hp.ent_coef * ent + hp.vf_coef * vl
            optimizer.zero_grad()
            loss.backward()
            if dist_ctx.enabled:
                _all_reduce_grads(net, dist_ctx.world_size)
            nn.utils.clip_grad_norm_(net.parameters(), hp.max_grad_norm)
            optimizer.step()
            pg_loss, v_loss, entropy = float(pg.detach()), float(vl.detach()), float(ent.detach())
        if hp.target_kl is not None and approx_kl > hp.target_kl:
            break
    return {
        "policy_loss": pg_loss,
        "value_loss": v_loss,
        "entropy": entropy,
        "approx_kl": approx_kl,
        "clip_fraction": float(np.mean(clipfracs)) if clipfracs else 0.0,
    }


def _all_reduce_grads(net: nn.Module, world_size: int) -> None:
    import torch.distributed as tdist

    grads = [p.grad for p in net.parameters() if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    tdist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def _check_in_sync(net: nn.Module, dist_ctx: Dist) -> str:
    """sha256 of the parameters; under torchrun every rank must agree, else we stop."""
    digest = hashlib.sha256()
    for p in net.parameters():
        digest.update(p.detach().cpu().contiguous().numpy().tobytes())
    checksum = digest.hexdigest()[:16]
    if dist_ctx.enabled:
        import torch.distributed as tdist

        gathered: list[str | None] = [None] * dist_ctx.world_size
        tdist.all_gather_object(gathered, checksum)
        if len(set(gathered)) != 1:
            raise RuntimeError(f"ranks hold different parameters after an update: {gathered}")
    return checksum


def _policy_payload(net: PolicyNet, net_kwargs: dict, encoder: ObsEncoder, action_names: list[str]) -> dict:
    return {
        "format": checkpoint.FORMAT,
        "net_kwargs": net_kwargs,
        "encoder": encoder.signature(),
        "action_names": list(action_names),
        "model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }


def _save_periodic(directory, net, optimizer, update, global_step, log_rows, generators, env_resets, dist_ctx, key):
    """Collective under torchrun (every rank's RNG streams are gathered); rank 0 writes."""
    mine = ({name: g.get_state() for name, g in generators.items()}, None)
    gathered = [mine]
    if dist_ctx.enabled:
        import torch.distributed as tdist

        gathered = [None] * dist_ctx.world_size
        tdist.all_gather_object(gathered, mine)
    if dist_ctx.rank != 0:
        return
    rng = {name: [g[0][name] for g in gathered] for name in generators}
    rng["env_resets"] = env_resets
    rng["python"] = _from_random_state(random.getstate())
    payload = {
        "format": checkpoint.FORMAT,
        "model": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "update": update,
        "global_step": global_step,
        "log": log_rows,
        "rng": rng,
    }
    checkpoint.save(directory / f"step_{global_step:012d}.pt", payload, {"run_key": key, "global_step": global_step})


def _latest_periodic(directory: Path) -> dict | None:
    """Newest periodic checkpoint whose bytes match its sidecar (older ones as fallback)."""
    if not directory.is_dir():
        return None
    for path in sorted(directory.glob("step_*.pt"), reverse=True):
        try:
            return checkpoint.load(path, verify_sidecar=True)
        except UserError as exc:
            print(f"daf: skipping unusable periodic checkpoint: {exc}", file=sys.stderr)
    return None


def _from_random_state(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _to_random_state(state: list) -> tuple:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)

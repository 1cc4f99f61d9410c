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
from daf.envs import VecEnv
from daf.errors import UserError
from daf.io import git_commit, package_versions, progress_bar, write_parquet
from daf.missions import Mission
from daf.nn import ARCHS, ObsEncoder, PolicyNet
from daf.rollout import mission_env_info

HYPERPARAMETERS = list(PPOConfig.model_fields)


class TrainingDiverged(UserError):
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


def run_key(mission: Mission, arch: str, hp: PPOConfig, seed: int, world_size: int) -> str:
    """Identifies a run for resuming: everything but its length."""
    ident = {"mission": mission.fingerprint(), "arch": arch, "hp": hp.model_dump(), "seed": seed, "world": world_size}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def build_net(encoder: ObsEncoder, num_actions: int, arch: str, hp: PPOConfig) -> tuple[PolicyNet, dict]:
    kwargs = {
        "channels": encoder.channels,
        "num_globals": encoder.num_features,
        "num_actions": num_actions,
        "arch": arch,
        "hidden_size": hp.hidden_size,
        "conv_channels": hp.conv_channels,
    }
    return PolicyNet(**kwargs), kwargs


def explained_variance(pred: np.ndarray, target: np.ndarray) -> float:
    var = np.var(target)
    return float("nan") if var == 0 else float(1 - np.var(target - pred) / var)


def train(
    mission: Mission,
    steps: int,
    seed: int,
    out: Path,
    arch: str = "cnn",
    hp: PPOConfig | None = None,
    device_name: str = "auto",
    fresh: bool = False,
    progress: bool = True,
    stop_after_updates: int | None = None,
    on_update: Callable[[dict], bool] | None = None,
) -> dict:
    """Train; returns the final sidecar (`stopped_early` when `on_update` stopped it: then
    no final model is written). `on_update(log_row)` runs after every update on a single
    process (sweeps use it to report to a pruner) and returns True to stop.
    `stop_after_updates` exists for tests only. Raises TrainingDiverged on a non-finite loss."""
    hp = hp or PPOConfig()
    if steps <= 0:
        raise UserError(f"--steps must be positive (got {steps})")
    if arch not in ARCHS:
        raise UserError(f"unknown arch '{arch}'; valid archs: {', '.join(ARCHS)}")
    device = resolve_device(device_name)
    dist_ctx = Dist.from_env(device)
    if device.type == "cuda" and dist_ctx.enabled:
        device = torch.device("cuda", dist_ctx.local_rank)
    rank, world = dist_ctx.rank, dist_ctx.world_size

    cfg = mission.config()
    env_info = mission_env_info(mission)
    encoder = ObsEncoder(env_info)
    num_actions = len(env_info.action_names)
    agents = cfg.game.num_agents
    rows = hp.num_envs * agents  # samples per env step on this rank
    batch = rows * hp.rollout_steps
    if arch == "lstm" and rows % hp.num_minibatches:
        raise UserError(f"lstm: num_envs x agents ({rows}) must be divisible by num_minibatches ({hp.num_minibatches})")
    if arch == "cnn" and batch < hp.num_minibatches:
        raise UserError(f"rollout batch ({batch}) is smaller than num_minibatches ({hp.num_minibatches})")
    steps_per_update = batch * world
    num_updates = max(1, math.ceil(steps / steps_per_update))

    # Seeds: the network init depends only on `seed`; envs and sampling get a stream per rank.
    torch.manual_seed(seed)
    net, net_kwargs = build_net(encoder, num_actions, arch, hp)
    net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=hp.learning_rate, eps=1e-5, fused=True)
    env_seeds = np.random.default_rng(np.random.SeedSequence([seed, rank, 1]))
    sampler = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, rank, 2]).generate_state(1)[0]))
    shuffler = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, rank, 3]).generate_state(1)[0]))
    random.seed(seed + rank)

    key = run_key(mission, arch, hp, seed, world)
    periodic_dir = out / "periodic" / key
    start_update, global_step, log_rows, resumed_from = 0, 0, [], None
    if not fresh:
        state = _latest_periodic(periodic_dir)
        if state is not None:
            net.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start_update, global_step = int(state["update"]), int(state["global_step"])
            log_rows = list(state["log"])
            sampler.set_state(state["rng"]["sampler"][rank])
            shuffler.set_state(state["rng"]["shuffler"][rank])
            env_seeds.bit_generator.state = state["rng"]["env_seeds"][rank]
            random.setstate(_to_random_state(state["rng"]["python"]))
            resumed_from = global_step
    if dist_ctx.enabled:  # every rank starts from rank 0's parameters
        import torch.distributed as tdist

        for p in net.parameters():
            tdist.broadcast(p.data, src=0)

    envs = VecEnv(cfg, hp.num_envs, env_seeds)
    shape_grid = (hp.rollout_steps, rows, encoder.height, encoder.width, encoder.channels)  # NHWC
    grids = torch.zeros(shape_grid, dtype=torch.uint8, device=device)
    globs = torch.zeros((hp.rollout_steps, rows, encoder.num_features), dtype=torch.uint8, device=device)
    actions = torch.zeros((hp.rollout_steps, rows), dtype=torch.long, device=device)
    logprobs = torch.zeros((hp.rollout_steps, rows), device=device)
    rewards = torch.zeros((hp.rollout_steps, rows), device=device)
    dones = torch.zeros((hp.rollout_steps, rows), device=device)
    values = torch.zeros((hp.rollout_steps, rows), device=device)

    next_done = torch.zeros(rows, device=device)
    state = net.initial_state(rows, device)
    bar = progress_bar(
        num_updates * steps_per_update, "train", progress and rank == 0, initial=global_step, unit="step"
    )
    started = time.perf_counter()
    wall_offset = log_rows[-1]["wall_seconds"] if log_rows else 0.0
    last_checkpoint = global_step
    total_tokens = envs.obs.shape[2]
    stopped_early = False
    if on_update is not None and dist_ctx.enabled:
        raise UserError("on_update (pruning) runs on a single process, not under torchrun")

    for update in range(start_update, num_updates):
        update_start = time.perf_counter()
        if hp.anneal_lr:
            optimizer.param_groups[0]["lr"] = hp.learning_rate * (1.0 - update / num_updates)
        initial_state = None if state is None else (state[0].clone(), state[1].clone())
        finished = []
        net.eval()
        for step in range(hp.rollout_steps):
            obs = torch.from_numpy(envs.obs).view(rows, total_tokens, 3)
            length = int((obs[:, :, 0] != 0xFF).sum(1).max())  # valid tokens are a prefix
            grid, glob = encoder(obs[:, : max(length, 1)].to(device))
            grids[step], globs[step], dones[step] = grid, glob, next_done
            with torch.no_grad():
                logits, value, state = net(grid, glob, state, next_done)
                logp = torch.log_softmax(logits.float(), dim=-1).cpu()
                action = torch.multinomial(logp.exp(), 1, generator=sampler)
                logprobs[step] = logp.gather(1, action).squeeze(1).to(device)
                action = action.squeeze(1)
            values[step], actions[step] = value, action.to(device)
            envs.actions[:] = action.view(hp.num_envs, agents).numpy()
            reward, done, ended = envs.step()
            finished += ended
            rewards[step] = torch.from_numpy(reward.reshape(rows)).to(device)
            next_done = torch.from_numpy(done).float().repeat_interleave(agents).to(device)
        global_step += steps_per_update

        with torch.no_grad():  # bootstrap value and GAE
            obs = torch.from_numpy(envs.obs).view(rows, total_tokens, 3)
            grid, glob = encoder(obs.to(device))
            _, next_value, _ = net(grid, glob, state, next_done)
            advantages = torch.zeros_like(rewards)
            last = torch.zeros(rows, device=device)
            for t in reversed(range(hp.rollout_steps)):
                not_done = 1.0 - (next_done if t == hp.rollout_steps - 1 else dones[t + 1])
                nv = next_value if t == hp.rollout_steps - 1 else values[t + 1]
                delta = rewards[t] + hp.gamma * nv * not_done - values[t]
                last = delta + hp.gamma * hp.gae_lambda * not_done * last
                advantages[t] = last
            returns = advantages + values

        net.train()
        stats = _learn(
            net,
            optimizer,
            hp,
            dist_ctx,
            shuffler,
            initial_state,
            grids,
            globs,
            actions,
            logprobs,
            advantages,
            returns,
            values,
            dones,
        )
        bad = [name for name, value in stats.items() if not math.isfinite(value)]
        if bad:
            raise TrainingDiverged(
                f"training diverged at update {update + 1} (agent-step {global_step:,}): "
                f"{', '.join(bad)} not finite (learning_rate {hp.learning_rate}); lower the learning rate"
            )
        checksum = _check_in_sync(net, dist_ctx)

        elapsed = time.perf_counter() - update_start
        row = {
            "update": update + 1,
            "agent_steps": global_step,
            "episodes": len(finished),
            "episode_reward": float(np.mean([e.reward for e in finished])) if finished else float("nan"),
            "episode_length": float(np.mean([e.length for e in finished])) if finished else float("nan"),
            "reward_per_step": float(rewards.mean()),  # per agent-step of this rollout: defined before any episode ends
            **stats,
            "explained_variance": explained_variance(values.flatten().cpu().numpy(), returns.flatten().cpu().numpy()),
            "learning_rate": optimizer.param_groups[0]["lr"],
            "sps": steps_per_update / elapsed,
            "wall_seconds": wall_offset + time.perf_counter() - started,
            "param_checksum": checksum,
        }
        log_rows.append(row)
        bar.update(steps_per_update)
        # every rank decides alike (global_step is shared) because saving gathers every rank's RNG state
        if global_step - last_checkpoint >= hp.checkpoint_interval or update + 1 == num_updates:
            generators = {"sampler": sampler, "shuffler": shuffler}
            _save_periodic(
                periodic_dir, net, optimizer, update + 1, global_step, log_rows, generators, env_seeds, dist_ctx, key
            )
            last_checkpoint = global_step
        if stop_after_updates is not None and update + 1 - start_update >= stop_after_updates:
            break
        if on_update is not None and on_update(row):
            stopped_early = True
            break
    bar.close()
    envs.close()

    sidecar = {
        "format": checkpoint.FORMAT,
        "mission": {"name": mission.name, "source": mission.source, "sha256": mission.fingerprint()},
        "arch": arch,
        "steps": global_step,
        "requested_steps": steps,
        "seed": seed,
        "hyperparameters": hp.model_dump(),
        "world_size": world,
        "device": str(device),
        "resumed_from_step": resumed_from,
        "run_key": key,
        "updates": len(log_rows),
        "stopped_early": stopped_early,
        "wall_seconds": log_rows[-1]["wall_seconds"] if log_rows else 0.0,
        "versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
    }
    complete = log_rows and log_rows[-1]["update"] == num_updates
    if rank == 0 and complete:
        write_parquet(out / "train_log.parquet", pd.DataFrame(log_rows))
        payload = _policy_payload(net, net_kwargs, encoder, env_info.action_names)
        sidecar["sha256"] = checkpoint.save(out / "model.pt", payload, sidecar)
    if dist_ctx.enabled:
        import torch.distributed as tdist

        tdist.barrier()
        tdist.destroy_process_group()
    return sidecar


def _learn(
    net,
    optimizer,
    hp,
    dist_ctx,
    shuffler,
    initial_state,
    grids,
    globs,
    actions,
    logprobs,
    advantages,
    returns,
    values,
    dones,
) -> dict:
    """The PPO update; returns loss statistics of the last minibatch (and KL / clip fraction)."""
    steps, rows = actions.shape

    def flat(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(steps * rows, *x.shape[2:])

    grid_shape = grids.shape[2:]
    b_grids = grids.reshape(steps * rows, -1)  # rows of bytes: index_select is a plain row copy
    b_globs, b_actions = flat(globs), flat(actions)
    b_logprobs, b_adv, b_returns, b_values, b_dones = map(flat, (logprobs, advantages, returns, values, dones))
    recurrent = net.lstm is not None
    units = rows if recurrent else steps * rows  # lstm minibatches whole sequences
    per_mb = max(1, units // hp.num_minibatches)
    clipfracs, approx_kl, pg_loss, v_loss, entropy = [], 0.0, 0.0, 0.0, 0.0
    for _epoch in range(hp.update_epochs):
        order = torch.randperm(units, generator=shuffler)
        for start in range(0, units, per_mb):
            chosen = order[start : start + per_mb]
            if recurrent:  # all time steps of the chosen env-agent rows, time-major
                idx = (torch.arange(steps)[:, None] * rows + chosen[None, :]).reshape(-1)
                mb_state = (initial_state[0][:, chosen], initial_state[1][:, chosen])
                mb_grids = b_grids.index_select(0, idx).view(-1, *grid_shape)
                logits, new_values, _ = net(mb_grids, b_globs[idx], mb_state, b_dones[idx])
            else:
                idx = chosen
                mb_grids = b_grids.index_select(0, idx).view(-1, *grid_shape)
                logits, new_values, _ = net(mb_grids, b_globs[idx])
            log_all = torch.log_softmax(logits, dim=-1)
            new_logprob = log_all.gather(1, b_actions[idx][:, None]).squeeze(1)
            ent = -(log_all.exp() * log_all).sum(-1).mean()
            logratio = new_logprob - b_logprobs[idx]
            ratio = logratio.exp()
            with torch.no_grad():
                approx_kl = float(((ratio - 1) - logratio).mean())
                clipfracs.append(float(((ratio - 1.0).abs() > hp.clip_coef).float().mean()))
            mb_adv = b_adv[idx]
            if hp.norm_adv and mb_adv.numel() > 1:
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
            pg = torch.max(-mb_adv * ratio, -mb_adv * torch.clamp(ratio, 1 - hp.clip_coef, 1 + hp.clip_coef)).mean()
            if hp.clip_vloss:
                v_unclipped = (new_values - b_returns[idx]) ** 2
                v_clipped = b_values[idx] + torch.clamp(new_values - b_values[idx], -hp.clip_coef, hp.clip_coef)
                vl = 0.5 * torch.max(v_unclipped, (v_clipped - b_returns[idx]) ** 2).mean()
            else:
                vl = 0.5 * ((new_values - b_returns[idx]) ** 2).mean()
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


def _save_periodic(directory, net, optimizer, update, global_step, log_rows, generators, env_seeds, dist_ctx, key):
    """Collective under torchrun (every rank's RNG streams are gathered); rank 0 writes."""
    mine = ({name: g.get_state() for name, g in generators.items()}, env_seeds.bit_generator.state)
    gathered = [mine]
    if dist_ctx.enabled:
        import torch.distributed as tdist

        gathered = [None] * dist_ctx.world_size
        tdist.all_gather_object(gathered, mine)
    if dist_ctx.rank != 0:
        return
    rng = {name: [g[0][name] for g in gathered] for name in generators}
    rng["env_seeds"] = [g[1] for g in gathered]
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

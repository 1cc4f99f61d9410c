"""A training run: what it trains, with what, and where it stands (Run, RunState), built and
checked once by `daf.training.ppo.train`; the run key that identifies it for resuming.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from daf.config.training import PPOConfig
from daf.errors import UserError
from daf.missions import Mission
from daf.missions.sets import check_compatible, check_weights, resolve_shaping
from daf.policies.networks import ARCHS, RECURRENT, ObsEncoder, PolicyNet
from daf.training.distributed import Dist


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


ENV_GROUPS = 2  # envs step in 2 groups: one group's actions are computed while the other steps


@dataclass(eq=False)
class Run:
    """Everything one training run works with, built once by `train`."""

    missions: list[Mission]
    weights: list[float]  # mission draw probabilities (unnormalised)
    shaping: dict[str, float]  # training-only reward terms, preset included
    preset: str | None
    arch: str
    hp: PPOConfig
    seed: int
    steps: int  # requested agent-steps, over all ranks
    device: torch.device
    dist: Dist
    encoder: ObsEncoder
    action_names: list[str]
    net: PolicyNet
    net_kwargs: dict
    optimizer: torch.optim.Optimizer
    sampler: torch.Generator  # action sampling noise (per rank)
    shuffler: torch.Generator  # minibatch order (per rank)
    key: str  # run_key: which periodic checkpoints belong to this run
    periodic_dir: Path


@dataclass
class RunState:
    """Where a run stands; saved in every periodic checkpoint and restored on resume."""

    update: int = 0  # updates done
    global_step: int = 0  # agent-steps done, over all ranks
    log_rows: list[dict] = field(default_factory=list)
    env_resets: int = 0  # envs restart fresh after a resume: a new env seed stream per resume
    resumed_from: int | None = None  # global_step of the checkpoint this process resumed from


def check_request(missions, weights, shaping, preset, steps, arch) -> tuple[object, dict[str, float]]:
    """Refuse a run that cannot start; returns the missions' shared env interface and the
    shaping terms with the preset's added."""
    if steps <= 0:
        raise UserError(f"--steps must be positive (got {steps})")
    if arch not in ARCHS:
        raise UserError(f"unknown arch '{arch}'; valid archs: {', '.join(ARCHS)}")
    env_info = check_compatible(missions)
    check_weights(weights, missions)
    return env_info, resolve_shaping(preset, shaping, missions)


def check_minibatches(arch: str, hp: PPOConfig, rows: int) -> None:
    """`rows` env x agent slots per env step on this rank must split into the minibatches."""
    if arch in RECURRENT and rows % hp.num_minibatches:
        raise UserError(
            f"{arch}: num_envs x agents ({rows}) must be divisible by num_minibatches ({hp.num_minibatches})"
        )
    if arch not in RECURRENT and rows * hp.rollout_steps < hp.num_minibatches:
        raise UserError(f"rollout batch ({rows * hp.rollout_steps}) is smaller than num_minibatches "
                        f"({hp.num_minibatches})")  # fmt: skip


def setup_run(*, missions, weights, shaping, preset, arch, hp, seed, steps, device, dist_ctx, encoder, action_names,
               out) -> Run:  # fmt: skip
    """Network, optimizer and random streams. The network init depends only on `seed`;
    sampling and minibatch order get a stream per rank (so do the envs: `env_seed`)."""
    rank = dist_ctx.rank
    torch.manual_seed(seed)
    net, net_kwargs = build_net(encoder, len(action_names), arch, hp)
    net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=hp.learning_rate, eps=1e-5, fused=True)
    sampler = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, rank, 2]).generate_state(1)[0]))
    shuffler = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, rank, 3]).generate_state(1)[0]))
    random.seed(seed + rank)
    key = run_key(missions, weights, shaping, arch, hp, seed, dist_ctx.world_size)
    return Run(
        missions=missions, weights=weights, shaping=shaping, preset=preset, arch=arch, hp=hp, seed=seed, steps=steps,
        device=device, dist=dist_ctx, encoder=encoder, action_names=list(action_names), net=net, net_kwargs=net_kwargs,
        optimizer=optimizer, sampler=sampler, shuffler=shuffler, key=key, periodic_dir=out / "periodic" / key,
    )  # fmt: skip


def env_seed(seed: int, rank: int, env_resets: int) -> np.random.SeedSequence:
    # after a resume the envs start fresh episodes from a stream of their own, not a replay
    if env_resets:
        return np.random.SeedSequence([seed, rank, 1, env_resets])
    return np.random.SeedSequence([seed, rank, 1])

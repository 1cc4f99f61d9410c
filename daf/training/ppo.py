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

import copy
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from daf.config.training import PPOConfig
from daf.errors import RunFailed, UserError
from daf.io import progress_bar
from daf.missions import Mission
from daf.missions.envs import EnvMission, VecEnv
from daf.missions.sets import shaped_config
from daf.policies.networks import ObsEncoder, PolicyNet
from daf.tracking import Tracker, TrackingTargets, scalars
from daf.training import distributed
from daf.training.distributed import Dist
from daf.training.experience import Rollout, RolloutCollector
from daf.training.outputs import resume, run_sidecar, save_periodic, write_final
from daf.training.records import log_row, tensorboard_writer, write_scalars
from daf.training.run import ENV_GROUPS, Run, RunState, check_minibatches, check_request, env_seed, setup_run


class TrainingDiverged(RunFailed):
    """The loss became NaN or infinite: these hyperparameters do not train."""


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
    on_update: Callable[[dict], bool] | None = None,
    mission_weights: list[float] | None = None,
    shaping: dict[str, float] | None = None,
    workers: int = 0,
    tensorboard: bool = False,
    preset: str | None = None,
    tracking: TrackingTargets | None = None,
    run_name: str | None = None,
) -> dict:
    """Train one network on `missions` (each env draws its mission per episode with
    `mission_weights`); returns the final sidecar (`stopped_early` when `on_update` stopped
    it: then no final model is written). `on_update(log_row)` runs after every update on a
    single process (sweeps use it to report to a pruner) and returns True to stop.
    `shaping` adds training-only reward terms (agent stat -> weight); the log's
    `episode_reward` is always the missions' own reward; a `preset` (daf.missions.sets.PRESETS)
    adds its terms under explicit ones. `workers` env processes change
    the speed, never the result.
    Raises TrainingDiverged on a non-finite loss."""
    missions = [missions] if isinstance(missions, Mission) else list(missions)
    hp = hp or PPOConfig()
    weights = [1.0] * len(missions) if mission_weights is None else [float(w) for w in mission_weights]
    env_info, shaping = check_request(missions, weights, dict(shaping or {}), preset, steps, arch)
    writer = tensorboard_writer(out) if tensorboard else None
    device, dist_ctx = distributed.setup(device_name)
    encoder = ObsEncoder(env_info)
    env_missions = [EnvMission(m.name, shaped_config(m.config(), shaping), shaping) for m in missions]
    check_minibatches(arch, hp, rows=hp.num_envs * max(m.num_agents for m in env_missions))
    run = setup_run(
        missions=missions, weights=weights, shaping=shaping, preset=preset, arch=arch, hp=hp, seed=seed, steps=steps,
        device=device, dist_ctx=dist_ctx, encoder=encoder, action_names=env_info.action_names, out=out,
    )  # fmt: skip
    state = RunState() if fresh else resume(run)
    distributed.broadcast_parameters(run.net, dist_ctx)  # every rank starts from rank 0's parameters
    envs_seed = env_seed(seed, dist_ctx.rank, state.env_resets)
    tracker = None
    if tracking is not None and tracking.any and dist_ctx.rank == 0:
        params = {"missions": [m.name for m in missions], "mission_weights": weights, "shaping": shaping,
                  "preset": preset, "arch": arch, "seed": seed, "steps": steps, "resumed_from_step": state.global_step,
                  "hyperparameters": hp.model_dump(mode="json")}  # fmt: skip
        tracker = Tracker(tracking, run_name or f"{out.parent.name}-{out.name}", params, out)
    envs = VecEnv(env_missions, hp.num_envs, envs_seed, weights, workers=workers, groups=ENV_GROUPS)
    ok = False
    try:
        stopped_early = _train_loop(run, state, envs, progress=progress, on_update=on_update, writer=writer,
                                    tracker=tracker)  # fmt: skip
        ok = True
    finally:
        envs.close()
        if writer is not None:
            writer.close()
        if tracker is not None:
            tracker.close(ok)
    sidecar = run_sidecar(run, state, envs.workers, stopped_early)
    if dist_ctx.rank == 0 and state.global_step >= steps and not stopped_early:
        write_final(run, state, out, sidecar)
    distributed.teardown(dist_ctx)
    return sidecar


# --- The training loop: rollout, GAE, update, log, checkpoint ----------------------------------


def _train_loop(run: Run, state: RunState, envs: VecEnv, *, progress: bool, on_update, writer, tracker) -> bool:
    """PPO updates until `run.steps` agent-steps (over all ranks); `state` advances in place.
    Returns True when `on_update` stopped the run early.

    With `act_while_learning`, the next rollout is collected (by a copy of the network with
    the weights before this update) while this update's SGD runs in a second thread, so the
    two use both cores; every rollout is then one update old when it is learned from, which
    PPO's ratio to the behaviour policy's stored log-probabilities accounts for. Both threads
    use their own generators and the actor's weights change only between updates, so the
    result does not depend on timing."""
    if on_update is not None and run.dist.enabled:
        raise UserError("on_update (pruning) runs on a single process, not under torchrun")
    hp, net, optimizer = run.hp, run.net, run.optimizer
    overlap = hp.act_while_learning
    actor = copy.deepcopy(net) if overlap else net
    collector = RolloutCollector(actor, run.encoder, envs, hp.rollout_steps, run.device, buffers=2 if overlap else 1)
    bar = progress_bar(run.steps, "train", progress and run.dist.rank == 0, initial=min(state.global_step, run.steps),
                       unit="step")  # fmt: skip
    started = time.perf_counter()
    wall_offset = state.log_rows[-1]["wall_seconds"] if state.log_rows else 0.0
    last_checkpoint = state.global_step
    stopped_early = False
    pending = None  # a rollout collected during the previous update, not learned from yet
    while state.global_step < run.steps:
        update_start = time.perf_counter()
        optimizer.param_groups[0]["lr"] = learning_rate_at(hp, state.global_step, run.steps)
        if pending is None:
            pending = _collect(collector, hp, run.sampler)
        rollout, finished = pending
        previous_step = state.global_step
        # collective: summed here, before a learner thread can start all-reducing gradients
        state.global_step += distributed.sum_over_ranks(int(rollout.active.sum().item()), run.dist)

        learn = dict(net=net, optimizer=optimizer, encoder=run.encoder, shuffler=run.shuffler, dist_ctx=run.dist)
        if overlap and state.global_step < run.steps:
            with ThreadPoolExecutor(1, thread_name_prefix="daf-learner") as pool:  # leaving waits for the learner
                learning = pool.submit(_learn, rollout, hp, **learn)
                pending = _collect(collector, hp, run.sampler)  # with the weights before this update
            stats = learning.result()  # raises what the learner raised
        else:
            stats, pending = _learn(rollout, hp, **learn), None
        if overlap:
            actor.load_state_dict(net.state_dict())
        _check_finite(stats, state, hp.learning_rate)
        checksum = distributed.check_in_sync(net, run.dist)

        sps = (state.global_step - previous_step) / (time.perf_counter() - update_start)
        wall = wall_offset + time.perf_counter() - started
        lr = optimizer.param_groups[0]["lr"]
        row = log_row(state, rollout, finished, stats, envs.missions, lr=lr, sps=sps, wall=wall, checksum=checksum)
        state.log_rows.append(row)
        if writer is not None and run.dist.rank == 0:
            write_scalars(writer, row, state.global_step)
        if tracker is not None:  # rank 0 only: the others have none
            tracker.log(scalars(row), state.global_step)
        bar.update(min(state.global_step, run.steps) - min(previous_step, run.steps))
        state.update += 1

        if _checkpoint_due(state.global_step, last_checkpoint, hp.checkpoint_interval, run.steps):
            save_periodic(run, state)
            last_checkpoint = state.global_step
        if on_update is not None and on_update(row):
            stopped_early = True
            break
    bar.close()
    return stopped_early


def _collect(collector: RolloutCollector, hp: PPOConfig, sampler: torch.Generator) -> tuple[Rollout, list]:
    """One rollout with its advantages and returns (GAE with the acting network's values)."""
    rollout, finished = collector.collect(sampler)
    with torch.no_grad():
        next_value = collector.next_value()
        truncs = (rollout.truncs, collector.next_trunc) if hp.bootstrap_time_limits else (None, None)
        rollout.advantages, rollout.returns = compute_gae(
            rollout.rewards,
            rollout.values,
            rollout.dones,
            next_value,
            collector.next_done,
            hp.gamma,
            hp.gae_lambda,
            *truncs,
        )
    return rollout, finished


def learning_rate_at(hp: PPOConfig, global_step: int, steps: int) -> float:
    """The learning rate of the update that starts at agent-step `global_step`: with `anneal_lr`,
    linearly to 0 at the budget `steps`; otherwise warm-up and decay in agent-steps, which do
    not depend on the budget."""
    if hp.anneal_lr:
        return hp.learning_rate * max(0.0, 1.0 - global_step / steps)
    if global_step < hp.lr_warmup_steps:
        return hp.learning_rate * (global_step + 1) / (hp.lr_warmup_steps + 1)
    if hp.lr_decay_steps:
        done = min(1.0, (global_step - hp.lr_warmup_steps) / hp.lr_decay_steps)
        return hp.learning_rate * (1.0 - done * (1.0 - hp.lr_final_fraction))
    return hp.learning_rate


def _checkpoint_due(global_step: int, last_checkpoint: int, interval: int, steps: int) -> bool:
    # On a fixed grid (the first update at or past each multiple of the interval), so runs whose
    # updates differ in size (several missions) have checkpoints at comparable agent-steps. Every
    # rank decides alike (global_step is shared): saving gathers every rank's RNG state.
    return global_step // interval > last_checkpoint // interval or global_step >= steps


# --- GAE ----------------------------------------------------------------------------------------


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    next_value: torch.Tensor,
    next_done: torch.Tensor,
    gamma: float,
    gae_lambda: float,
    truncs: torch.Tensor | None = None,
    next_trunc: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016, eq. 16), as in CleanRL.

    Inputs are time-major `(steps, rows)`; `dones[t]` is 1 where the observation at step t
    starts a new episode, so step t's transition ended an episode iff `dones[t + 1]` (for
    the last step: `next_done`, with `next_value` the value of the observation after it):

        delta_t = r_t + gamma * V_{t+1} * (1 - done_{t+1}) - V_t
        A_t     = delta_t + gamma * lambda * (1 - done_{t+1}) * A_{t+1}

    With `truncs` (1 where that episode ended at its time limit; `next_trunc` after the last
    step), a transition that hit the time limit is bootstrapped rather than treated as the end
    of the task (partial-episode bootstrapping, Pardo et al. 2018). The episode's final
    observation is gone (the env restarted), so its own observation's value stands in:

        delta_t = r_t + gamma * (V_{t+1} * (1 - done_{t+1}) + V_t * trunc_{t+1}) - V_t

    The advantage still never flows across an episode boundary.
    Returns `(advantages, returns)`, returns = advantages + values (the value targets).
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[0])
    for t in reversed(range(steps)):
        final = t == steps - 1
        not_done = 1.0 - (next_done if final else dones[t + 1])
        bootstrap = (next_value if final else values[t + 1]) * not_done
        if truncs is not None:
            bootstrap = bootstrap + values[t] * (next_trunc if final else truncs[t + 1])
        delta = rewards[t] + gamma * bootstrap - values[t]
        last = delta + gamma * gae_lambda * not_done * last
        advantages[t] = last
    return advantages, advantages + values


# --- Update -------------------------------------------------------------------------------------


@dataclass(eq=False)
class Batch:
    """A rollout flattened to `(steps * rows, ...)` for minibatch row gathers (CleanRL's `b_*`).
    `inputs` are the network's inputs of every sample (`PolicyNet.inputs`), computed once per
    update rather than once per minibatch and epoch."""

    inputs: tuple[torch.Tensor, ...]
    actions: torch.Tensor
    logprobs: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    values: torch.Tensor
    dones: torch.Tensor
    active: torch.Tensor

    @classmethod
    def of(cls, rollout: Rollout, net: PolicyNet, encoder: ObsEncoder) -> Batch:
        n = rollout.steps * rollout.rows
        flat = [rollout.actions, rollout.logprobs, rollout.advantages, rollout.returns, rollout.values,
                rollout.dones, rollout.active]  # fmt: skip
        return cls(net.inputs(encoder, rollout.flat_stored()), *(x.reshape(n) for x in flat))


def _learn(rollout: Rollout, hp: PPOConfig, *, net, optimizer, encoder, shuffler, dist_ctx) -> dict:
    """The PPO update over the active rows of `rollout` (after compute_gae): `update_epochs`
    passes over shuffled minibatches. Returns loss statistics of the last minibatch (and KL /
    clip fraction)."""
    net.train()
    steps, rows = rollout.steps, rollout.rows
    batch = Batch.of(rollout, net, encoder)
    recurrent = net.lstm is not None
    units = rows if recurrent else steps * rows  # recurrent minibatches are whole env-agent sequences
    per_mb = max(1, units // hp.num_minibatches)
    clipfracs, approx_kl, pg_loss, v_loss, entropy = [], 0.0, 0.0, 0.0, 0.0
    for _epoch in range(hp.update_epochs):
        order = torch.randperm(units, generator=shuffler)
        for start in range(0, units, per_mb):
            chosen = order[start : start + per_mb]
            if recurrent:  # all time steps of the chosen env-agent rows, time-major, from their initial state
                idx = (torch.arange(steps)[:, None] * rows + chosen[None, :]).reshape(-1)
                mb_state = (rollout.initial_state[0][:, chosen], rollout.initial_state[1][:, chosen])
            else:
                idx, mb_state = chosen, None
            mask = batch.active[idx]
            count = mask.sum()
            if count == 0:  # only empty agent slots
                continue
            loss, pg, vl, ent, approx_kl, clipfrac = _ppo_loss(net, encoder, hp, batch, idx, mb_state, mask, count)
            clipfracs.append(clipfrac)
            _optimizer_step(net, optimizer, loss, hp.max_grad_norm, dist_ctx)
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


def _ppo_loss(net, encoder, hp: PPOConfig, batch: Batch, idx, mb_state, mask, count) -> tuple:
    """Clipped-surrogate loss of one minibatch, means over its active rows (`mask`, `count`).
    Returns (loss, policy loss, value loss, entropy, approx KL, clip fraction)."""
    inputs = tuple(x.index_select(0, idx) for x in batch.inputs)
    logits, new_values, _ = net(*inputs, mb_state, batch.dones[idx])
    log_all = torch.log_softmax(logits, dim=-1)
    new_logprob = log_all.gather(1, batch.actions[idx][:, None]).squeeze(1)
    logratio = new_logprob - batch.logprobs[idx]
    ratio = logratio.exp()
    masked_mean = _masked_mean(mask, count)
    ent = masked_mean(-(log_all.exp() * log_all).sum(-1))
    with torch.no_grad():  # the low-variance KL estimator (ratio - 1) - log ratio
        approx_kl = float(masked_mean((ratio - 1) - logratio))
        clipfrac = float(masked_mean(((ratio - 1.0).abs() > hp.clip_coef).float()))
    mb_adv = batch.advantages[idx]
    if hp.norm_adv and count > 1:  # unbiased std over the active rows, like torch.std
        mean = masked_mean(mb_adv)
        std = (masked_mean((mb_adv - mean) ** 2) * count / (count - 1)).sqrt()
        mb_adv = (mb_adv - mean) / (std + 1e-8)
    clipped = torch.clamp(ratio, 1 - hp.clip_coef, 1 + hp.clip_coef)
    pg = masked_mean(torch.max(-mb_adv * ratio, -mb_adv * clipped))
    returns, old_values = batch.returns[idx], batch.values[idx]
    if hp.clip_vloss:
        v_unclipped = (new_values - returns) ** 2
        v_clipped = old_values + torch.clamp(new_values - old_values, -hp.clip_coef, hp.clip_coef)
        vl = 0.5 * masked_mean(torch.max(v_unclipped, (v_clipped - returns) ** 2))
    else:
        vl = 0.5 * masked_mean((new_values - returns) ** 2)
    loss = pg - hp.ent_coef * ent + hp.vf_coef * vl
    return loss, pg, vl, ent, approx_kl, clipfrac


def _masked_mean(mask: torch.Tensor, count: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: (x * mask).sum() / count


def _optimizer_step(net: nn.Module, optimizer, loss: torch.Tensor, max_grad_norm: float, dist_ctx: Dist) -> None:
    optimizer.zero_grad()
    loss.backward()
    if dist_ctx.enabled:  # average the gradients so that every rank takes the same step
        distributed.all_reduce_grads(net, dist_ctx.world_size)
    nn.utils.clip_grad_norm_(net.parameters(), max_grad_norm)
    optimizer.step()


def _check_finite(stats: dict, state: RunState, learning_rate: float) -> None:
    bad = [name for name, value in stats.items() if not math.isfinite(value)]
    if bad:
        raise TrainingDiverged(
            f"training diverged at update {state.update + 1} (agent-step {state.global_step:,}): "
            f"{', '.join(bad)} not finite (learning_rate {learning_rate}); lower the learning rate"
        )

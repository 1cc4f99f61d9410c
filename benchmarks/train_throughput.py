"""Training throughput: PPO agent-steps/s against the raw env step rate, in one run.

  (a) mettagrid's MettaGridPufferEnv stepped with random actions (the env as shipped)
  (b) DAF's VecEnv (the envs the trainer uses) stepped with random actions
  (c) `daf train` with default hyperparameters (after a warm-up run, so imports and
      first-call costs are excluded)

All on one CPU thread (torch.set_num_threads(1)). Prints c/a (target >= 0.3) and c/b.

    python benchmarks/train_throughput.py [--mission cogs.small] [--steps 61440]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from mettagrid.envs.mettagrid_puffer_env import MettaGridPufferEnv
from mettagrid.simulator import Simulator

from daf.config import PPOConfig
from daf.envs import VecEnv
from daf.missions import get_mission
from daf.ppo import train


def puffer_rate(cfg, agent_steps: int) -> float:
    cfg = cfg.model_copy(deep=True)
    cfg.game.map_builder.seed = 0
    env = MettaGridPufferEnv(Simulator(), cfg, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    n, actions = env.num_agents, int(env.single_action_space.n)
    done = 0
    start = time.perf_counter()
    while done < agent_steps:
        env.step(rng.integers(0, actions, size=n, dtype=np.int32))
        done += n
    seconds = time.perf_counter() - start
    env.close()
    return done / seconds


def vecenv_rate(cfg, num_envs: int, agent_steps: int) -> float:
    envs = VecEnv(cfg, num_envs, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    done = 0
    start = time.perf_counter()
    while done < agent_steps:
        envs.actions[:] = rng.integers(0, 5, size=envs.actions.shape)
        envs.step()
        done += envs.actions.size
    seconds = time.perf_counter() - start
    envs.close()
    return done / seconds


def train_rate(mission, steps: int, out: Path) -> float:
    start = time.perf_counter()
    sidecar = train(mission, steps, 0, out, hp=PPOConfig(), device_name="cpu", fresh=True, progress=False)
    return sidecar["steps"] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mission", default="cogs.small")
    parser.add_argument("--steps", type=int, default=61_440, help="agent-steps of training to time")
    args = parser.parse_args()
    torch.set_num_threads(1)
    mission = get_mission(args.mission)
    cfg = mission.config()
    hp = PPOConfig()
    with tempfile.TemporaryDirectory() as tmp:
        train_rate(mission, 4096, Path(tmp) / "warmup")  # imports, allocator, first calls
        a = puffer_rate(cfg, args.steps)
        b = vecenv_rate(cfg, hp.num_envs, args.steps)
        c = train_rate(mission, args.steps, Path(tmp) / "run")
    print(
        f"mission {args.mission}: {cfg.game.num_agents} agents; PPO defaults: {hp.num_envs} envs x "
        f"{hp.rollout_steps} steps, {hp.update_epochs} epochs x {hp.num_minibatches} minibatches; 1 torch thread"
    )
    print(f"(a) raw env, MettaGridPufferEnv loop : {a:>9,.0f} agent-steps/s")
    print(f"(b) raw env, DAF VecEnv loop         : {b:>9,.0f} agent-steps/s")
    print(f"(c) daf train (PPO)                  : {c:>9,.0f} agent-steps/s")
    print(f"ratio c/a = {c / a:.2f}   (target >= 0.3)")
    print(f"ratio c/b = {c / b:.2f}")


if __name__ == "__main__":
    main()

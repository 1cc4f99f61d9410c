"""Training throughput: PPO agent-steps/s against the raw env step rate, in one run.

  (a) mettagrid's MettaGridPufferEnv stepped with random actions (the env as shipped)
  (b) DAF's VecEnv (the envs the trainer uses) in one process, random actions
  (c) `daf train` with default settings in one process (`--workers 0`)
  (d) `daf train` on 2 cores: one env worker process beside the learner (`--workers 1`)
  (e) the same with the earlier `cnn` network, for reference
  (f) `daf train --nproc-per-node 2 --workers 0` with half the envs per rank: the same samples
      per update as (c) and (d), the learner's work split over both cores (gloo all-reduce)
  (g) with `--set KEY=VALUE` (repeatable): (d) with those hyperparameters, e.g. fewer and larger
      minibatches, timed in the same run as the defaults

Each training figure follows a warm-up run (imports and first calls excluded); torch uses
one thread. Prints d/b (target >= 0.4: `daf train` on 2 cores against the single-process
env loop) and the other ratios.

    python benchmarks/train_throughput.py [--mission cogs.small] [--steps 122880]
    python benchmarks/train_throughput.py --set update_epochs=2 --set num_minibatches=4
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from mettagrid.envs.mettagrid_puffer_env import MettaGridPufferEnv
from mettagrid.simulator import Simulator

from daf.cli.train import parse_overrides
from daf.config.training import PPOConfig, make_config
from daf.errors import UserError
from daf.missions import get_mission
from daf.missions.envs import VecEnv
from daf.training.ppo import train


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
    envs = VecEnv(cfg, num_envs, 0)
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


def train_rate(
    mission, steps: int, out: Path, workers: int, arch: str = "tokens", hp: PPOConfig | None = None
) -> float:
    """Agent-steps per second of the training loop (the sidecar's clock: envs already built)."""
    train(mission, 8192, 0, out / "warmup", arch=arch, hp=hp, device_name="cpu", fresh=True, progress=False,
          workers=workers)  # fmt: skip
    sidecar = train(mission, steps, 0, out / "run", arch=arch, hp=hp, device_name="cpu", fresh=True, progress=False,
                    workers=workers)  # fmt: skip
    return sidecar["steps"] / sidecar["wall_seconds"]


def data_parallel_rate(mission: str, steps: int, out: Path, num_envs: int) -> float:
    """`daf train --nproc-per-node 2` (torchrun, gloo): two ranks, each stepping its own envs."""
    cmd = [sys.executable, "-m", "daf", "train", "--mission", mission, "--steps", str(steps), "--seed", "0",
           "--out", str(out), "--device", "cpu", "--fresh", "--no-progress", "--nproc-per-node", "2",
           "--workers", "0", "--set", f"num_envs={num_envs}"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    sidecar = json.loads((out / "model.json").read_text())
    return sidecar["steps"] / sidecar["wall_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mission", default="cogs.small")
    parser.add_argument("--steps", type=int, default=122_880, help="agent-steps of training to time")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="hyperparameters of an extra row (g), timed beside the defaults (repeatable)")  # fmt: skip
    args = parser.parse_args()
    try:
        overrides = parse_overrides(args.overrides)
        candidate = make_config(overrides) if overrides else None
    except UserError as exc:
        sys.exit(f"train_throughput.py: {exc}")
    torch.set_num_threads(1)
    mission = get_mission(args.mission)
    cfg = mission.config()
    hp = PPOConfig()
    with tempfile.TemporaryDirectory() as tmp:
        a = puffer_rate(cfg, args.steps)
        b = vecenv_rate(cfg, hp.num_envs, args.steps)
        c = train_rate(mission, args.steps, Path(tmp) / "c", workers=0)
        d = train_rate(mission, args.steps, Path(tmp) / "d", workers=1)
        e = train_rate(mission, args.steps, Path(tmp) / "e", workers=1, arch="cnn")
        # the same samples per update as (c)/(d): half the envs on each of 2 ranks
        f = data_parallel_rate(args.mission, args.steps, Path(tmp) / "f", hp.num_envs // 2)
        g = train_rate(mission, args.steps, Path(tmp) / "g", workers=1, hp=candidate) if candidate else None
    print(
        f"mission {args.mission}: {cfg.game.num_agents} agents; PPO defaults: {hp.num_envs} envs x "
        f"{hp.rollout_steps} steps, {hp.update_epochs} epochs x {hp.num_minibatches} minibatches; 1 torch thread"
    )
    print(f"(a) raw env, MettaGridPufferEnv loop     : {a:>9,.0f} agent-steps/s")
    print(f"(b) raw env, DAF VecEnv loop (1 process) : {b:>9,.0f} agent-steps/s")
    print(f"(c) daf train, tokens, 1 process         : {c:>9,.0f} agent-steps/s")
    print(f"(d) daf train, tokens, 2 cores (1 worker): {d:>9,.0f} agent-steps/s")
    print(f"(e) daf train, cnn, 2 cores (1 worker)   : {e:>9,.0f} agent-steps/s")
    print(f"(f) daf train, tokens, 2 data-parallel ranks x {hp.num_envs // 2} envs: {f:>9,.0f} agent-steps/s")
    print(f"ratio d/b = {d / b:.2f}   (target >= 0.4); f/b = {f / b:.2f}")
    print(f"ratio c/b = {c / b:.2f}, d/c = {d / c:.2f} (what the worker adds), f/c = {f / c:.2f}, e/b = {e / b:.2f}")
    if g is not None:
        print(f"(g) daf train, tokens, 2 cores (1 worker), --set {overrides}: {g:>9,.0f} agent-steps/s")
        print(f"ratio g/b = {g / b:.2f}   (target >= 0.4), g/d = {g / d:.2f}")


if __name__ == "__main__":
    main()

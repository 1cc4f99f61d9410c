"""Evaluation throughput: `daf evaluate` against a bare MettaGridPufferEnv loop.

Measured side by side in one run, on the same mission, for the same number of
episodes (interleaved repeats; the median is reported):

  (a) bare   - MettaGridPufferEnv(Simulator(), cfg, seed) stepped with random actions
  (b) daf    - daf's evaluation (run_episodes + parquet write) with the `random` policy
  (c) daf    - the same with mettagrid's `lstm` policy (a batched forward pass per step)

Prints agent-steps/s and the ratios b/a (target >= 0.8) and c/a.

    python benchmarks/eval_throughput.py [--mission cogs.small] [--episodes 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from mettagrid.envs.mettagrid_puffer_env import MettaGridPufferEnv
from mettagrid.simulator import Simulator

from daf.evaluation.episodes import Seat, episode_seed, mission_env_info, run_episodes
from daf.io import write_parquet
from daf.missions import get_mission
from daf.policies import parse_spec
from daf.policies.actors import build_actor


def bare_loop(mission, episodes: int, seed: int) -> float:
    """Agent-steps/s of a plain env loop: one env, auto-reset, numpy random actions."""
    cfg = mission.config()
    cfg.game.map_builder.seed = episode_seed(seed, 0)
    env = MettaGridPufferEnv(Simulator(), cfg, seed=episode_seed(seed, 0))
    env.reset()
    rng = np.random.default_rng(seed)
    n, actions = env.num_agents, int(env.single_action_space.n)
    steps = 0
    start = time.perf_counter()
    done_episodes = 0
    while done_episodes < episodes:
        _, _, terminals, truncations, _ = env.step(rng.integers(0, actions, size=n, dtype=np.int32))
        steps += n
        if terminals.all() or truncations.all():
            done_episodes += 1
    seconds = time.perf_counter() - start
    env.close()
    return steps / seconds


def daf_eval(mission, spec: str, episodes: int, seed: int, out: Path) -> float:
    info = mission_env_info(mission)
    actor = build_actor(parse_spec(spec), info, seed=seed)
    start = time.perf_counter()
    frame = run_episodes(mission, Seat(spec, actor), episodes=episodes, base_seed=seed)
    write_parquet(out, frame)
    seconds = time.perf_counter() - start
    per_episode = frame.groupby("episode")[["steps", "num_agents"]].first()
    return float((per_episode["steps"] * per_episode["num_agents"]).sum()) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mission", default="cogs.small")
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    mission = get_mission(args.mission)
    results: dict[str, list[float]] = {"bare": [], "random": [], "lstm": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):  # interleaved, so drift in machine load hits all three
            results["bare"].append(bare_loop(mission, args.episodes, args.seed))
            results["random"].append(daf_eval(mission, "random", args.episodes, args.seed, Path(tmp) / "r.parquet"))
            results["lstm"].append(daf_eval(mission, "lstm", args.episodes, args.seed, Path(tmp) / "l.parquet"))
    med = {k: statistics.median(v) for k, v in results.items()}
    cfg = mission.config()
    print(
        f"mission {args.mission}: {cfg.game.num_agents} agents x {cfg.game.max_steps} steps, "
        f"{args.episodes} episodes, median of {args.repeats} interleaved repeats, 1 torch thread"
    )
    print(f"(a) bare MettaGridPufferEnv loop, random actions : {med['bare']:>10,.0f} agent-steps/s")
    print(f"(b) daf evaluate, random policy                  : {med['random']:>10,.0f} agent-steps/s")
    print(f"(c) daf evaluate, lstm policy                    : {med['lstm']:>10,.0f} agent-steps/s")
    print(f"ratio b/a = {med['random'] / med['bare']:.2f}   (target >= 0.8)")
    print(f"ratio c/a = {med['lstm'] / med['bare']:.2f}")


if __name__ == "__main__":
    main()

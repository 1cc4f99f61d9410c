"""Learning quality: default PPO for 100k agent-steps on the default training mission,
then evaluated on held-out seeds next to `random` and `baseline` (same episodes).

Target: PPO's mean reward per agent >= 3x random's. Several training seeds are run and
each is reported (PPO is seed-sensitive; the mean over seeds is the honest figure).

    python benchmarks/train_quality.py [--mission cogs.tiny] [--steps 100000] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from daf.evaluation.episodes import Seat, mission_env_info, run_episodes
from daf.evaluation.table import episode_scores
from daf.missions import get_mission
from daf.policies import parse_spec
from daf.policies.actors import build_actor
from daf.stats.estimates import bootstrap_ci
from daf.training.ppo import train

HELD_OUT_SEED = 10_000  # evaluation episodes never seen in training (training maps come from other streams)


def evaluate(mission, spec: str, episodes: int) -> tuple[float, float, float]:
    actor = build_actor(parse_spec(spec), mission_env_info(mission), seed=HELD_OUT_SEED)
    frame = run_episodes(mission, Seat(spec, actor), episodes, HELD_OUT_SEED)
    scores = episode_scores(frame)["score"].to_numpy()
    low, high = bootstrap_ci(scores, reps=5000)
    return float(scores.mean()), low, high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mission", default="cogs.tiny")
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    mission = get_mission(args.mission)
    rows = {name: evaluate(mission, name, args.episodes) for name in ("random", "baseline")}
    ppo_means = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            out = Path(tmp) / f"seed{seed}"
            side = train(mission, args.steps, seed, out, device_name="cpu", fresh=True, progress=False)
            rows[f"ppo seed {seed} ({side['wall_seconds']:.0f} s)"] = evaluate(
                mission, str(out / "model.pt"), args.episodes
            )
            ppo_means.append(rows[f"ppo seed {seed} ({side['wall_seconds']:.0f} s)"][0])
    random_mean = rows["random"][0]
    print(f"mission {args.mission}, {args.steps:,} agent-steps of PPO (defaults), {args.episodes} held-out episodes")
    print(f"{'policy':<24} {'reward/agent':>12}  95% CI            x random")
    for name, (mean, low, high) in rows.items():
        print(f"{name:<24} {mean:>12.2f}  [{low:6.2f}, {high:6.2f}]  {mean / random_mean:8.1f}")
    mean_ppo = sum(ppo_means) / len(ppo_means)
    print(
        f"PPO mean over seeds: {mean_ppo:.2f} = {mean_ppo / random_mean:.1f}x random (target >= 3x); "
        f"seeds >= 3x: {sum(m >= 3 * random_mean for m in ppo_means)}/{len(ppo_means)}"
    )


if __name__ == "__main__":
    main()

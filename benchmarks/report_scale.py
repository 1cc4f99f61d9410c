"""Report at scale: 20 policies x 10 missions, built from synthetic result files.

Times `daf compare` (10k bootstrap replicates) and `daf report` (target: the report
builds in under 30 s) on 20 policies x 10 missions (the 9 registered missions and one
mission file), with mission analysis, two training logs and a replay GIF per
policy x mission. Prints the timings and the report's size.

    python benchmarks/report_scale.py [--policies 20] [--episodes 16] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from daf.evaluation.outcomes import episode_outcomes
from daf.evaluation.replays import load, write_gif
from daf.missions import MISSIONS, get_mission
from daf.report import build_report
from daf.stats.analysis import difficulty, summarize_outcomes
from daf.stats.comparison import CompareSettings, compare

MISSION_FILE = """
from daf.missions.builders import forage_config


def get_config():
    return forage_config(label="extra", num_agents=2, width=9, height=9, bushes=4, max_steps=60)
"""


def synthetic_evals(policy: str, mission: str, skill: float, episodes: int, agents: int, rng) -> pd.DataFrame:
    rows = []
    for ep in range(episodes):
        for agent in range(agents):
            reward = max(0.0, rng.normal(skill, 1.0))
            rows.append({
                "policy": policy, "role": "candidate", "mission": mission, "episode": ep, "seed": 1000 + ep,
                "agent": agent, "reward": reward, "steps": 300, "success": reward > 3, "num_agents": agents,
                "candidate_agents": agents, "stat.action.move.success": rng.integers(0, 300),
                "stat.carbon.gained": rng.integers(0, 3),
            })  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", type=int, default=20)
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--keep", help="copy the report here")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "extra.py").write_text(MISSION_FILE)
        missions = [*MISSIONS, str(root / "extra.py")]
        policies = [f"policy_{i:02d}" for i in range(args.policies)]
        config = {
            "policies": {p: {"spec": "random", "description": f"synthetic policy {i}"} for i, p in enumerate(policies)},
            "missions": missions,
            "compare": {"normalization": {"low": policies[0], "high": policies[-1]}},
            "report": {"title": f"Scale test: {len(policies)} policies x {len(missions)} missions"},
        }
        (root / "study.yaml").write_text(yaml.safe_dump(config))
        frames, eval_paths = [], []
        for p_index, policy in enumerate(policies):
            for mission in missions:
                name = Path(mission).stem if mission.endswith(".py") else mission
                agents = get_mission(mission).config().game.num_agents
                frame = synthetic_evals(policy, name, 0.2 * p_index, args.episodes, agents, rng)
                path = root / "evals" / policy / f"{name}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                frame.to_parquet(path)
                frames.append(frame)
                eval_paths.append(str(path))
        evals = pd.concat(frames, ignore_index=True)
        start = time.perf_counter()
        board, pairwise, profiles = compare(evals, CompareSettings(normalize=(policies[0], policies[-1])))
        compare_seconds = time.perf_counter() - start
        (root / "comparison").mkdir()
        board.to_parquet(root / "comparison/leaderboard.parquet")
        pairwise.to_parquet(root / "comparison/pairwise.parquet")
        profiles.to_parquet(root / "comparison/profiles.parquet")
        outcomes = pd.concat([episode_outcomes(f, get_mission("cogs.tiny")) for f in frames], ignore_index=True)
        summary = summarize_outcomes(outcomes)
        (root / "analysis").mkdir()
        summary.to_parquet(root / "analysis/summary.parquet")
        difficulty(summary).to_parquet(root / "analysis/difficulty.parquet")
        logs = []
        for policy in policies[:2]:
            steps = np.arange(1, 201) * 2048
            log = pd.DataFrame(
                {
                    "agent_steps": steps,
                    "episode_reward": np.log1p(steps / 1e4) + rng.normal(0, 0.3, 200),
                    "policy_loss": rng.normal(0, 0.01, 200),
                    "value_loss": rng.random(200),
                    "entropy": np.linspace(1.6, 0.4, 200),
                    "explained_variance": rng.random(200),
                    "sps": rng.normal(12000, 500, 200),
                    "wall_seconds": np.arange(1, 201) * 0.2,
                }
            )
            path = root / "checkpoints" / policy / "train_log.parquet"
            path.parent.mkdir(parents=True)
            log.to_parquet(path)
            logs.append(str(path))
        from daf.evaluation.episodes import Seat, mission_env_info, run_episodes
        from daf.policies import parse_spec
        from daf.policies.actors import build_actor

        mission = get_mission("cogs.small")
        actor = build_actor(parse_spec("random"), mission_env_info(mission), seed=0)
        run_episodes(mission, Seat("random", actor), 1, 0, replays=1, replay_dir=root / "replay")
        gif = root / "replay.gif"
        write_gif(load(root / "replay/episode_0000.npz"), gif, every=2, max_frames=100)
        replays = []
        for policy in policies:
            for m in missions:
                target = root / "replays" / policy / f"{Path(m).stem if m.endswith('.py') else m}.gif"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(gif, target)
                replays.append(str(target))
        out = root / "report/index.html"
        start = time.perf_counter()
        build_report(str(root / "study.yaml"), str(root / "comparison"), eval_paths, str(out),
                     analysis_dir=str(root / "analysis"), train_logs=logs, replays=replays)  # fmt: skip
        report_seconds = time.perf_counter() - start
        size = out.stat().st_size
        if args.keep:
            Path(args.keep).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(out, args.keep)
    print(f"{len(policies)} policies x {len(missions)} missions x {args.episodes} episodes "
          f"({len(pairwise)} pairwise rows, {len(replays)} replay GIFs)")  # fmt: skip
    print(f"daf compare (10k reps): {compare_seconds:6.1f} s")
    print(f"daf report            : {report_seconds:6.1f} s   (target < 30 s), {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

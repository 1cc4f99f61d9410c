"""Replay rendering speed: frames per second of `daf render`, next to the engine's step rate.

Records one episode of a mission (the recording's cost is printed too), then renders it to
a GIF and to a PNG frame strip with Pillow (headless), and prints frames/s. Rendering one
GIF per policy x mission must not be a bottleneck of a study.

    python benchmarks/render_throughput.py [--mission cogs.standard] [--cell 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from daf.evaluation.episodes import Seat, mission_env_info, run_episodes
from daf.evaluation.replays import frames, load, write_gif
from daf.missions import get_mission
from daf.policies import parse_spec
from daf.policies.actors import build_actor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mission", default="cogs.standard")
    parser.add_argument("--cell", type=int, default=8)
    args = parser.parse_args()
    mission = get_mission(args.mission)
    actor = build_actor(parse_spec("random"), mission_env_info(mission), seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_episodes(mission, Seat("random", actor), 1, 0)  # warm-up: first-call costs
        start = time.perf_counter()
        plain = run_episodes(mission, Seat("random", actor), 1, 0)
        plain_s = time.perf_counter() - start
        start = time.perf_counter()
        run_episodes(mission, Seat("random", actor), 1, 0, replays=1, replay_dir=root)
        recorded_s = time.perf_counter() - start
        replay = load(root / "episode_0000.npz")
        steps = len(replay["offsets"]) - 1
        start = time.perf_counter()
        images = frames(replay, every=1, cell=args.cell)
        frames_s = time.perf_counter() - start
        start = time.perf_counter()
        count = write_gif(replay, root / "e.gif", every=1, cell=args.cell, max_frames=steps)
        gif_s = time.perf_counter() - start
        size = (root / "e.gif").stat().st_size
    agents = mission.config().game.num_agents
    print(f"mission {args.mission}: {steps} frames ({agents} agents), {args.cell} px per cell, {images[0].size} px")
    print(f"episode without recording : {plain_s:6.2f} s  ({int(plain['steps'].iloc[0]) / plain_s:,.0f} steps/s)")
    print(f"episode with recording    : {recorded_s:6.2f} s")
    print(f"draw frames               : {steps / frames_s:8,.0f} frames/s")
    print(f"draw + encode GIF         : {count / gif_s:8,.0f} frames/s   ({size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()

"""Learning curves from a training run's periodic checkpoints.

`daf train` keeps a checkpoint every `checkpoint_interval` agent-steps in
OUT/periodic/<run key>/step_<agent-steps>.pt (weights, optimizer, RNG states). Each one is
evaluated here like the final network: the same seeded episodes (common random numbers
across checkpoints, runs and policies), the mission's own reward. The result is one row per
checkpoint x mission x episode: the score of a point on a sample-efficiency curve.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from daf.errors import UserError
from daf.policies import checkpoint

CURVE_COLUMNS = [
    "policy", "run", "agent_steps", "mission", "episode", "seed", "score", "success", "checkpoint_steps",
]  # fmt: skip


def periodic_checkpoints(run_dir: str | Path) -> list[tuple[int, int, Path]]:
    """(nominal agent-steps, actual agent-steps, path) of the periodic checkpoints of the run
    whose final model is in `run_dir` (its sidecar names the run key; other keys are other runs).

    A checkpoint is taken by the first update at or past each multiple of `checkpoint_interval`
    and at the end; how far past depends on the update's size (with several missions, on which
    were drawn). Its nominal agent-steps is that multiple (the requested total for the last one),
    so the runs of a policy have their curve points at the same x."""
    run_dir = Path(run_dir)
    sidecar_path = run_dir / "model.json"
    if not sidecar_path.is_file():
        raise UserError(f"'{run_dir}' has no model.json: not a finished `daf train` output directory")
    sidecar = json.loads(sidecar_path.read_text())
    key, interval = sidecar.get("run_key"), int(sidecar["hyperparameters"]["checkpoint_interval"])
    requested = int(sidecar.get("requested_steps") or sidecar["steps"])
    directory = run_dir / "periodic" / str(key)
    found = sorted(directory.glob("step_*.pt")) if key else []
    if not found:
        raise UserError(f"no periodic checkpoints in '{directory}' (train with a checkpoint_interval below steps)")
    points = {}
    for path in found:  # ascending: the first checkpoint past a grid point stands for it
        actual = int(path.stem.split("_")[1])
        points.setdefault(requested if actual >= requested else actual // interval * interval, (actual, path))
    return [(nominal, actual, path) for nominal, (actual, path) in sorted(points.items())]


def evaluate_checkpoints(
    run_dir: str | Path,
    missions: list,
    episodes: int,
    base_seed: int,
    policy: str,
    run: int,
    num_envs: int = 16,
    every: int = 1,
) -> pd.DataFrame:
    """Score every `every`-th periodic checkpoint of a run (and always the last) on each mission."""
    import torch

    from daf.evaluation.episodes import Seat, mission_env_info, run_episodes
    from daf.evaluation.table import episode_scores
    from daf.policies.actors import TrainedActor
    from daf.policies.trained import TrainedPolicy

    run_dir = Path(run_dir)
    points = periodic_checkpoints(run_dir)
    points = [pt for i, pt in enumerate(points) if i % every == 0 or i == len(points) - 1]
    frames = []
    for mission in missions:
        trained = TrainedPolicy(mission_env_info(mission))
        trained.load_policy_data(str(run_dir / "model.pt"))  # architecture, and the playability check
        for steps, actual, path in points:
            state = checkpoint.load(path, verify_sidecar=True)["model"]
            trained.network().load_state_dict(state)
            torch.manual_seed(base_seed)
            frame = run_episodes(mission, Seat(policy, TrainedActor(trained, "cpu")), episodes, base_seed,
                                 num_envs=num_envs, run=run)  # fmt: skip
            scores = episode_scores(frame)  # the comparison's episode score: mean reward of the policy's agents
            frames.append(scores.assign(agent_steps=np.int64(steps), checkpoint_steps=np.int64(actual)))
    table = pd.concat(frames, ignore_index=True)
    return table[CURVE_COLUMNS].sort_values(["agent_steps", "mission", "episode"], kind="stable", ignore_index=True)

"""The training log: one train_log.parquet row per update (its columns: docs/training.md), and
the same scalars to TensorBoard.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from daf.errors import UserError
from daf.missions.envs import EnvMission
from daf.training.experience import Rollout
from daf.training.run import RunState


def explained_variance(pred: np.ndarray, target: np.ndarray) -> float:
    var = np.var(target)
    return float("nan") if var == 0 else float(1 - np.var(target - pred) / var)


def log_row(state: RunState, rollout: Rollout, finished: list, stats: dict, missions: list[EnvMission], *,
             lr: float, sps: float, wall: float, checksum: str) -> dict:  # fmt: skip
    """One train_log.parquet row, after the update (its columns: docs/training.md, "Outputs and checkpoints")."""
    live = rollout.active.bool()
    active_steps = int(rollout.active.sum().item())
    row = {
        "update": state.update + 1,
        "agent_steps": state.global_step,
        "episodes": len(finished),
        "episode_reward": _mean([e.score for e in finished]),  # the missions' own reward
        "episode_length": _mean([e.length for e in finished]),
        # per agent-step of this rollout (shaping included): defined before any episode ends
        "reward_per_step": float(rollout.rewards[live].mean()) if active_steps else float("nan"),
        **stats,
        "explained_variance": explained_variance(
            rollout.values[live].cpu().numpy(), rollout.returns[live].cpu().numpy()
        ),
        "learning_rate": lr,
        "sps": sps,
        "wall_seconds": wall,
        "param_checksum": checksum,
    }
    if any(m.shaping for m in missions):
        row["episode_reward_shaped"] = _mean([e.reward for e in finished])
    if len(missions) > 1:
        for i, m in enumerate(missions):
            row[f"episode_reward/{m.name}"] = _mean([e.score for e in finished if e.mission == i])
            row[f"episodes/{m.name}"] = sum(e.mission == i for e in finished)
    return row


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def tensorboard_writer(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError(
            "--tensorboard needs the tensorboard package: pip install -c constraints.txt -e '.[tensorboard]'"
        ) from None
    return SummaryWriter(log_dir=str(out / "tensorboard"))


def write_scalars(writer, row: dict, global_step: int) -> None:
    for name, value in row.items():
        if isinstance(value, (int, float)) and math.isfinite(value) and name not in ("update", "agent_steps"):
            writer.add_scalar(name, value, global_step)
    writer.flush()

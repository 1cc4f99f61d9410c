"""Episode outcomes: why an episode succeeded or failed (the classification; daf.stats.analysis
summarises it).
"""

from __future__ import annotations

import pandas as pd

from daf.evaluation.table import check_eval_table
from daf.missions import Mission

OUTCOMES = ["success", "stuck", "resource_starved", "no_reward", "timeout"]


STUCK_MOVE_FRACTION = 0.05


EPISODE_COLUMNS = [
    "policy", "mission", "run", "episode", "seed", "outcome", "success", "team_reward", "move_fraction",
    "gathered", "steps", "agents",
]  # fmt: skip


def classify(team_success: bool, move_fraction: float, gathered: float, team_reward: float) -> str:
    """The outcome of one episode (see the module docstring for the definitions)."""
    if team_success:
        return "success"
    if move_fraction < STUCK_MOVE_FRACTION:
        return "stuck"
    if team_reward <= 0 and gathered > 0:
        return "resource_starved"
    if team_reward <= 0:
        return "no_reward"
    return "timeout"


def episode_outcomes(evals: pd.DataFrame, mission: Mission) -> pd.DataFrame:
    """One row per policy x run x episode (the policy's own agents) with its outcome. The runs of
    a policy (training seeds) play the same episode indices: each is an episode of its own."""
    check_eval_table(evals, {"policy", "mission", "episode", "seed", "reward", "steps", "success",
                             "stat.action.move.success"})  # fmt: skip
    rows = evals[evals["role"] == "candidate"] if "role" in evals else evals
    gathered_cols = [f"stat.{r}.gained" for r in mission.gathered if f"stat.{r}.gained" in rows]
    frame = rows.assign(
        run=rows.get("run", 0),  # tables from before training runs: run 0
        gathered=rows[gathered_cols].sum(axis=1) if gathered_cols else 0.0,
        moved=rows["stat.action.move.success"] / rows["steps"].clip(lower=1),
    )
    per = (
        frame.groupby(["policy", "mission", "run", "episode"], sort=True)
        .agg(
            seed=("seed", "first"),
            success=("success", "first"),
            team_reward=("reward", "sum"),
            move_fraction=("moved", "mean"),
            gathered=("gathered", "sum"),
            steps=("steps", "first"),
            agents=("reward", "size"),
        )  # fmt: skip
        .reset_index()
    )
    per["outcome"] = [
        classify(bool(r.success), float(r.move_fraction), float(r.gathered), float(r.team_reward))
        for r in per.itertuples()
    ]
    return per[EPISODE_COLUMNS]

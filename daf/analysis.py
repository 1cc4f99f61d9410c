"""Mission analysis: success rates and why policies fail.

Every episode of a policy (its agents' rows of a `daf evaluate` table) gets exactly one
outcome, decided in this order:

- `success`          the mission's success criterion holds (team-level, see `daf missions`);
- `stuck`            the agents barely moved: successful moves in fewer than
                     STUCK_MOVE_FRACTION (5%) of the agent-steps;
- `resource_starved` they gathered some of the mission's gathered resources (e.g. cogs
                     elements) but earned no reward: nothing was converted;
- `no_reward`        no reward and nothing gathered (moving, but never productive);
- `timeout`          some reward (progress) but the criterion was not met by the end.

A mission's `gathered` resources come from its definition (`daf missions --json`); for
missions without any (e.g. forage, where picking food is the reward) `resource_starved`
cannot occur. The per-mission difficulty table ranks missions by how every policy fares.
"""

from __future__ import annotations

import pandas as pd

from daf.missions import Mission
from daf.stats import check_eval_table, wilson_interval

OUTCOMES = ["success", "stuck", "resource_starved", "no_reward", "timeout"]
STUCK_MOVE_FRACTION = 0.05
EPISODE_COLUMNS = [
    "policy", "mission", "run", "episode", "seed", "outcome", "success", "team_reward", "move_fraction",
    "gathered", "steps", "agents",
]  # fmt: skip
SUMMARY_COLUMNS = ["policy", "mission", "episodes", "success_rate", "success_low", "success_high",
                   *[f"{o}_fraction" for o in OUTCOMES], "dominant_failure"]  # fmt: skip


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


def summarize_outcomes(outcomes: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per policy x mission: success rate with a Wilson interval and the outcome fractions."""
    rows = []
    for (policy, mission), part in outcomes.groupby(["policy", "mission"], sort=True):
        n = len(part)
        wins = int((part["outcome"] == "success").sum())
        low, high = wilson_interval(wins, n, confidence)
        fractions = {f"{o}_fraction": float((part["outcome"] == o).mean()) for o in OUTCOMES}
        failures = part.loc[part["outcome"] != "success", "outcome"]
        dominant = failures.value_counts().sort_index().idxmax() if len(failures) else "none"
        rows.append({"policy": policy, "mission": mission, "episodes": n, "success_rate": wins / n,
                     "success_low": low, "success_high": high, **fractions, "dominant_failure": dominant})  # fmt: skip
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def difficulty(summary: pd.DataFrame) -> pd.DataFrame:
    """Per mission: how every policy fares, hardest first (lowest mean success rate)."""
    rows = []
    for mission, part in summary.groupby("mission", sort=True):
        best = part.sort_values(["success_rate", "policy"], ascending=[False, True]).iloc[0]
        rows.append({
            "mission": mission,
            "policies": len(part),
            "mean_success_rate": float(part["success_rate"].mean()),
            "best_policy": best["policy"],
            "best_success_rate": float(best["success_rate"]),
            "policies_never_succeeding": int((part["success_rate"] == 0).sum()),
            "dominant_failure": _most_common(part["dominant_failure"]),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    return table.sort_values(["mean_success_rate", "mission"]).reset_index(drop=True) if len(table) else table


def _most_common(values: pd.Series) -> str:
    values = values[values != "none"]
    return values.value_counts().sort_index().idxmax() if len(values) else "none"

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

from daf.evaluation.outcomes import OUTCOMES
from daf.stats.estimates import wilson_interval

SUMMARY_COLUMNS = ["policy", "mission", "episodes", "success_rate", "success_low", "success_high",
                   *[f"{o}_fraction" for o in OUTCOMES], "dominant_failure"]  # fmt: skip


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

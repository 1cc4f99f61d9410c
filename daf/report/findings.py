"""The report's findings, generated from the comparison tables: which policy is best overall and
per mission, by how much, with what confidence, at which level (training runs or episodes), and
what the study could not resolve.

Pure functions of the leaderboard and pairwise tables (`daf compare`'s parquets as DataFrames):
every number a finding states is a cell of those tables, which the tests check. A leader is the
policy with the highest mean (ties to the first by name, as the leaderboard sorts); its margin
is the pairwise row of the leader and the runner-up, oriented leader - runner-up. The test a
finding cites is the pair's first test in the table, the rank-based one (Wilcoxon signed-rank,
Mann-Whitney or their one-sample and across-missions forms), with its corrected p-value.
"""

from __future__ import annotations

import math

import pandas as pd

from daf.stats.estimates import clear_winner
from daf.stats.scores import ALL

LEVELS = {"run": "training runs", "episode": "episodes"}


def pair_row(pairwise: pd.DataFrame, a: str, b: str, mission: str) -> dict | None:
    """The first test of policies `a` and `b` on `mission`, oriented `a` - `b` (the table holds
    each unordered pair once): mean difference, POI of `a` over `b` with its CI, test, p."""
    pair = pairwise["policy_a"].isin([a, b]) & pairwise["policy_b"].isin([a, b])  # a pair is never (a, a)
    rows = pairwise[(pairwise["mission"] == mission) & pair]
    if rows.empty:
        return None
    row = rows.iloc[0]
    flip = row["policy_a"] != a
    return {
        "mean_diff": -float(row["mean_diff"]) if flip else float(row["mean_diff"]),
        "poi": 1 - float(row["poi"]) if flip else float(row["poi"]),
        "poi_low": 1 - float(row["poi_high"]) if flip else float(row["poi_low"]),
        "poi_high": 1 - float(row["poi_low"]) if flip else float(row["poi_high"]),
        "test": str(row["test"]),
        "p_adjusted": float(row["p_adjusted"]),
        "significant": bool(row["significant"]),
        "level": str(row["level"]),
        "runs": (int(row["runs_b"]), int(row["runs_a"])) if flip else (int(row["runs_a"]), int(row["runs_b"])),
        "n": int(row["n_pairs"]),
        "smallest_p": smallest_p(str(row["test"]), int(row["n_pairs"]), int(row["runs_a"]), int(row["runs_b"])),
    }


def smallest_p(test: str, n: int, runs_a: int, runs_b: int) -> float | None:
    """The smallest two-sided p-value a rank test can give at this size (before correction):
    2 / 2^n for a signed-rank test over n pairs, 2 / C(m + k, m) for Mann-Whitney over m and k
    training runs; None for other tests. At or above alpha, no data of this size can be
    significant: more units, not a larger effect, would resolve it."""
    if test.startswith("wilcoxon"):
        return 2.0 / 2**n if n > 0 else 1.0
    if test == "mannwhitney" and runs_a > 1 and runs_b > 1:
        return 2.0 / math.comb(runs_a + runs_b, runs_a)
    return None


def leader(board: pd.DataFrame, pairwise: pd.DataFrame, mission: str) -> dict | None:
    """The best policy on `mission` (ALL: across missions), the runner-up, and their comparison:
    `resolved` when the test is significant and the leader's CI lies above the runner-up's."""
    part = board[board["mission"] == mission].sort_values(["mean", "policy"], ascending=[False, True])
    if part.empty:
        return None
    top = part.iloc[0]
    finding = {"mission": mission, "policy": str(top["policy"]), "mean": float(top["mean"]),
               "ci_low": float(top["ci_low"]), "ci_high": float(top["ci_high"]), "runs": int(top["runs"]),
               "runner_up": None, "comparison": None, "separated": None, "resolved": None}  # fmt: skip
    if len(part) < 2:
        return finding
    runner = part.iloc[1]
    separated = clear_winner(
        (finding["ci_low"], finding["ci_high"]), (float(runner["ci_low"]), float(runner["ci_high"]))
    )
    comparison = pair_row(pairwise, finding["policy"], str(runner["policy"]), mission)
    finding.update(
        runner_up={
            "policy": str(runner["policy"]),
            "mean": float(runner["mean"]),
            "ci_low": float(runner["ci_low"]),
            "ci_high": float(runner["ci_high"]),
            "runs": int(runner["runs"]),
        },  # fmt: skip
        comparison=comparison,
        separated=separated,
        resolved=bool(separated and comparison is not None and comparison["significant"]),
    )
    return finding


def findings(board: pd.DataFrame, pairwise: pd.DataFrame, alpha: float = 0.05) -> dict:
    """Overall and per-mission leaders, the missions whose leader the study could not separate
    from the runner-up (and of those, the ones where the test cannot reach `alpha` at this
    many units), and the policies trained once (their intervals hold evaluation noise only)."""
    missions = sorted(m for m in board["mission"].unique() if m != ALL)
    per_mission = [leader(board, pairwise, m) for m in missions]
    noted = board["note"].fillna("").astype(str).str.len() > 0  # e.g. "one training run"
    trained_once = sorted(board.loc[(board["mission"] == ALL) & (board["runs"] == 1) & noted, "policy"].unique())
    return {
        "overall": leader(board, pairwise, ALL) if (board["mission"] == ALL).any() else None,
        "missions": per_mission,
        "unresolved": [f["mission"] for f in per_mission if f["resolved"] is False],
        "too_few_units": [f["mission"] for f in per_mission if f["resolved"] is False and _floored(f, alpha)],
        "trained_once": list(trained_once),
    }


def _floored(finding: dict, alpha: float) -> bool:
    c = finding["comparison"]
    return c is not None and not c["significant"] and c["smallest_p"] is not None and c["smallest_p"] >= alpha

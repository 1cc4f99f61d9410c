"""The study's results to MLflow / W&B (daf.tracking): what the report rule logs when the
config's `tracking` names them. One run per report: its leaderboard as metrics (one per policy
x mission x statistic, e.g. `cogs.small/ppo/mean`) and as a table, and the report as a file."""

from __future__ import annotations

import re
from pathlib import Path

from daf.tracking import Tracker, TrackingTargets

STATISTICS = ("mean", "ci_low", "ci_high", "iqm", "success_rate")


def metric_name(*parts: str) -> str:
    """A metric key MLflow accepts (letters, digits, _ - . / and spaces): other characters -> _."""
    return "/".join(re.sub(r"[^\w.\- ]", "_", part) for part in parts)


def leaderboard_metrics(board) -> dict[str, float]:
    values = {}
    for row in board.itertuples(index=False):
        for statistic in STATISTICS:
            value = getattr(row, statistic)
            if value == value:  # NaN (e.g. an optimality gap on raw rewards) is left out
                values[metric_name(row.mission, row.policy, statistic)] = float(value)
    return values


def log_study(targets: TrackingTargets, config_path: str, comparison_dir: str, report: Path) -> None:
    import pandas as pd

    from daf.config.load import load_study

    study = load_study(config_path)
    board = pd.read_parquet(Path(comparison_dir) / "leaderboard.parquet")
    params = {"config": str(config_path), "policies": list(study.policies), "missions": list(study.missions),
              "episodes": study.evaluation.episodes, "seed": study.evaluation.seed}  # fmt: skip
    with Tracker(targets, f"report: {study.report.title}", params, report.parent) as tracker:
        tracker.log(leaderboard_metrics(board), step=0)
        tracker.table("leaderboard", board)
        tracker.file(report)

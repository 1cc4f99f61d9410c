"""The evaluation table (one row per policy x mission x run x episode x agent, what `daf evaluate`
writes): the check that a table has the columns a step needs, and its per-episode scores
(a policy's score in an episode is the mean reward of the agents it controlled).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from daf.errors import UserError

SCORE_COLUMNS = ["policy", "mission", "run", "episode", "seed", "score", "success"]


def check_eval_table(frame: pd.DataFrame, needed: set[str], what: str = "evaluation table") -> None:
    """The one check that a table is a `daf evaluate` parquet with the columns a step needs."""
    missing = needed - set(frame.columns)
    if missing:
        raise UserError(f"{what} lacks columns {sorted(missing)} (is it a `daf evaluate` parquet?)")


def episode_scores(evals: pd.DataFrame) -> pd.DataFrame:
    """One row per policy x mission x run x episode: mean reward of the policy's agents.

    A table without a `run` column (or rows of one concatenated with tables that have it)
    predates training runs: its rows are run 0."""
    check_eval_table(evals, {"policy", "mission", "episode", "seed", "reward", "success"})
    raw = evals["run"] if "run" in evals else pd.Series(0, evals.index)
    run = pd.to_numeric(raw, errors="coerce")
    bad = (run.isna() & raw.notna()) | (run.notna() & (run % 1 != 0))
    if bad.any():
        raise UserError(f"evaluation table has a `run` value '{raw[bad].iloc[0]}': runs are integer training seeds")
    evals = evals.assign(run=run.fillna(0).astype(np.int64))
    grouped = evals.groupby(["policy", "mission", "run", "episode"], sort=True)
    scores = grouped.agg(seed=("seed", "first"), score=("reward", "mean"), success=("success", "first"))
    return scores.reset_index()[SCORE_COLUMNS]

"""Scores of evaluation tables: the run x episode matrix of a policy on a mission, the check
that every run played the same episodes, and normalisation against two reference policies.

Units. A policy's score in an episode is the mean reward of the agents it controlled
(`daf.evaluation.table.episode_scores`). Agents within an episode share a map and interact,
so they are not independent samples; episodes are. A policy trained by DAF can have several
training runs (the `run` column: the training seed of the network that played), every run
playing the same episodes (common random numbers). Runs are the unit of replication
(Agarwal et al. 2021): the spread between training seeds is usually larger than the
evaluation noise, so an interval over one run's episodes says how well *this network*
plays, not how well the *training procedure* does. Hence the two-level (runs, then
episodes) bootstrap (daf.stats.bootstrap) and the run x mission score matrix for aggregates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from daf.errors import UserError

ALL = "ALL"  # the mission label of aggregates over missions


def check_runs(scores: pd.DataFrame) -> None:
    """Every run of a policy on a mission must have played the same episodes (indices and
    seeds): the run x episode matrices and the two-level bootstrap rely on it, and common
    random numbers are what make runs comparable. Raises a one-line UserError otherwise."""
    for (policy, mission), part in scores.groupby(["policy", "mission"], sort=True):
        if part["run"].nunique() < 2:
            continue
        played = {run: set(zip(g["episode"], g["seed"])) for run, g in part.groupby("run", sort=True)}
        (first, reference), *others = played.items()
        for run, episodes in others:
            if episodes != reference:
                episode, seed = min(reference ^ episodes)
                raise UserError(
                    f"policy '{policy}' on mission '{mission}': runs {first} and {run} played different episodes "
                    f"({len(reference)} vs {len(episodes)}; episode {episode} with seed {seed} is in one only); "
                    "every training run must be evaluated on the same episodes"
                )


def run_matrix(part: pd.DataFrame, column: str = "score") -> np.ndarray:
    """(runs, episodes) matrix of one policy on one mission, runs and episodes in ascending
    order (one run: a single row, the episodes in the order of `episode_scores`)."""
    table = part.pivot(index="run", columns="episode", values=column)
    if table.isna().to_numpy().any():
        check_runs(part)  # names the runs that differ
        raise UserError(f"runs of policy '{part['policy'].iloc[0]}' on mission '{part['mission'].iloc[0]}' "
                        "played different episodes")  # fmt: skip
    return table.to_numpy(dtype=np.float64)


def normalize_scores(scores: pd.DataFrame, low: str, high: str) -> pd.DataFrame:
    """Per mission, map `low`'s mean score to 0 and `high`'s to 1 (e.g. random -> baseline)."""
    means = scores.groupby(["mission", "policy"])["score"].mean()
    out = []
    for mission, part in scores.groupby("mission", sort=True):
        for ref in (low, high):
            if (mission, ref) not in means.index:
                raise UserError(f"cannot normalise scores on mission '{mission}': reference policy '{ref}' has no "
                                f"evaluation there (normalization: low={low}, high={high})")  # fmt: skip
        lo, hi = means[(mission, low)], means[(mission, high)]
        if hi == lo:
            raise UserError(
                f"cannot normalise scores on mission '{mission}': '{low}' and '{high}' have the same mean ({lo:g})"
            )
        out.append(part.assign(score=(part["score"] - lo) / (hi - lo)))
    return pd.concat(out, ignore_index=True)

"""`daf.nash` (Nash averaging of evaluation tables) and `daf.alpharank` (α-Rank of one mission's
cross-play game): the tables `daf nash` / `daf alpharank` write, from DataFrames or parquet paths."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from daf.errors import UserError

Tables = pd.DataFrame | str | Path | Sequence[pd.DataFrame | str | Path]


def _frames(tables: Tables) -> list[pd.DataFrame]:
    from daf.io import read_parquets

    if isinstance(tables, (pd.DataFrame, str, Path)):
        tables = [tables]
    return [t if isinstance(t, pd.DataFrame) else read_parquets([str(t)]) for t in tables]


def nash(
    evals: Tables, policies: Sequence[str] | None = None, missions: Sequence[str] | None = None,
    normalize: tuple[str, str] | None = None, confidence: float = 0.95, reps: int = 1000, seed: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """Nash averaging of evaluation tables (daf.stats.population_tables.NASH_COLUMNS): a row per
    policy (Nash-averaged skill, its CI, the mean over missions and both ranks) and per mission
    (Nash weight and its CI). `normalize` = (low, high) policies, as compare.normalization;
    without it each mission is min-max scaled over the policies."""
    from daf.stats.population_tables import nash_table

    table = pd.concat(_frames(evals), ignore_index=True)
    return nash_table(table, list(policies) if policies else None, list(missions) if missions else None,
                      tuple(normalize) if normalize else None, confidence, reps, seed)  # fmt: skip


def alpharank(
    mission: str, evals: Mapping[str, pd.DataFrame | str | Path] | Tables, cells: Tables,
    splits: Sequence[str | int] = ("half",), alpha: float | None = None, population_size: int = 50,
    selection: str = "population", payoff: str = "team", episodes: int | None = None, confidence: float = 0.95,
    reps: int = 1000, seed: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """α-Rank of one mission's cross-play game (daf.stats.population_tables.ALPHARANK_COLUMNS): a
    row per split x policy. `evals`: each policy's ordinary evaluation (the diagonal); `cells`:
    the cross-play cells' tables (`daf evaluate --candidate-agents K --replacement B`); the
    policies are those of `evals`, in their order. `alpha` None: OpenSpiel's sweep."""
    from daf.missions.teams import parse_split
    from daf.stats.crossplay import split_cells
    from daf.stats.population_tables import alpharank_table, crossplay_blocks

    frames = list(evals.values()) if isinstance(evals, Mapping) else evals
    self_play = {}
    for frame in _frames(frames):
        names = list(frame["policy"].unique()) if "policy" in frame else []
        if len(names) != 1:
            raise UserError(f"an evaluation table for α-Rank holds one policy; this one holds {names}")
        self_play[str(names[0])] = frame
    policies = list(self_play)
    blocks = crossplay_blocks(mission, policies, [parse_split(str(s)) for s in splits], self_play,
                              split_cells(_frames(cells)), payoff, episodes)  # fmt: skip
    return alpharank_table(mission, policies, blocks, alpha, population_size, selection, payoff, confidence, reps,
                           seed)  # fmt: skip

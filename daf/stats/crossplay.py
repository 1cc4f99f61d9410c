"""Cross-play statistics: how policies do with each other as teammates (ad-hoc teamwork).

A cell (A, B, split) is a mixed evaluation of one mission: A controls `agents_a` agents, B
the rest (`daf evaluate --candidate-agents K --replacement B`: A's rows have role
`candidate`, B's `replacement`), over the study's episode seeds. The diagonal (A, A) is A's
ordinary evaluation, where A controls every agent. Every cell plays the same episodes
(common random numbers), and a cell's `run` is the row policy A's training run, so cells of
one row line up run by run and episode by episode.

Pure functions over evaluation tables (numpy / pandas); the CIs are the study's bootstrap
(two-level, runs then episodes, when A has several runs). daf.stats.metrics (scipy) is imported where
a table is scored, so the config's split check stays light.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from daf.errors import UserError
from daf.missions.teams import split_agents

CELL_COLUMNS = [
    "policy_a", "policy_b", "split", "agents_a", "episodes", "runs", "team_mean", "team_ci_low", "team_ci_high",
    "a_mean", "b_mean", "note",
]  # fmt: skip
GAP_COLUMNS = ["policy", "split", "partners", "self_play", "cross_play", "gap", "gap_ci_low", "gap_ci_high", "runs"]
# the files `daf crossplay` writes: one row per ordered pair x split (diagonal included), and
# one per policy x split
TABLE_COLUMNS = ["mission", *CELL_COLUMNS[:4], "num_agents", *CELL_COLUMNS[4:]]
GAP_TABLE_COLUMNS = ["mission", *GAP_COLUMNS]


def cell_scores(frame: pd.DataFrame, self_play: bool = False) -> pd.DataFrame:
    """Per run x pair x episode of one cell: `team` (mean reward of all agents), `a` (of A's
    agents) and `b` (of B's). `run` is A's training run, `pair` tells apart the runs of B that
    A's run played with (see `split_cells`). In self-play A is every agent: team = a = b."""
    from daf.evaluation.table import check_eval_table

    check_eval_table(frame, {"mission", "episode", "agent", "reward"}, "cross-play table")
    # tables from before training runs: run 0; one partner run per A run: pair 0
    rows = frame.assign(run=frame.get("run", 0), pair=frame.get("pair", 0))
    if self_play:
        rows = rows.assign(side="a")
    else:
        check_eval_table(frame, {"role"}, "cross-play table")
        rows = rows.assign(side=np.where(rows["role"] == "candidate", "a", "b"))
    keys = ["run", "pair", "episode"]
    team = rows.groupby(keys, sort=True)["reward"].mean().rename("team")
    sides = rows.pivot_table(index=keys, columns="side", values="reward", aggfunc="mean")
    scores = pd.concat([team, sides], axis=1).reset_index()
    if self_play:
        scores["b"] = scores["a"]
    if "b" not in scores or scores[["a", "b"]].isna().any().any():
        raise UserError("a cross-play cell needs agents of both policies in every episode")
    return scores[["run", "pair", "episode", "team", "a", "b"]]


def _table(scores: pd.DataFrame, column: str, per_run: bool = False) -> pd.DataFrame:
    """(run pairings, episodes) of one cell's `column`, labelled, ascending; with `per_run`
    (A's runs, episodes), averaging the pairings of each of A's runs."""
    scores = scores.assign(pair=scores.get("pair", 0))
    if per_run:
        scores = scores.groupby(["run", "episode"], as_index=False)[column].mean().assign(pair=0)
    table = scores.pivot(index=["run", "pair"], columns="episode", values=column)
    if per_run:
        table.index = table.index.droplevel("pair")
    if table.isna().to_numpy().any():
        raise UserError("the runs of a cross-play cell played different episodes")
    return table


def run_episode_table(scores: pd.DataFrame, column: str) -> np.ndarray:
    """(A's runs, episodes) of one cell's `column`, the pairings of each run averaged."""
    return _table(scores, column, per_run=True).to_numpy(dtype=np.float64)


def _matrix(scores: pd.DataFrame, column: str) -> np.ndarray:
    return _table(scores, column).to_numpy(dtype=np.float64)


def cell_row(
    scores: pd.DataFrame, a: str, b: str, split: str | int, agents_a: int,
    confidence: float = 0.95, reps: int = 10_000, seed: int = 0,
) -> dict:  # fmt: skip
    """One row of the cross-play table: the team score per agent with its CI (two-level when the
    cell has several run pairings), A's and B's own means, episodes and run pairings."""
    from daf.stats.estimates import bootstrap_estimate

    team = _matrix(scores, "team")
    estimate = bootstrap_estimate([team], "mean", confidence, reps, seed)
    return {"policy_a": a, "policy_b": b, "split": str(split), "agents_a": agents_a, "episodes": team.shape[1],
            "runs": team.shape[0], "team_mean": estimate.point, "team_ci_low": estimate.low,
            "team_ci_high": estimate.high, "a_mean": float(scores["a"].mean()), "b_mean": float(scores["b"].mean()),
            "note": ""}  # fmt: skip


def skipped_row(a: str, b: str, split: str | int, agents_a: int, note: str) -> dict:
    """A cell that was not played (e.g. a trained network that cannot observe the mission)."""
    nan = float("nan")
    return {"policy_a": a, "policy_b": b, "split": str(split), "agents_a": agents_a, "episodes": 0, "runs": 0,
            "team_mean": nan, "team_ci_low": nan, "team_ci_high": nan, "a_mean": nan, "b_mean": nan,
            "note": note}  # fmt: skip


def crossplay_gap(
    self_play: pd.DataFrame, partners: dict[str, pd.DataFrame], policy: str, split: str | int,
    confidence: float = 0.95, reps: int = 10_000, seed: int = 0,
) -> dict:  # fmt: skip
    """A policy's cross-play gap: its self-play team score minus its mean team score with the
    other partners (cells (policy, B) of one split), with a CI. The cells share the episodes
    and the policy's runs, so the gap is taken per run x episode and bootstrapped as one
    sample: two-level over the policy's runs, then episodes (a paired comparison). A partner
    with more runs than the policy played several of them with each of its runs: their mean
    is the partner's score for that run."""
    from daf.stats.estimates import bootstrap_estimate

    if not partners:
        raise UserError(f"policy '{policy}' has no cross-play partner for split {split!r}: no gap to compute")
    own = _table(self_play, "team", per_run=True)
    tables = [_table(frame, "team", per_run=True) for frame in partners.values()]
    # paired per run x episode: every cell must hold exactly the self-play's runs and episodes
    if any(not (t.index.equals(own.index) and t.columns.equals(own.columns)) for t in tables):
        raise UserError(f"cross-play cells of '{policy}' played other runs or episodes than its self-play")
    own, others = own.to_numpy(dtype=np.float64), [t.to_numpy(dtype=np.float64) for t in tables]
    gap = own - np.mean(others, axis=0)
    estimate = bootstrap_estimate([gap], "mean", confidence, reps, seed)
    return {"policy": policy, "split": str(split), "partners": len(others), "self_play": float(own.mean()),
            "cross_play": float(np.mean(others)), "gap": estimate.point, "gap_ci_low": estimate.low,
            "gap_ci_high": estimate.high, "runs": own.shape[0]}  # fmt: skip


def self_play_table(frame: pd.DataFrame, policy: str, episodes: int, source: str = "") -> pd.DataFrame:
    """A's ordinary evaluation cut to the cross-play episodes 0..episodes-1 (every cell plays
    those, so the diagonal shares their seeds)."""
    where = f" ('{source}')" if source else ""
    played = set(frame["episode"].unique())
    missing = sorted(set(range(episodes)) - played)
    if missing:
        raise UserError(f"the evaluation of '{policy}'{where} lacks episodes {missing[:5]} of the {episodes} "
                        "cross-play episodes; they may not exceed the evaluation's (crossplay.episodes, "
                        "daf crossplay --episodes)")  # fmt: skip
    return frame[frame["episode"] < episodes]


def split_cells(frames: list[pd.DataFrame]) -> dict[tuple[str, str, int], pd.DataFrame]:
    """Cell jobs' tables (one per pairing of A's run with one of B's runs; A is the `candidate`
    role, B the `replacement`) grouped by (A, B, agents of A). Each table of a group gets its
    own `pair` number, so two tables of the same A run (with different runs of B) are two
    pairings, not one."""
    from daf.evaluation.table import check_eval_table

    cells: dict[tuple[str, str, int], list[pd.DataFrame]] = {}
    for frame in frames:
        check_eval_table(frame, {"policy", "role", "candidate_agents"}, "cross-play cell")
        a = frame.loc[frame["role"] == "candidate", "policy"].unique()
        b = frame.loc[frame["role"] != "candidate", "policy"].unique()
        k = frame["candidate_agents"].unique()
        if len(a) != 1 or len(b) != 1 or len(k) != 1:
            raise UserError(f"a cross-play cell table holds one policy on each side and one split; got "
                            f"{list(a)} with {list(b)} on {list(k)} agents")  # fmt: skip
        group = cells.setdefault((str(a[0]), str(b[0]), int(k[0])), [])
        group.append(frame.assign(pair=len(group)))
    return {key: pd.concat(parts, ignore_index=True) for key, parts in cells.items()}


def crossplay_tables(
    mission: str, policies: list[str], splits: list[str | int], self_play: dict[str, pd.DataFrame],
    cells: dict[tuple[str, str, int], pd.DataFrame], unplayable: dict[str, str] | None = None,
    episodes: int | None = None, confidence: float = 0.95, reps: int = 10_000, seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """The cross-play table (every ordered pair x split, diagonal included; TABLE_COLUMNS) and
    the gap table (GAP_TABLE_COLUMNS) of one mission.

    `self_play[A]` is A's ordinary evaluation, `cells[(A, B, k)]` the mixed episodes of A on k
    agents with B on the rest, with A's runs in the `run` column. A policy in `unplayable`
    (policy -> why) does not play the mission: its cells are rows with that note."""
    unplayable = dict(unplayable or {})
    absent = [p for p in policies if p not in self_play and p not in unplayable]
    if absent:
        raise UserError(f"no evaluation of {absent[0]!r} on mission '{mission}' for the cross-play diagonal")
    num_agents = None
    own = {}
    for policy, frame in self_play.items():
        frame = self_play_table(frame, policy, episodes) if episodes else frame
        own[policy] = cell_scores(frame, self_play=True)
        num_agents = int(frame.groupby("episode")["agent"].nunique().max())
    if num_agents is None:
        raise UserError(f"no two of the policies {policies} play mission '{mission}': nothing to cross-play")
    counts = [split_agents(split, num_agents, mission) for split in splits]  # every split checked first
    rows, gaps = [], []
    for split, k in zip(splits, counts):
        for a in policies:
            partners = {}
            for b in policies:
                note = unplayable.get(a) or unplayable.get(b)
                if note:
                    rows.append(skipped_row(a, b, split, k, note))
                    continue
                if a == b:
                    scores = own[a]
                else:
                    if (a, b, k) not in cells:
                        raise UserError(f"no cross-play cell for '{a}' on {k} agents with '{b}' on mission "
                                        f"'{mission}' (rule crossplay_cell makes it)")  # fmt: skip
                    scores = cell_scores(cells[(a, b, k)])
                    _check_same_games(scores, own[a], a, b, mission)
                    partners[b] = scores
                rows.append(cell_row(scores, a, b, split, k, confidence, reps, seed))
            if a not in unplayable and partners:
                gaps.append(crossplay_gap(own[a], partners, a, split, confidence, reps, seed))
    table = pd.DataFrame(rows, columns=CELL_COLUMNS).assign(mission=mission, num_agents=num_agents)[TABLE_COLUMNS]
    gap = pd.DataFrame(gaps, columns=GAP_COLUMNS).assign(mission=mission)[GAP_TABLE_COLUMNS]
    return table, gap


def _check_same_games(scores: pd.DataFrame, own: pd.DataFrame, a: str, b: str, mission: str) -> None:
    """A cell plays A's runs on the self-play's episodes (common random numbers with the diagonal)."""
    cell, diag = _table(scores, "team", per_run=True), _table(own, "team", per_run=True)
    if not (cell.index.equals(diag.index) and cell.columns.equals(diag.columns)):
        raise UserError(f"the cross-play cell '{a}' with '{b}' on mission '{mission}' played runs "
                        f"{list(cell.index)} x episodes {list(cell.columns)[:3]}..., its self-play runs "
                        f"{list(diag.index)} x episodes {list(diag.columns)[:3]}...; rerun its cell jobs")  # fmt: skip

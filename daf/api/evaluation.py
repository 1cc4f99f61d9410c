"""`daf.evaluate` (seeded episodes -> the evaluation table) and `daf.analyze` (success rate and
outcome counts of one policy on one mission)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from daf.errors import UserError


def evaluate(
    policy: str,
    mission: str,
    episodes: int = 32,
    seed: int = 0,
    *,
    label: str | None = None,
    config: str | Path | None = None,
    run: int = 0,
    first_episode: int = 0,
    candidate_agents: int | None = None,
    replacement: Sequence[str] = (),
    replacement_weights: Sequence[float] | None = None,
    replacement_labels: Sequence[str] | None = None,
    num_envs: int = 16,
    device: str = "cpu",
    replays: int = 0,
    replay_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Play `episodes` seeded episodes of `policy` (a SPEC such as `random`, `baseline`,
    `DIR/model.pt`, or a policy name of the study `config`) on `mission` (a name or a mission
    .py file) and return the evaluation table: one row per episode x agent, what
    `daf evaluate` writes. Episode k uses the map and seeds of `seed` and k for every policy
    (common random numbers). With `replacement` SPECs the candidate controls
    `candidate_agents` agents and the pool the rest (mixed episodes)."""
    from daf.evaluation.request import EvaluationRequest, play

    if replays and replay_dir is None:
        raise UserError("replays needs replay_dir: the directory the replay files go to")
    specs = list(replacement)
    labels = list(replacement_labels) if replacement_labels else None
    request = EvaluationRequest(
        policy=policy, mission=mission, episodes=episodes, seed=seed, label=label,
        config=str(config) if config else None, candidate_agents=candidate_agents, replacement=specs,
        weights=_weights(replacement_weights, len(specs)), labels=labels,
        num_envs=num_envs, device=device, first_episode=first_episode, run=run, replays=replays,
        replay_dir=Path(replay_dir) if replay_dir else None,
    )  # fmt: skip
    return play(request).frame


def _weights(weights: Sequence[float] | None, count: int) -> list[float] | None:
    from daf.errors import positive_weights

    return None if weights is None else positive_weights(weights, count, "replacement_weights", "replacement")


@dataclass(frozen=True)
class MissionAnalysis:
    """One policy on one mission: each episode's outcome (`episodes`), the success rate with
    its Wilson interval and the outcome counts."""

    policy: str
    mission: str
    episodes: pd.DataFrame  # daf.evaluation.outcomes.EPISODE_COLUMNS
    summary: pd.DataFrame  # one row, daf.stats.analysis.SUMMARY_COLUMNS
    confidence: float

    @property
    def success_rate(self) -> float:
        return float(self.summary["success_rate"].iloc[0])

    @property
    def success_interval(self) -> tuple[float, float]:
        row = self.summary.iloc[0]
        return float(row["success_low"]), float(row["success_high"])

    @property
    def outcome_counts(self) -> dict[str, int]:
        """Episodes per outcome (success, stuck, resource_starved, no_reward, timeout), zeros kept."""
        from daf.evaluation.outcomes import OUTCOMES

        counts = self.episodes["outcome"].value_counts()
        return {outcome: int(counts.get(outcome, 0)) for outcome in OUTCOMES}

    @property
    def dominant_failure(self) -> str:
        return str(self.summary["dominant_failure"].iloc[0])


def analyze(
    policy: str | pd.DataFrame,
    mission: str,
    episodes: int = 32,
    seed: int = 0,
    confidence: float = 0.95,
    **evaluate_options,
) -> MissionAnalysis:
    """Why `policy` succeeds or fails on `mission` (see daf.stats.analysis for the outcomes).
    `policy` is a SPEC (played here, `episodes` episodes from `seed`) or an evaluation table
    of one policy on this mission (e.g. what `evaluate` returned)."""
    from daf.evaluation.outcomes import episode_outcomes
    from daf.missions import get_mission
    from daf.stats.analysis import summarize_outcomes

    if isinstance(policy, pd.DataFrame):
        table = policy
    else:
        table = evaluate(policy, mission, episodes, seed, **evaluate_options)
    names = sorted(table["policy"].unique()) if "policy" in table else []
    if len(names) != 1:
        raise UserError(f"analyze needs the table of one policy; it holds {names}")
    outcomes = episode_outcomes(table, get_mission(mission))
    summary = summarize_outcomes(outcomes, confidence)
    return MissionAnalysis(names[0], mission, outcomes, summary, confidence)

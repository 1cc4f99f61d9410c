"""The `sweeps:` section: each sweep's search space, objective, pruner and strategy."""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from daf.config.base import MissionName, Strict
from daf.config.training import PPOConfig

SWEEP_SPEC = re.compile(r"^sweep:([A-Za-z0-9][A-Za-z0-9_.+-]*):best$")


SEARCHABLE = [*PPOConfig.model_fields, "arch"]  # what a sweep may vary


class ParamSpace(Strict):
    """One hyperparameter's search space: a list of `values` (categorical), or a range
    `low`..`high` (log-uniform with `log`; integers for integer hyperparameters). A grid
    needs `values` or a range with `points`."""

    values: list[bool | int | float | str] | None = Field(default=None, min_length=1, description="Choices.")
    low: float | None = Field(default=None, description="Range start (inclusive).")
    high: float | None = Field(default=None, description="Range end (inclusive).")
    log: bool = Field(default=False, description="Sample (or space grid points) on a log scale.")
    points: int | None = Field(default=None, ge=2, le=1000, description="Grid: evenly spaced points low..high.")

    @model_validator(mode="after")
    def _values_or_range(self) -> ParamSpace:
        has_range = self.low is not None or self.high is not None
        if (self.values is None) == (not has_range):
            raise ValueError("give either `values` (a list) or a range (`low` and `high`)")
        if self.values is not None:
            if self.log or self.points is not None:
                raise ValueError("`log` and `points` apply to a range, not to `values`")
            if len({json.dumps(v) for v in self.values}) != len(self.values):
                raise ValueError("`values` lists a value twice")
        else:
            if self.low is None or self.high is None:
                raise ValueError("a range needs both `low` and `high`")
            if not self.low < self.high:
                raise ValueError(f"`low` ({self.low}) must be below `high` ({self.high})")
            if self.log and self.low <= 0:
                raise ValueError("a log-scale range needs `low` > 0")
        return self


class ObjectiveConfig(Strict):
    metric: Literal["mean", "iqm", "median", "success_rate", "vor"] = Field(
        default="mean",
        description="mean / iqm / median reward per agent over the trial's episodes (missions weighted "
        "equally for mean), success_rate, or vor (value over `replacement`).",
    )
    direction: Literal["maximize", "minimize"] = Field(default="maximize", description="Better is larger or smaller.")


class PrunerConfig(Strict):
    """Stop poor TPE trials early from the training log (mean reward per agent-step)."""

    kind: Literal["median", "successive_halving"] = Field(default="median", description="Optuna pruner.")
    interval: int = Field(
        ge=1, description="Agent-steps between intermediate values (mean reward per agent-step) sent to the pruner."
    )
    startup_trials: int = Field(default=4, ge=0, description="median: trials that finish before any pruning.")
    warmup_reports: int = Field(default=1, ge=0, description="median: reports of a trial before it can be pruned.")
    reduction_factor: int = Field(default=3, ge=2, description="successive_halving: keep 1/this per rung.")


class SweepConfig(Strict):
    """A hyperparameter sweep (rules in workflow/rules/sweep.smk). Each trial trains the base
    policy's `train:` settings with the trial's hyperparameters, once per seed, then evaluates."""

    policy: str = Field(description="The policy to tune: a `train:` policy of this study (its settings are the base).")
    missions: list[MissionName] | None = Field(
        default=None, description="Missions the objective is measured on (default: the policy's training mission)."
    )
    strategy: Literal["grid", "random", "tpe"] = Field(description="grid, random, or tpe (Optuna, in rounds).")
    space: dict[str, ParamSpace] = Field(
        min_length=1, description="Hyperparameter -> search space; keys are PPO hyperparameters or `arch`."
    )
    trials: int | None = Field(default=None, ge=1, le=10_000, description="Trial budget (random, tpe).")
    steps: int | None = Field(
        default=None, ge=1, le=10**12, description="Agent-steps of each trial's training (default: the policy's)."
    )
    batch_size: int = Field(default=4, ge=1, le=1000, description="tpe: trials proposed per round (run in parallel).")
    startup_trials: int = Field(default=8, ge=1, description="tpe: random proposals before TPE models the results.")
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    episodes: int = Field(default=16, ge=1, le=100_000, description="Evaluation episodes per trial x seed x mission.")
    seeds: list[int] = Field(default=[0], min_length=1, description="Training seeds per trial (objective: their mean).")
    sampler_seed: int = Field(default=0, ge=0, description="Seeds random sampling and TPE.")
    evaluation_seed: int = Field(default=0, ge=0, description="Base seed of the trials' evaluation episodes.")
    pruner: PrunerConfig | None = Field(default=None, description="tpe only: stop poor trials early.")
    top_k: int = Field(default=3, ge=1, le=100, description="Re-evaluate this many best trials on fresh seeds.")
    reevaluation_episodes: int = Field(default=64, ge=1, le=100_000, description="Episodes per top trial x mission.")
    reevaluation_seed: int = Field(default=1_000_000, ge=0, description="Base seed of the re-evaluation (fresh maps).")
    replacement: list[str] | None = Field(
        default=None, description="vor objective: replacement policy names (default: the study's vor.replacement)."
    )

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise ValueError("seeds must be distinct non-negative integers")
        return seeds

    @model_validator(mode="after")
    def _strategy_fits(self) -> SweepConfig:
        for key, space in self.space.items():
            check_param_space(key, space, self.strategy)
        if self.strategy == "grid" and self.trials is not None:
            raise ValueError("a grid runs every combination; remove `trials` (or use strategy random/tpe)")
        if self.strategy != "grid" and self.trials is None:
            raise ValueError(f"strategy {self.strategy} needs a trial budget: `trials`")
        if self.pruner is not None and self.strategy != "tpe":
            raise ValueError("`pruner` needs strategy tpe (grid and random trials run independently)")
        if self.reevaluation_seed == self.evaluation_seed:
            raise ValueError("`reevaluation_seed` must differ from `evaluation_seed` (fresh episodes)")
        return self


def check_param_space(key: str, space: ParamSpace, strategy: str) -> None:
    from daf.policies.observations import ARCHS

    if key not in SEARCHABLE:
        raise ValueError(f"space.{key}: not a hyperparameter; valid: {', '.join(SEARCHABLE)}")
    if key == "arch":
        bad = [v for v in space.values or [None] if v not in ARCHS]
        if bad:
            raise ValueError(f"space.arch: give `values` from {', '.join(ARCHS)}")
        return
    annotation = PPOConfig.model_fields[key].annotation
    for value in [*(space.values or []), *(v for v in (space.low, space.high) if v is not None)]:
        try:
            PPOConfig(**{key: value})
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise ValueError(f"space.{key}: {value!r} is not a valid {key} ({msg})") from None
    if space.values is None:
        if annotation is bool:
            raise ValueError(f"space.{key}: a boolean takes `values: [true, false]`, not a range")
        if annotation is int and not (float(space.low).is_integer() and float(space.high).is_integer()):
            raise ValueError(f"space.{key}: an integer range needs integer `low` and `high`")
        if strategy == "grid" and space.points is None:
            raise ValueError(f"space.{key}: a grid needs `values` or `points` for a range")
    if space.points is not None and strategy != "grid":
        raise ValueError(f"space.{key}: `points` applies to grid sweeps only")

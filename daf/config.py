"""The study config: one pydantic model is the source of truth.

`config/config.yaml` is validated against `StudyConfig` before any job runs (the
Snakefile does it at parse time, `daf validate-config FILE` does it by hand).
`workflow/schemas/config.schema.json` is generated from this model (`daf schema`),
and a test fails when the two drift apart.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from daf import paths
from daf.errors import UserError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"  # used in result paths, so no slashes or spaces


def _known_mission(name: str) -> str:
    _check_mission(name)  # defined below: resolved when a config is validated
    return name


# a registered mission's name or a cogs-style mission file (whose stem is a valid result-path id)
MissionName = Annotated[str, AfterValidator(_known_mission)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PPOConfig(Strict):
    """PPO hyperparameters (daf.ppo). Every field is used by the trainer; a test checks each one."""

    learning_rate: float = Field(default=2.5e-3, gt=0, le=1, description="Adam step size.")
    anneal_lr: bool = Field(
        default=False,
        description="Decay the learning rate linearly to 0 at the end of the requested `steps` (CleanRL's "
        "schedule). The schedule then depends on the budget: the same seed learns differently with another "
        "budget. The default (false) is the warm-up and decay below, in agent-steps; with true they are not used.",
    )
    lr_warmup_steps: int = Field(
        default=0,
        ge=0,
        le=10**12,
        description="Agent-steps of linear learning-rate warm-up from 0 (with anneal_lr: false).",
    )
    lr_decay_steps: int = Field(
        default=2_000_000,
        ge=0,
        le=10**12,
        description="With anneal_lr: false, after the warm-up, decay the learning rate linearly to "
        "`lr_final_fraction` of `learning_rate` over this many agent-steps, then hold it (0: constant). In "
        "agent-steps, not a fraction of the budget: a run's first updates are the same whatever its length, "
        "and a longer budget continues a shorter run.",
    )
    lr_final_fraction: float = Field(
        default=0.1, ge=0, le=1, description="Learning rate at the end of `lr_decay_steps`, as a fraction."
    )

    gamma: float = Field(default=0.99, ge=0, le=1, description="Discount factor.")
    gae_lambda: float = Field(default=0.95, ge=0, le=1, description="GAE lambda.")
    bootstrap_time_limits: bool = Field(
        default=False,
        description="At an episode's time limit (max_steps), bootstrap the value target with the value of its "
        "last observation instead of treating the limit as the end of the task (partial-episode bootstrapping, "
        "Pardo et al. 2018): the observation does not show the time left, so a terminal target there is noise "
        "to the critic.",
    )
    num_envs: int = Field(default=32, ge=1, le=4096, description="Parallel envs per rank.")
    rollout_steps: int = Field(default=32, ge=1, le=100_000, description="Env steps per env per update.")
    num_minibatches: int = Field(default=8, ge=1, description="Minibatches per epoch.")
    update_epochs: int = Field(default=4, ge=1, le=100, description="SGD passes over each rollout.")
    norm_adv: bool = Field(default=True, description="Normalise advantages per minibatch.")
    clip_coef: float = Field(default=0.2, gt=0, description="Surrogate clipping epsilon.")
    clip_vloss: bool = Field(default=True, description="Clip the value loss like the policy.")
    ent_coef: float = Field(default=0.01, ge=0, description="Entropy bonus coefficient.")
    vf_coef: float = Field(default=0.5, ge=0, description="Value loss coefficient.")
    max_grad_norm: float = Field(default=0.5, gt=0, description="Global gradient-norm clip.")
    target_kl: float | None = Field(default=None, gt=0, description="Stop the epochs early above this KL.")
    hidden_size: int = Field(default=128, ge=8, le=4096, description="Width of the hidden layers (and LSTM).")
    token_size: int = Field(default=32, ge=4, le=1024, description="Width of the token vectors (tokens archs).")
    conv_channels: int = Field(default=8, ge=1, le=512, description="Channels of the convolution (cnn archs).")
    checkpoint_interval: int = Field(default=50_000, ge=1, description="Agent-steps between periodic checkpoints.")


class TrainConfig(Strict):
    """A policy DAF trains with PPO (the `train` rule), once per seed; a run's checkpoint is
    results/checkpoints/{policy}/seed{seed}/model.pt."""

    mission: MissionName | None = Field(
        default=None, description="Mission to train on (name or mission .py file); or give `missions`."
    )
    missions: list[MissionName] | None = Field(
        default=None,
        min_length=1,
        description="Several missions for one network: every env draws one per episode from its own seeded "
        "stream. They must share observation features and actions.",
    )
    mission_weights: list[float] | None = Field(
        default=None, description="Draw probabilities of `missions`, one positive weight each (default: equal)."
    )
    shaping: dict[str, float] = Field(
        default_factory=dict,
        description="Training-only reward terms: agent stat -> reward per unit, e.g. {carbon.gained: 0.1} "
        "(resource .gained/.lost or action counters). Recorded in the checkpoint; evaluation always uses "
        "the mission's own reward.",
    )
    preset: Literal["gather"] | None = Field(
        default=None,
        description="A named set of shaping terms (gather: 0.5 per unit of every resource the missions' agents "
        "gather); `shaping` entries override its terms.",
    )
    steps: int = Field(ge=1, le=10**12, description="Total agent-steps of training.")
    seed: int | None = Field(
        default=None,
        ge=0,
        description="One training run (default seed 0): seeds the network init, env maps and action sampling.",
    )
    seeds: int | list[int] | None = Field(
        default=None,
        description="Several training runs (the unit of replication): a list of seeds, or N for seeds 0..N-1. "
        "Each seed is its own train job (results/checkpoints/{policy}/seed{seed}/); every run is evaluated "
        "on the same episodes. Give `seed` or `seeds`, not both.",
    )
    arch: Literal["tokens", "tokens_lstm", "cnn", "lstm"] = Field(
        default="tokens",
        description="Network: tokens (a deep set over the observation's tokens: a learned vector per "
        "channel x cell offset, summed and max-pooled over a sample's tokens, then an MLP), tokens_lstm (with "
        "an LSTM), or the small convolutional cnn / lstm.",
    )
    hyperparameters: PPOConfig = Field(default_factory=PPOConfig, description="PPO hyperparameters.")
    workers: int = Field(
        default=1,
        ge=0,
        le=256,
        description="Env worker processes per rank (0: envs step in the training process). Speed only: "
        "the trained network does not depend on it.",
    )
    nproc_per_node: int = Field(default=1, ge=1, le=64, description="Data-parallel ranks per node (torchrun).")
    nnodes: int = Field(default=1, ge=1, le=1024, description="Nodes (inside a SLURM allocation: srun + torchrun).")

    @field_validator("seeds")
    @classmethod
    def _seeds_valid(cls, seeds: int | list[int] | None) -> int | list[int] | None:
        if isinstance(seeds, int) and not 1 <= seeds <= 10_000:
            raise ValueError("a number of seeds must be 1..10000")
        if isinstance(seeds, list):
            if not seeds:
                raise ValueError("list at least one seed")
            if any(s < 0 for s in seeds):
                raise ValueError("seeds must be non-negative")
            if len(set(seeds)) != len(seeds):
                raise ValueError("a seed is listed twice")
        return seeds

    @model_validator(mode="after")
    def _one_mission_field(self) -> TrainConfig:
        if self.seeds is not None and self.seed is not None:
            raise ValueError("give `seed` (one training run) or `seeds` (several), not both")
        if (self.mission is None) == (self.missions is None):
            raise ValueError("give exactly one of `mission` (one mission) or `missions` (several)")
        from daf.mission_set import check_compatible, check_weights, resolve_shaping
        from daf.missions import get_mission

        missions = [get_mission(m) for m in self.mission_names()]
        try:
            check_compatible(missions)
            if self.mission_weights is not None:
                check_weights(self.mission_weights, missions)
            resolve_shaping(self.preset, self.shaping, missions)
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return self

    def mission_names(self) -> list[str]:
        """The missions this policy trains on (names or mission files)."""
        return [self.mission] if self.mission is not None else list(self.missions)

    def run_seeds(self) -> list[int]:
        """The training seeds: one per run."""
        if self.seeds is None:
            return [0 if self.seed is None else self.seed]
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


class PolicyConfig(Strict):
    spec: str | None = Field(
        default=None,
        description="Policy SPEC: shorthand (random, noop, lstm, stateless, baseline), class path, "
        "class=...,data=PATH, a DAF checkpoint path, or sweep:NAME:best (a sweep's best "
        "trial). Give either spec or train.",
    )
    train: TrainConfig | None = Field(default=None, description="Train this policy with PPO instead.")
    missions: list[str] | None = Field(
        default=None,
        description="Evaluate only on these of the study's missions (default: all). A trained network "
        "only plays missions with the observation features and actions it was trained on.",
    )
    description: str = Field(default="", description="Shown in the report.")

    @field_validator("spec")
    @classmethod
    def _spec_parses(cls, spec: str | None) -> str | None:
        from daf.policies import parse_spec

        if spec is not None and not SWEEP_SPEC.match(spec.strip()):
            try:
                parse_spec(spec)
            except UserError as exc:
                raise ValueError(str(exc)) from None
        return spec

    @model_validator(mode="after")
    def _spec_or_train(self) -> PolicyConfig:
        if (self.spec is None) == (self.train is None):
            raise ValueError("give exactly one of `spec` (an existing policy) or `train` (a policy DAF trains)")
        return self


class EvaluationConfig(Strict):
    episodes: int = Field(default=32, ge=1, le=100_000, description="Episodes per policy x mission.")
    seed: int = Field(default=0, ge=0, description="Base seed; episode k uses the same map for every policy.")
    num_envs: int = Field(default=16, ge=1, le=1024, description="Episodes run in lockstep per batch.")
    chunk: int = Field(
        default=64,
        ge=1,
        le=100_000,
        description="Episodes per evaluation job. Episode k's seed does not depend on `episodes`, so raising "
        "`episodes` plays only the new chunks; the chunks are merged per policy x mission. Smaller chunks "
        "spread one evaluation over more jobs; each job costs a process start and its share of the DAG.",
    )


class CurvesConfig(Strict):
    """Learning curves: every periodic checkpoint of every training run, evaluated on the policy's missions."""

    episodes: int = Field(default=16, ge=1, le=100_000, description="Episodes per checkpoint x mission.")


class PlanConfig(Strict):
    """Power analysis with this study's evaluations as the pilot (rule `plan`, `daf plan`):
    the runs and episodes that reach a CI half-width, or detect a difference with a power."""

    half_width: float | None = Field(
        default=None,
        gt=0,
        description="Target CI half-width of a policy's mean (normalised units when compare.normalization is set).",
    )
    difference: float | None = Field(
        default=None, gt=0, description="Difference to detect between two policies (default: the pilot's own)."
    )
    power: float = Field(default=0.8, gt=0, lt=1, description="Wanted power of the test at compare.alpha.")
    max_runs: int = Field(default=20, ge=1, le=1000, description="Largest runs per policy considered.")
    pairs: list[str] | None = Field(
        default=None, description="Pairs 'A:B' to plan (default: every pair of policies sharing a mission)."
    )
    sims: int = Field(default=2000, ge=100, le=1_000_000, description="Simulated experiments per design.")


class TrackingConfig(Strict):
    tensorboard: bool = Field(
        default=False,
        description="Trained policies also write TensorBoard scalars to "
        "results/checkpoints/{policy}/seed{seed}/tensorboard/ (needs the tensorboard extra).",
    )


class ReportConfig(Strict):
    title: str = Field(default="DAF study", description="Report title.")
    replays: bool = Field(default=True, description="Embed a replay GIF per policy x mission (episode 0).")


class NormalizationConfig(Strict):
    low: str = Field(description="Policy whose mean score is 0 on every mission (e.g. random).")
    high: str = Field(description="Policy whose mean score is 1 on every mission (e.g. baseline).")


class CompareConfig(Strict):
    """Statistics of the comparison (rule `compare`, `daf compare`)."""

    confidence: float = Field(default=0.95, gt=0.5, lt=1.0, description="Confidence level of every interval.")
    bootstrap_reps: int = Field(default=10_000, ge=100, le=1_000_000, description="Bootstrap resamples.")
    interval: Literal["percentile", "bca"] = Field(default="percentile", description="Bootstrap interval method.")
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Significance level for the pairwise table.")
    correction: Literal["holm", "bh"] = Field(
        default="holm", description="Multiple-comparison correction: holm (FWER) or bh (Benjamini-Hochberg FDR)."
    )
    normalization: NormalizationConfig | None = Field(
        default=None, description="Normalise scores per mission between two policies (used by ALL aggregates)."
    )


class VorConfig(Strict):
    """Value over replacement (rule `vor`): candidates against a replacement policy or pool."""

    candidates: list[str] = Field(min_length=1, description="Policy names to score.")
    replacement: str | list[str] = Field(description="Replacement policy name, or several (a pool).")
    replacement_weights: list[float] | None = Field(
        default=None, description="Pool shares (default equal); agents are split by largest remainder."
    )
    episodes: int = Field(default=16, ge=1, le=100_000, description="Episodes per scenario (per k).")
    missions: list[str] | None = Field(
        default=None, description="Missions to score on (default: each candidate's missions)."
    )

    @field_validator("replacement", mode="after")
    @classmethod
    def _as_list(cls, value: str | list[str]) -> list[str]:
        names = [value] if isinstance(value, str) else list(value)
        if not names:
            raise ValueError("name at least one replacement policy")
        return names


class CrossplayConfig(Strict):
    """Cross-play (rules `crossplay_cell`, `crossplay`): every ordered pair of policies as teammates."""

    policies: list[str] = Field(min_length=2, description="Policy names; every ordered pair (A, B) is a cell.")
    missions: list[MissionName] | None = Field(
        default=None, description="Missions to cross-play on, among the study's (default: all of them)."
    )
    episodes: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Episodes per cell (default: evaluation.episodes): the study's episodes 0..N-1, so the "
        "diagonal (self-play) is the first N episodes of the ordinary evaluation; at most evaluation.episodes.",
    )
    splits: list[Literal["half", "one", "all_but_one"] | Annotated[int, Field(ge=1)]] = Field(
        default=["half"],
        min_length=1,
        description="Agents of the row policy A: half (N // 2), one, all_but_one, or a count; "
        "the column policy B plays the rest. Checked against each mission's agent count.",
    )


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
            _check_param_space(key, space, self.strategy)
        if self.strategy == "grid" and self.trials is not None:
            raise ValueError("a grid runs every combination; remove `trials` (or use strategy random/tpe)")
        if self.strategy != "grid" and self.trials is None:
            raise ValueError(f"strategy {self.strategy} needs a trial budget: `trials`")
        if self.pruner is not None and self.strategy != "tpe":
            raise ValueError("`pruner` needs strategy tpe (grid and random trials run independently)")
        if self.reevaluation_seed == self.evaluation_seed:
            raise ValueError("`reevaluation_seed` must differ from `evaluation_seed` (fresh episodes)")
        return self


def _check_param_space(key: str, space: ParamSpace, strategy: str) -> None:
    from daf.observations import ARCHS

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


class VariantConfig(Strict):
    """Policies evaluated across the variants of a mission family (rule `variants`)."""

    policies: list[str] = Field(min_length=1, description="Policy names of this study.")
    family: str | None = Field(default=None, description="A registry family (e.g. cogs): all its missions.")
    missions: list[MissionName] | None = Field(default=None, description="Or an explicit list of mission variants.")

    @model_validator(mode="after")
    def _family_or_missions(self) -> VariantConfig:
        from daf.missions import MISSIONS

        if (self.family is None) == (self.missions is None):
            raise ValueError("give either `family` or `missions`")
        families = sorted({m.family for m in MISSIONS.values()})
        if self.family is not None and self.family not in families:
            raise ValueError(f"unknown family '{self.family}'; valid families: {', '.join(families)}")
        return self

    def mission_names(self) -> list[str]:
        from daf.missions import MISSIONS

        if self.missions is not None:
            return list(self.missions)
        return [name for name, m in MISSIONS.items() if m.family == self.family]


class StudyConfig(Strict):
    """A DAF study: which policies to evaluate on which missions, and how."""

    policies: dict[str, PolicyConfig] = Field(
        min_length=1, description="Policy name -> policy. Names appear in result paths and the report."
    )
    missions: list[MissionName] = Field(
        min_length=1, description="Mission names (see `daf missions`) or paths to cogames-style mission .py files."
    )
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    compare: CompareConfig = Field(default_factory=CompareConfig)
    vor: VorConfig | None = Field(default=None, description="Value-over-replacement scoring (optional).")
    crossplay: CrossplayConfig | None = Field(
        default=None, description="Cross-play: each policy with each other policy as teammates (optional)."
    )
    report: ReportConfig = Field(default_factory=ReportConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="Live training curves.")
    plan: PlanConfig | None = Field(
        default=None, description="Power analysis from the study's evaluations (results/plan/); off when absent."
    )
    curves: CurvesConfig | None = Field(
        default=None,
        description="Sample-efficiency curves of trained policies from their periodic checkpoints "
        "(results/curves/); off when absent.",
    )
    sweeps: dict[str, SweepConfig] = Field(default_factory=dict, description="Hyperparameter sweeps by name.")
    variants: dict[str, VariantConfig] = Field(
        default_factory=dict, description="Variant sweeps by name: policies across a mission family."
    )

    @field_validator("policies", "sweeps", "variants")
    @classmethod
    def _names(cls, entries: dict, info) -> dict:
        kind = {"policies": "policy", "sweeps": "sweep", "variants": "variant"}[info.field_name]
        for name in entries:
            if not is_path_name(name):
                raise ValueError(f"{kind} name {name!r} must match {NAME_PATTERN} (it is used in file names)")
        return entries

    @field_validator("missions")
    @classmethod
    def _missions_exist(cls, missions: list[str]) -> list[str]:
        from daf.missions import mission_id

        ids = [mission_id(m) for m in missions]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"missions listed twice (or files with the same stem): {', '.join(duplicates)}")
        return missions

    @model_validator(mode="after")
    def _curve_names_free(self) -> StudyConfig:
        # results/curves/{policy}.parquet sits beside the aggregate tables
        taken = sorted(set(self.trained_policies()) & {"summary", "final_vs_best"}) if self.curves else []
        if taken:
            raise ValueError(f"policies.{taken[0]}: with `curves`, a trained policy may not be named summary or "
                             "final_vs_best (results/curves/ holds tables of those names); rename it")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _references_exist(self) -> StudyConfig:
        for name, policy in self.policies.items():
            unknown = [m for m in policy.missions or [] if m not in self.missions]
            if unknown:
                raise ValueError(
                    f"policies.{name}.missions: {', '.join(unknown)} not in the study's missions "
                    f"({', '.join(self.missions)})"
                )
        names = ", ".join(self.policies)
        norm = self.compare.normalization
        for field, ref in (("low", norm.low), ("high", norm.high)) if norm else ():
            if ref not in self.policies:
                raise ValueError(f"compare.normalization.{field}: unknown policy '{ref}'; valid policies: {names}")
            if self.policies[ref].missions is not None and set(self.policies[ref].missions) != set(self.missions):
                raise ValueError(f"compare.normalization.{field}: '{ref}' must be evaluated on every mission")
        if self.vor is not None:
            vor = self.vor
            for field, refs in (("candidates", vor.candidates), ("replacement", vor.replacement)):
                for ref in refs:
                    if ref not in self.policies:
                        raise ValueError(f"vor.{field}: unknown policy '{ref}'; valid policies: {names}")
            overlap = set(vor.candidates) & set(vor.replacement)
            if overlap:
                raise ValueError(f"vor: {', '.join(sorted(overlap))} cannot be both candidate and replacement")
            if vor.replacement_weights is not None and len(vor.replacement_weights) != len(vor.replacement):
                raise ValueError("vor.replacement_weights: give one weight per replacement policy")
            if vor.replacement_weights is not None and any(w <= 0 for w in vor.replacement_weights):
                raise ValueError("vor.replacement_weights: weights must be positive")
            for m in vor.missions or []:
                if m not in self.missions:
                    raise ValueError(f"vor.missions: {m} not in the study's missions ({', '.join(self.missions)})")
            for candidate in vor.candidates:
                playable = set(self.policy_missions(candidate))
                for ref in vor.replacement:
                    playable &= set(self.policy_missions(ref))
                if not set(self.vor_missions(candidate)) <= playable:
                    raise ValueError(
                        f"vor: '{candidate}' and its replacement do not all play {self.vor_missions(candidate)}"
                    )
        for i, pair in enumerate(self.plan.pairs or [] if self.plan else []):
            parts = pair.split(":")
            if len(parts) != 2 or any(p not in self.policies for p in parts):
                raise ValueError(f"plan.pairs[{i}]: '{pair}' must be A:B with two of the policies ({names})")
        self._check_sweeps()
        self._check_variants()
        self._check_crossplay()
        return self

    def _check_crossplay(self) -> None:
        from daf.crossplay import split_agents
        from daf.missions import get_mission, mission_id

        play = self.crossplay
        if play is None:
            return
        names = ", ".join(self.policies)
        for ref in play.policies:
            if ref not in self.policies:
                raise ValueError(f"crossplay.policies: unknown policy '{ref}'; valid policies: {names}")
        if len(set(play.policies)) != len(play.policies):
            raise ValueError("crossplay.policies: a policy is listed twice")
        for m in play.missions or []:
            if m not in self.missions:
                raise ValueError(f"crossplay.missions: {m} not in the study's missions ({', '.join(self.missions)})")
        if play.episodes is not None and play.episodes > self.evaluation.episodes:
            raise ValueError(f"crossplay.episodes: {play.episodes} exceeds evaluation.episodes "
                             f"({self.evaluation.episodes}); the diagonal reuses the study's evaluations")  # fmt: skip
        if len(set(map(str, play.splits))) != len(play.splits):
            raise ValueError("crossplay.splits: a split is listed twice")
        for mission in play.missions or self.missions:
            agents = get_mission(mission).config().game.num_agents
            for split in play.splits:
                try:
                    split_agents(split, agents, mission)
                except UserError as exc:
                    raise ValueError(f"crossplay.splits: {exc}") from None
            players = [p for p in play.policies if mission_id(mission) in self.policy_missions(p)]
            if len(players) < 2:
                raise ValueError(f"crossplay: fewer than two of crossplay.policies play mission {mission} "
                                 f"(only {players or 'none'}), one of crossplay.missions (default: all the "
                                 "study's); nothing to cross-play there")  # fmt: skip

    def _check_sweeps(self) -> None:
        names = ", ".join(self.policies)
        for name, policy in self.policies.items():
            match = SWEEP_SPEC.match((policy.spec or "").strip())
            if match and match.group(1) not in self.sweeps:
                valid = ", ".join(self.sweeps) or "none defined"
                raise ValueError(f"policies.{name}.spec: unknown sweep '{match.group(1)}'; sweeps: {valid}")
        for name, sweep in self.sweeps.items():
            where = f"sweeps.{name}"
            if sweep.policy not in self.policies:
                raise ValueError(f"{where}.policy: unknown policy '{sweep.policy}'; valid policies: {names}")
            if self.policies[sweep.policy].train is None:
                trained = ", ".join(self.trained_policies()) or "none"
                raise ValueError(f"{where}.policy: '{sweep.policy}' has no `train:` settings to tune; "
                                 f"trained policies: {trained}")  # fmt: skip
            if sweep.objective.metric == "vor":
                replacement = sweep.replacement or (self.vor.replacement if self.vor else None)
                if not replacement:
                    raise ValueError(f"{where}: the vor objective needs `replacement` (or the study's vor section)")
                for ref in replacement:
                    if ref not in self.policies:
                        raise ValueError(f"{where}.replacement: unknown policy '{ref}'; valid policies: {names}")
                    if self.policies[ref].train is not None or SWEEP_SPEC.match(self.policies[ref].spec or ""):
                        raise ValueError(f"{where}.replacement: '{ref}' must be an existing policy (spec:), "
                                         "not one this study trains")  # fmt: skip
            elif sweep.replacement is not None:
                raise ValueError(f"{where}.replacement: only used by the vor objective")

    def _check_variants(self) -> None:
        names = ", ".join(self.policies)
        for name, variant in self.variants.items():
            for ref in variant.policies:
                if ref not in self.policies:
                    raise ValueError(f"variants.{name}.policies: unknown policy '{ref}'; valid policies: {names}")
                if self.policies[ref].train is not None:
                    _check_playable(
                        f"variants.{name}", ref, self.policies[ref].train.mission_names()[0], variant.mission_names()
                    )

    def sweep_mission_names(self, sweep: str) -> list[str]:
        """Missions a sweep's objective is measured on (names or files)."""
        config = self.sweeps[sweep]
        return list(config.missions or self.policies[config.policy].train.mission_names())

    def sweep_replacement(self, sweep: str) -> list[str]:
        config = self.sweeps[sweep]
        return list(config.replacement or (self.vor.replacement if self.vor else []))

    def sweep_replacement_weights(self, sweep: str) -> list[float] | None:
        """Pool shares of a vor sweep: vor.replacement_weights when the sweep plays the study's
        vor pool (the same policies, in any order: each keeps its weight); None (equal shares)
        for another pool or without weights."""
        names = self.sweep_replacement(sweep)
        vor = self.vor
        if vor is None or vor.replacement_weights is None or sorted(names) != sorted(vor.replacement):
            return None
        weight = dict(zip(vor.replacement, vor.replacement_weights))
        return [float(weight[name]) for name in names]

    def variant_missions(self) -> dict[str, str]:
        """Mission id -> name of every variant-sweep mission."""
        from daf.missions import mission_id

        return {mission_id(m): m for v in self.variants.values() for m in v.mission_names()}

    def vor_missions(self, candidate: str) -> list[str]:
        """Mission ids a VOR candidate is scored on."""
        from daf.missions import mission_id

        if self.vor is not None and self.vor.missions is not None:
            return [mission_id(m) for m in self.vor.missions]
        return self.policy_missions(candidate)

    def crossplay_missions(self) -> list[str]:
        """Mission ids of the cross-play cells."""
        from daf.missions import mission_id

        return [mission_id(m) for m in (self.crossplay.missions or self.missions)] if self.crossplay else []

    def crossplay_episodes(self) -> int:
        """Episodes of every cross-play cell (the study's first ones)."""
        return self.crossplay.episodes or self.evaluation.episodes

    def crossplay_unplayable(self, mission: str) -> dict[str, str]:
        """Cross-play policies that do not play mission id `mission`, with why (the cells' note)."""
        notes = {}
        for name in self.crossplay.policies if self.crossplay else []:
            if mission in self.policy_missions(name):
                continue
            listed = ", ".join(self.policies[name].missions)
            note = f"'{name}' does not play {mission} (policies.{name}.missions: {listed})"
            trained_on = self._trained_on(name)
            if trained_on and not _playable(trained_on, self.mission_by_id()[mission]):
                note += f"; its network, trained on {trained_on}, needs other observation features or actions"
            notes[name] = note
        return notes

    def _trained_on(self, name: str) -> str | None:
        """The first training mission of a network DAF trains (itself, or through a sweep)."""
        policy = self.policies[name]
        match = SWEEP_SPEC.match((policy.spec or "").strip())
        if match and match.group(1) in self.sweeps:
            policy = self.policies[self.sweeps[match.group(1)].policy]
        return policy.train.mission_names()[0] if policy.train is not None else None

    def policy_spec(self, name: str, run: int | None = None) -> str:
        """The SPEC `daf evaluate` gets for a policy (a trained one: the checkpoint of training
        run `run`, by default its first seed)."""
        policy = self.policies[name]
        if policy.spec is None:
            seeds = policy.train.run_seeds()
            return f"class=trained,data={checkpoint_path(name, seeds[0] if run is None else run)}"
        match = SWEEP_SPEC.match(policy.spec.strip())
        return f"class=trained,data={sweep_best_path(match.group(1))}" if match else policy.spec

    def policy_missions(self, name: str) -> list[str]:
        """Mission ids this policy is evaluated on."""
        from daf.missions import mission_id

        return [mission_id(m) for m in (self.policies[name].missions or self.missions)]

    def trained_policies(self) -> list[str]:
        return [name for name, p in self.policies.items() if p.train is not None]

    def policy_runs(self, name: str) -> list[int]:
        """A policy's runs: the training seeds of a policy DAF trains, else one run, 0."""
        train = self.policies[name].train
        return train.run_seeds() if train is not None else [0]

    def mission_by_id(self) -> dict[str, str]:
        from daf.missions import mission_id

        return {mission_id(m): m for m in self.missions}


def checkpoint_path(policy: str, seed: int) -> str:
    return paths.MODEL.format(policy=policy, seed=seed)


def sweep_best_path(sweep: str) -> str:
    return paths.SWEEP_BEST_MODEL.format(sweep=sweep)


def _signature(name: str) -> tuple:
    """What a trained network needs of a mission: its observation features and actions."""
    from daf.missions import get_mission, mission_env_info
    from daf.observations import observation_signature

    info = mission_env_info(get_mission(name))
    return observation_signature(info), list(info.action_names)


def _playable(trained_on: str, mission: str) -> bool:
    return _signature(mission) == _signature(trained_on)


def _check_playable(where: str, policy: str, trained_on: str, missions: list[str]) -> None:
    """A trained network plays only missions with its observation features and actions."""
    home = _signature(trained_on)
    unplayable = [m for m in missions if _signature(m) != home]
    if unplayable:
        raise ValueError(f"{where}: '{policy}' (trained on {trained_on}) cannot play {', '.join(unplayable)}: "
                         "other observation features or actions")  # fmt: skip


def is_path_name(name: str) -> bool:
    """Whether `name` may be a path segment and a shell word of the workflow (the whole string:
    `re.match` with `$` would let a trailing newline through)."""
    return re.fullmatch(NAME_PATTERN, name) is not None


def _check_mission(name: str) -> None:
    from daf.errors import unknown_choice
    from daf.missions import MISSIONS, is_mission_file, mission_id

    if is_mission_file(name):
        if not Path(name).is_file():
            raise ValueError(f"mission file '{name}' does not exist")
        if not is_path_name(mission_id(name)):
            raise ValueError(f"mission file '{name}': its id (the file's stem) {mission_id(name)!r} must match "
                             f"{NAME_PATTERN} (it is used in result paths); rename the file")  # fmt: skip
    elif name not in MISSIONS:
        raise ValueError(f"{unknown_choice('mission', name, MISSIONS)}, or a path to a mission .py file")


def format_validation_error(exc: ValidationError, source: str, root: type[BaseModel] | None = None) -> str:
    """One line naming every problem's field (daf.config_errors); `root`: the model validated."""
    from daf.config_errors import format_validation_error as one_line

    return one_line(exc, source, root or StudyConfig)


def validate_study(data: Any, source: str = "(config)") -> StudyConfig:
    if not isinstance(data, dict):
        raise UserError(f"invalid config {source}: the top level must be a mapping, got {type(data).__name__}")
    try:
        return StudyConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(format_validation_error(exc, source)) from None


def load_study(path: str | Path) -> StudyConfig:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file '{path}' does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "parse error"
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"invalid config {path}: malformed YAML{where}: {first}") from None
    return validate_study(data, str(path))


def json_schema() -> dict:
    schema = StudyConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "DAF study config"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def config_hash(study: StudyConfig) -> str:
    """sha256 of the validated config (defaults filled in, keys sorted)."""
    return hashlib.sha256(json.dumps(study.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()

"""The other sections of a study: policies, evaluation, store, curves, plan, tracking, report,
compare, vor, crossplay, population and mission variants.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from daf.config.base import MissionName, Strict
from daf.config.sweeps import SWEEP_SPEC
from daf.config.training import TrainConfig
from daf.errors import UserError


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
    step_timeout: float = Field(
        default=60.0,
        ge=0,
        le=1e7,
        description="Seconds one call of a policy's act (a batch of steps) may take; past it the job ends with one "
        "line naming the policy, mission and episodes, exit 2, nothing written. 0: no limit. Changing a limit "
        "reruns no job.",
    )
    episode_timeout: float = Field(
        default=3600.0,
        ge=0,
        le=1e7,
        description="Seconds one episode may take (a batch of num_envs lockstep episodes: this times its size). 0: "
        "no limit.",
    )
    setup_timeout: float = Field(
        default=300.0,
        ge=0,
        le=1e7,
        description="Seconds building a policy or a mission file's get_config() may take. 0: no limit.",
    )

    def time_limits(self):
        """These limits as daf.limits.TimeLimits (0: none)."""
        from daf.limits import TimeLimits

        return TimeLimits(self.step_timeout or None, self.episode_timeout or None, self.setup_timeout or None)


class StoreConfig(Strict):
    dir: str = Field(
        min_length=1,
        description="Evaluation store shared by studies (docs/store.md): an evaluation chunk already stored "
        "under the same content key (policy code and weights, mission fingerprint, episode seeds, pool, "
        "evaluation version) is copied, not played, and a played one is stored. A relative path is relative to "
        "the directory Snakemake runs in; ~ expands. The DAF_STORE environment variable does the same for "
        "a study without this section.",
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


class MlflowConfig(Strict):
    uri: str = Field(
        min_length=1,
        description="MLflow tracking URI: a server (http://host:5000), databricks, or a local directory / file:DIR "
        "(MLflow's file store).",
    )
    experiment: str = Field(default="daf", min_length=1, description="MLflow experiment the runs go to.")


class WandbConfig(Strict):
    project: str = Field(min_length=1, description="W&B project.")
    entity: str | None = Field(default=None, description="W&B entity (team or user); default: the login's.")
    mode: Literal["offline", "online", "disabled"] = Field(
        default="offline",
        description="offline: runs stay in the job's directory (wandb/offline-run-*), `wandb sync` uploads them; "
        "online: uploaded as they run (needs a login and network on the node).",
    )


class TrackingConfig(Strict):
    tensorboard: bool = Field(
        default=False,
        description="Trained policies also write TensorBoard scalars to "
        "results/checkpoints/{policy}/seed{seed}/tensorboard/ (needs the tensorboard extra).",
    )
    mlflow: MlflowConfig | None = Field(
        default=None,
        description="Log every training update's scalars, and the report rule's leaderboard and report, to MLflow "
        "(needs the mlflow extra). Changing it reruns no training or evaluation (the jobs read it from "
        "$DAF_TRACKING); the report, which shows the config, is rebuilt.",
    )
    wandb: WandbConfig | None = Field(
        default=None,
        description="The same to Weights & Biases (needs the wandb extra); W&B files go to the run's checkpoint "
        "directory (training) and results/logs/wandb/ (the report).",
    )

    def targets(self, wandb_dir: str | None = None):
        """As daf.tracking.TrackingTargets (None when neither MLflow nor W&B is configured)."""
        from daf.tracking import TrackingTargets

        if self.mlflow is None and self.wandb is None:
            return None
        return TrackingTargets(
            mlflow_uri=self.mlflow.uri if self.mlflow else None,
            mlflow_experiment=self.mlflow.experiment if self.mlflow else "daf",
            wandb_project=self.wandb.project if self.wandb else None,
            wandb_entity=self.wandb.entity if self.wandb else None,
            wandb_mode=self.wandb.mode if self.wandb else "offline",
            wandb_dir=wandb_dir,
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


class AlpharankConfig(Strict):
    """α-Rank over each cross-play mission's policy x policy game (rule `alpharank`)."""

    alpha: float | None = Field(
        default=None,
        gt=0,
        le=1e6,
        description="Selection intensity α. Default (null): OpenSpiel's sweep, doubling α from 1e-4 until the "
        "stationary distribution stops changing (the large-α limit the ranking is defined by).",
    )
    population_size: int = Field(default=50, ge=2, le=10_000, description="Population size m of the Moran process.")
    selection: Literal["population", "local"] = Field(
        default="population",
        description="Fitness of an agent: against the whole population, self-play included (population, the "
        "paper's model) or against the current opponent only (local, OpenSpiel's default; ignores self-play).",
    )
    payoff: Literal["team", "own"] = Field(
        default="team",
        description="What A earns with B as partners: team (the mean reward of all agents, the cross-play table's "
        "cell) or own (the mean reward of A's own agents).",
    )
    missions: list[MissionName] | None = Field(
        default=None, description="Missions to rank on, among crossplay.missions (default: all of those)."
    )


class PopulationConfig(Strict):
    """Population rankings (rules `nash`, `alpharank`): Nash averaging over policies x missions and
    α-Rank over the cross-play games, with bootstrap CIs over training runs and episodes."""

    nash: bool = Field(default=True, description="Nash averaging of the policies x missions scores.")
    policies: list[str] | None = Field(
        default=None, description="Policies to Nash-average (default: every policy of the study)."
    )
    missions: list[MissionName] | None = Field(
        default=None,
        description="Missions of the Nash game (default: the study's missions every one of the policies plays).",
    )
    alpharank: AlpharankConfig | None = Field(
        default=None, description="α-Rank of each cross-play mission (needs the crossplay section)."
    )
    bootstrap_reps: int = Field(
        default=1000,
        ge=100,
        le=100_000,
        description="Bootstrap replicates (each solves the game again: fewer than compare.bootstrap_reps).",
    )


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

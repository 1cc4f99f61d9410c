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
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from daf.errors import UserError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"  # used in result paths, so no slashes or spaces


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PPOConfig(Strict):
    """PPO hyperparameters (daf.ppo). Every field is used by the trainer; a test checks each one."""

    learning_rate: float = Field(default=2.5e-3, gt=0, le=1, description="Adam step size.")
    anneal_lr: bool = Field(default=True, description="Decay the learning rate linearly to 0.")
    gamma: float = Field(default=0.99, ge=0, le=1, description="Discount factor.")
    gae_lambda: float = Field(default=0.95, ge=0, le=1, description="GAE lambda.")
    num_envs: int = Field(default=16, ge=1, le=4096, description="Parallel envs per rank.")
    rollout_steps: int = Field(default=32, ge=1, le=100_000, description="Env steps per env per update.")
    num_minibatches: int = Field(default=4, ge=1, description="Minibatches per epoch.")
    update_epochs: int = Field(default=3, ge=1, le=100, description="SGD passes over each rollout.")
    norm_adv: bool = Field(default=True, description="Normalise advantages per minibatch.")
    clip_coef: float = Field(default=0.2, gt=0, description="Surrogate clipping epsilon.")
    clip_vloss: bool = Field(default=True, description="Clip the value loss like the policy.")
    ent_coef: float = Field(default=0.01, ge=0, description="Entropy bonus coefficient.")
    vf_coef: float = Field(default=0.5, ge=0, description="Value loss coefficient.")
    max_grad_norm: float = Field(default=0.5, gt=0, description="Global gradient-norm clip.")
    target_kl: float | None = Field(default=None, gt=0, description="Stop the epochs early above this KL.")
    hidden_size: int = Field(default=64, ge=8, le=4096, description="Width of the hidden layer (and LSTM).")
    conv_channels: int = Field(default=8, ge=1, le=512, description="Channels of the first convolution.")
    checkpoint_interval: int = Field(default=50_000, ge=1, description="Agent-steps between periodic checkpoints.")


class TrainConfig(Strict):
    """A policy DAF trains with PPO (the `train` rule); its checkpoint is
    results/checkpoints/{policy}/model.pt."""

    mission: str = Field(description="Mission to train on (name or mission .py file).")
    steps: int = Field(ge=1, le=10**12, description="Total agent-steps of training.")
    seed: int = Field(default=0, ge=0, description="Seeds the network init, env maps and action sampling.")
    arch: Literal["cnn", "lstm"] = Field(default="cnn", description="Network: cnn or lstm.")
    hyperparameters: PPOConfig = Field(default_factory=PPOConfig, description="PPO hyperparameters.")
    nproc_per_node: int = Field(default=1, ge=1, le=64, description="Data-parallel ranks per node (torchrun).")
    nnodes: int = Field(default=1, ge=1, le=1024, description="Nodes (inside a SLURM allocation: srun + torchrun).")

    @field_validator("mission")
    @classmethod
    def _mission_exists(cls, mission: str) -> str:
        _check_mission(mission)
        return mission


class PolicyConfig(Strict):
    spec: str | None = Field(
        default=None,
        description="Policy SPEC: shorthand (random, noop, lstm, stateless, baseline), class path, "
        "class=...,data=PATH, or a DAF checkpoint path. Give either spec or train.",
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

        if spec is not None:
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


class StudyConfig(Strict):
    """A DAF study: which policies to evaluate on which missions, and how."""

    policies: dict[str, PolicyConfig] = Field(
        min_length=1, description="Policy name -> policy. Names appear in result paths and the report."
    )
    missions: list[str] = Field(
        min_length=1, description="Mission names (see `daf missions`) or paths to cogames-style mission .py files."
    )
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    compare: CompareConfig = Field(default_factory=CompareConfig)
    vor: VorConfig | None = Field(default=None, description="Value-over-replacement scoring (optional).")
    report: ReportConfig = Field(default_factory=ReportConfig)

    @field_validator("policies")
    @classmethod
    def _policy_names(cls, policies: dict[str, PolicyConfig]) -> dict[str, PolicyConfig]:
        for name in policies:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"policy name '{name}' must match {NAME_PATTERN} (it is used in file names)")
        return policies

    @field_validator("missions")
    @classmethod
    def _missions_exist(cls, missions: list[str]) -> list[str]:
        from daf.missions import mission_id

        for name in missions:
            _check_mission(name)
        ids = [mission_id(m) for m in missions]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"missions listed twice (or files with the same stem): {', '.join(duplicates)}")
        return missions

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
        return self

    def vor_missions(self, candidate: str) -> list[str]:
        """Mission ids a VOR candidate is scored on."""
        from daf.missions import mission_id

        if self.vor is not None and self.vor.missions is not None:
            return [mission_id(m) for m in self.vor.missions]
        return self.policy_missions(candidate)

    def policy_spec(self, name: str) -> str:
        """The SPEC `daf evaluate` gets for a policy (a trained one: its checkpoint)."""
        policy = self.policies[name]
        return policy.spec if policy.spec is not None else f"class=trained,data={checkpoint_path(name)}"

    def policy_missions(self, name: str) -> list[str]:
        """Mission ids this policy is evaluated on."""
        from daf.missions import mission_id

        return [mission_id(m) for m in (self.policies[name].missions or self.missions)]

    def trained_policies(self) -> list[str]:
        return [name for name, p in self.policies.items() if p.train is not None]

    def mission_ids(self) -> list[str]:
        from daf.missions import mission_id

        return [mission_id(m) for m in self.missions]

    def mission_by_id(self) -> dict[str, str]:
        from daf.missions import mission_id

        return {mission_id(m): m for m in self.missions}


def checkpoint_path(policy: str) -> str:
    return f"results/checkpoints/{policy}/model.pt"


def _check_mission(name: str) -> None:
    from daf.errors import unknown_choice
    from daf.missions import MISSIONS, is_mission_file

    if is_mission_file(name):
        if not Path(name).is_file():
            raise ValueError(f"mission file '{name}' does not exist")
    elif name not in MISSIONS:
        raise ValueError(f"{unknown_choice('mission', name, MISSIONS)}, or a path to a mission .py file")


def format_validation_error(exc: ValidationError, source: str) -> str:
    """All problems on one line, each naming its field (dotted path)."""
    problems = []
    for err in exc.errors():
        where = _dotted(err["loc"])
        if not err["loc"] and err["type"] == "value_error":  # a cross-field check: its message names the fields
            problems.append(err["msg"].removeprefix("Value error, "))
        elif err["type"] == "extra_forbidden":
            parent = err["loc"][:-1]
            model = _model_at(parent)
            valid = ", ".join(model.model_fields) if model else ""
            problems.append(f"{where}: unknown key" + (f" (valid keys: {valid})" if valid else ""))
        elif err["type"] == "missing":
            problems.append(f"{where}: required key is missing")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {msg} (got {_short(err.get('input'))})")
    return f"invalid config {source}: " + "; ".join(problems)


def _dotted(loc: tuple) -> str:
    """`policies.random.spec`; odd keys are quoted (`policies[":"]`), list items indexed."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_][\w.+-]*", part):
            out += ("." if out else "") + part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "(top level)"


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model whose keys live at `loc` (dict keys and list indices keep the item model)."""
    model: type[BaseModel] = StudyConfig
    for part in loc:
        if isinstance(part, str) and part in model.model_fields:
            inner = _inner_model(model.model_fields[part].annotation)
            if inner is None:
                return None
            model = inner
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found:
            return found
    return None


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

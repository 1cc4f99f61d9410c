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
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from daf.errors import UserError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"  # used in result paths, so no slashes or spaces


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyConfig(Strict):
    spec: str = Field(
        description="Policy SPEC: shorthand (random, noop, lstm, stateless, baseline), class path, "
        "or class=...,data=PATH"
    )
    description: str = Field(default="", description="Shown in the report.")

    @field_validator("spec")
    @classmethod
    def _spec_parses(cls, spec: str) -> str:
        from daf.policies import parse_spec

        try:
            parse_spec(spec)
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return spec


class EvaluationConfig(Strict):
    episodes: int = Field(default=32, ge=1, le=100_000, description="Episodes per policy x mission.")
    seed: int = Field(default=0, ge=0, description="Base seed; episode k uses the same map for every policy.")
    num_envs: int = Field(default=16, ge=1, le=1024, description="Episodes run in lockstep per batch.")


class ReportConfig(Strict):
    title: str = Field(default="DAF study", description="Report title.")
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0, description="Confidence level of intervals.")
    bootstrap_reps: int = Field(default=10_000, ge=100, le=1_000_000, description="Bootstrap resamples.")


class StudyConfig(Strict):
    """A DAF study: which policies to evaluate on which missions, and how."""

    policies: dict[str, PolicyConfig] = Field(
        min_length=1, description="Policy name -> policy. Names appear in result paths and the report."
    )
    missions: list[str] = Field(
        min_length=1, description="Mission names (see `daf missions`) or paths to cogames-style mission .py files."
    )
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
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
        from daf.errors import unknown_choice
        from daf.missions import MISSIONS, is_mission_file, mission_id

        for name in missions:
            if is_mission_file(name):
                if not Path(name).is_file():
                    raise ValueError(f"mission file '{name}' does not exist")
            elif name not in MISSIONS:
                raise ValueError(f"{unknown_choice('mission', name, MISSIONS)}, or a path to a mission .py file")
        ids = [mission_id(m) for m in missions]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"missions listed twice (or files with the same stem): {', '.join(duplicates)}")
        return missions

    def mission_ids(self) -> list[str]:
        from daf.missions import mission_id

        return [mission_id(m) for m in self.missions]

    def mission_by_id(self) -> dict[str, str]:
        from daf.missions import mission_id

        return {mission_id(m): m for m in self.missions}


def format_validation_error(exc: ValidationError, source: str) -> str:
    """All problems on one line, each naming its field (dotted path)."""
    problems = []
    for err in exc.errors():
        where = _dotted(err["loc"])
        if err["type"] == "extra_forbidden":
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

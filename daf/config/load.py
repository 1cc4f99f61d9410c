"""Loading a study: YAML to a validated StudyConfig (one line per problem, naming its field),
the JSON schema generated from the models, and the config's hash.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from daf.config.study import StudyConfig
from daf.errors import UserError


def format_validation_error(exc: ValidationError, source: str, root: type[BaseModel] | None = None) -> str:
    """One line naming every problem's field (daf.config.errors); `root`: the model validated."""
    from daf.config.errors import format_validation_error as one_line

    return one_line(exc, source, root or StudyConfig)


MAX_VALUES = 100_000  # a study config is hundreds of values; YAML aliases can make it 10**9


def expanded_size(data: Any, limit: int = MAX_VALUES) -> int:
    """How many values `data` holds once every shared (aliased) part is counted each time it is
    used - what validating or dumping it would walk - counting each distinct container once
    (memoised), so a 'billion laughs' document is measured in microseconds, not expanded.
    Stops counting past `limit`."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list, tuple)):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:  # a recursive alias (`&a [*a]`): unbounded
            return limit + 1
        active.add(key)
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else list(node)
        total = 1
        for child in children:
            total = min(total + size(child), limit + 1)
        active.discard(key)
        sizes[key] = total
        return total

    return size(data)


def validate_study(data: Any, source: str = "(config)") -> StudyConfig:
    if not isinstance(data, dict):
        raise UserError(f"invalid config {source}: the top level must be a mapping, got {type(data).__name__}")
    if expanded_size(data) > MAX_VALUES:
        raise UserError(f"invalid config {source}: its YAML aliases expand it to more than {MAX_VALUES:,} values "
                        "(a 'billion laughs' document?); write the values out or use fewer aliases")  # fmt: skip
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

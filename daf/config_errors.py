"""Validation errors of the config models as one line: every problem names its field by its
dotted path (`policies.ppo.train.seeds`), unknown keys list the valid ones, and a value that
fits no member of a union is one problem on its field."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

# pydantic's label of a union member in `loc`: a builtin type, a generic, a model class, a validator
_UNION_TAG = re.compile(r"str|int|float|bool|none|(list|dict|tuple|set|literal)\[.*\]|[A-Z]\w*|function-.*")


def _merge_union_errors(errors: list[dict]) -> list[dict]:
    """A value that fits no member of a union (`int | list[int]`) gets one error per member,
    each with the member's label appended to `loc`; merge them into one error on the field."""
    tagged: dict[tuple, list[dict]] = {}
    for err in errors:
        loc = err["loc"]
        if loc and isinstance(loc[-1], str) and _UNION_TAG.fullmatch(loc[-1]):
            tagged.setdefault(loc[:-1], []).append(err)
    merged, done = [], set()
    for err in errors:
        group = tagged.get(err["loc"][:-1]) if err["loc"] else None
        if not group or len(group) < 2:
            merged.append(err)
        elif err["loc"][:-1] not in done:
            done.add(err["loc"][:-1])
            msgs = [e["msg"].removeprefix("Input should be ").split(",")[0] for e in group]
            merged.append({**err, "loc": err["loc"][:-1], "msg": "Input should be " + " or ".join(msgs)})
    return merged


def format_validation_error(exc: ValidationError, source: str, root: type[BaseModel]) -> str:
    """All problems of validating `root` on one line, each naming its field (dotted path)."""
    problems = []
    for err in _merge_union_errors(exc.errors()):
        where = _dotted(err["loc"])
        if not err["loc"] and err["type"] == "value_error":  # a cross-field check: its message names the fields
            problems.append(err["msg"].removeprefix("Value error, "))
        elif err["type"] == "extra_forbidden":
            parent = err["loc"][:-1]
            model = _model_at(root, parent)
            valid = ", ".join(model.model_fields) if model else ""
            problems.append(f"{where}: unknown key" + (f" (valid keys: {valid})" if valid else ""))
        elif err["type"] == "missing":
            problems.append(f"{where}: required key is missing")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            got = err.get("input")
            # a check of a whole section names its fields itself; echoing the section is noise
            problems.append(f"{where}: {msg}" + ("" if isinstance(got, dict) else f" (got {_short(got)})"))
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


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model whose keys live at `loc` (dict keys and list indices keep the item model)."""
    model = root
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

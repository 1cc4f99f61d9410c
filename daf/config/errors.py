"""Validation errors of the config models as one line: every problem names its field by its
dotted path (`policies.ppo.train.seeds`), unknown keys list the valid ones, and a value that
fits no member of a union is one problem on its field."""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError


def _merge_union_errors(errors: list[dict], root: type[BaseModel]) -> list[dict]:
    """A value that fits no member of a union (`int | list[int]`) gets one error per member,
    each with the member's label appended to `loc`; merge them into one error on the field.
    Only where the field really is a union: a policy named `str` keeps its name."""
    tagged: dict[tuple, list[dict]] = {}
    for err in errors:
        loc = err["loc"]
        if loc and isinstance(loc[-1], str) and _is_union(_annotation_at(root, loc[:-1])):
            tagged.setdefault(loc[:-1], []).append(err)
    merged, done = [], set()
    for err in errors:
        group = tagged.get(err["loc"][:-1]) if err["loc"] else None
        if not group or len(group) < 2:
            merged.append(err)
        elif err["loc"][:-1] not in done:
            done.add(err["loc"][:-1])
            msgs = [_choice(e["msg"].removeprefix("Input should be ")) for e in group]
            merged.append({**err, "loc": err["loc"][:-1], "msg": "Input should be " + " or ".join(msgs)})
    return merged


def _choice(msg: str) -> str:
    """A union member's wish: a literal's whole list ('a', 'b' or 'c'), else up to the first
    comma (`a valid integer, unable to parse ...` -> `a valid integer`)."""
    return msg if msg.startswith("'") else msg.split(",")[0]


def format_validation_error(exc: ValidationError, source: str, root: type[BaseModel]) -> str:
    """All problems of validating `root` on one line, each naming its field (dotted path)."""
    problems = []
    for err in _merge_union_errors(exc.errors(), root):
        where = _dotted(err["loc"])
        if not err["loc"] and err["type"] == "value_error":  # a cross-field check: its message names the fields
            problems.append(err["msg"].removeprefix("Value error, "))
        elif err["type"] == "extra_forbidden":
            parent = err["loc"][:-1]
            model = _model_of(_annotation_at(root, parent))
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


def _annotation_at(root: type[BaseModel], loc: tuple) -> Any:
    """The type of the value at `loc`, following the models' fields, a map's values and a
    list's items; None where `loc` leaves the models (e.g. inside a union's member label)."""
    annotation: Any = root
    for part in loc:
        annotation = _strip(annotation)
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if _is_model(annotation) and isinstance(part, str) and part in annotation.model_fields:
            annotation = annotation.model_fields[part].annotation
        elif origin is dict and isinstance(part, str):
            annotation = args[1]
        elif origin is list and isinstance(part, int):
            annotation = args[0]
        else:
            return None
    return _strip(annotation)


def _strip(annotation: Any) -> Any:
    """Without `Annotated[...]` and without `None` in an optional (`X | None` -> X)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _strip(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _strip(members[0])
    return annotation


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    return annotation if _is_model(annotation) else None

"""The study config's key reference (config/README.md), generated from the pydantic models.

`reference_markdown()` walks `StudyConfig` and its nested models and writes one table per
section: every key's dotted path, type, default, constraints and the `Field` description, so
the reference cannot drift from the model (tests/static/test_docs.py compares the committed block with
this function's output). `daf schema --reference config/README.md` rewrites the block between
the markers below and leaves the hand-written prose around it alone.
"""

from __future__ import annotations

import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from daf.config.study import StudyConfig
from daf.errors import UserError

BEGIN = "<!-- BEGIN GENERATED: daf schema --reference -->"
END = "<!-- END GENERATED -->"
COLUMNS = ["key", "type", "default", "constraints", "description"]
ITEM_KEYS = {"space": "<hyperparameter>"}  # what the keys of a mapping of sections are (default <name>)


def reference_markdown() -> str:
    """The generated block (without the markers): one section per model, top level first, then
    each nested section depth-first in field order."""
    sections: list[str] = []
    _sections(StudyConfig, "", sections)
    note = (
        "_Generated from the pydantic models in `daf/config/study.py` by `daf schema --reference config/README.md`; "
        "do not edit by hand (a test fails when it drifts)._"
    )
    return "\n\n".join([note, *sections]) + "\n"


def update_reference(path: str | Path) -> bool:
    """Rewrite the generated block of `path` (atomically); True when its text changed."""
    from daf.io import write_text

    path = Path(path)
    if not path.is_file():
        raise UserError(f"'{path}' does not exist; it needs a line {BEGIN} and a line {END}")
    text = path.read_text()
    new = replace_block(text, reference_markdown(), str(path))
    if new != text:
        write_text(path, new)
    return new != text


def generated_block(text: str, source: str = "(text)") -> str:
    """What lies between the markers of `text` (without the newlines next to them)."""
    start, end = _marker_span(text, source)
    return text[start:end].strip("\n") + "\n"


def replace_block(text: str, block: str, source: str = "(text)") -> str:
    start, end = _marker_span(text, source)
    return text[:start] + "\n" + block.strip("\n") + "\n" + text[end:]


def _marker_span(text: str, source: str) -> tuple[int, int]:
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < 0 or end < begin or text.count(BEGIN) != 1 or text.count(END) != 1:
        raise UserError(f"{source}: needs exactly one line {BEGIN} followed by one line {END}")
    return begin + len(BEGIN), end


# The walk: a section per model, its rows, then its nested models' sections.


def _sections(model: type[BaseModel], path: str, out: list[str]) -> None:
    title = f"`{path}`" if path else "Top level"
    lines = [f"### {title}", ""]
    doc = _docstring(model)
    if doc:
        lines += [doc, ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    nested: list[tuple[type[BaseModel], str]] = []
    for name, field in model.model_fields.items():
        key = f"{path}.{name}" if path else name
        inner, suffix = _nested(field.annotation)
        suffix = suffix.replace("<name>", ITEM_KEYS.get(name, "<name>"))
        if inner is not None:
            nested.append((inner, key + suffix))
        row = [f"`{key}`", _type(field.annotation, key + suffix), _default(field), _constraints(field),
               _description(field, inner)]  # fmt: skip
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    out.append("\n".join(lines))
    for inner, key in nested:
        _sections(inner, key, out)


def _nested(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model inside a field's type, and what its items add to the key path
    (`.<name>` for a mapping of names to models)."""
    if _is_model(annotation):
        return annotation, ""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is dict and _is_model(args[1]):
        return args[1], ".<name>"
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            found = _nested(arg)
            if found[0] is not None:
                return found
    return None, ""


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _type(annotation: Any, section: str) -> str:
    if annotation is type(None):
        return "null"
    if _is_model(annotation):
        return f"[section](#{_slug(f'`{section}`')})"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:  # a validated type (e.g. MissionName): its base type
        return _type(args[0], section)
    if origin is Literal:
        return "str" if all(isinstance(a, str) for a in args) else " or ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type(a, section) for a in args)
    if origin is list:
        item = _type(args[0], section)
        return f"list of ({item})" if " or " in item else f"list of {item}"
    if origin is dict:
        value = f"[sections](#{_slug(f'`{section}`')})" if _is_model(args[1]) else _type(args[1], section)
        return f"map of {_type(args[0], section)} to {value}"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(section defaults)"
        return f"`{_value(value)}`"
    return f"`{_value(field.default)}`"


def _value(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, separators=(", ", ": "))


def _constraints(field: FieldInfo) -> str:
    """Bounds and lengths from the field's metadata (pydantic's annotated-types markers, read by
    their attributes), then the choices of a Literal."""
    parts = []
    for item in field.metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            if getattr(item, attr, None) is not None:
                parts.append(f"{sign} {_value(getattr(item, attr))}")
        if getattr(item, "min_length", None) is not None:
            parts.append(f"at least {item.min_length} item" + ("s" if item.min_length != 1 else ""))
        if getattr(item, "max_length", None) is not None:
            parts.append(f"at most {item.max_length} items")
    choices = _choices(field.annotation)
    if choices:
        parts.append("one of " + ", ".join(f"`{c}`" for c in choices))
    return "; ".join(parts)


def _choices(annotation: Any) -> list[str]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return [str(a) for a in args]
    if origin in (typing.Union, types.UnionType):
        return [c for a in args for c in _choices(a)]
    return []


def _description(field: FieldInfo, inner: type[BaseModel] | None) -> str:
    if field.description:
        return field.description
    if inner is not None:
        return _docstring(inner).split(". ")[0].rstrip(".") + "." if _docstring(inner) else ""
    return ""


def _docstring(model: type[BaseModel]) -> str:
    doc = model.__doc__ or ""
    if not doc or doc.startswith(f"{model.__name__}("):  # pydantic's generated signature, not prose
        return ""
    return " ".join(doc.split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")

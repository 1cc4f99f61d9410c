"""Policy specs: what `--policy SPEC` may be, and how it becomes a batched actor.

A SPEC is one of
- a shorthand: `random`, `noop`, `lstm`, `stateless` (mettagrid's) or `baseline` (DAF's);
- a class path: `package.module.Class` (a mettagrid `MultiAgentPolicy`);
- the cogames form `class=SHORTHAND_OR_PATH,data=PATH[,key=value...]` (extra keys are
  constructor keyword arguments);
- a policy name from the study config (resolved by the caller, see `daf.config.study`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from daf.errors import UserError

SHORTHANDS: dict[str, tuple[str, str]] = {
    "random": (
        "mettagrid.policy.random_agent.RandomMultiAgentPolicy",
        "uniform random over the primary actions (mettagrid shorthand)",
    ),
    "noop": ("mettagrid.policy.noop.NoopPolicy", "always noop (mettagrid shorthand)"),
    "lstm": (
        "mettagrid.policy.lstm.LSTMPolicy",
        "mettagrid's LSTM network; seeded random init unless data= gives weights",
    ),
    "stateless": (
        "mettagrid.policy.stateless.StatelessPolicy",
        "mettagrid's feed-forward network; seeded random init unless data= gives weights",
    ),
    "baseline": (
        "daf.policies.baseline.BaselinePolicy",
        "DAF's scripted policy: extractors -> assembler (cogs), nearest food (forage)",
    ),
    "trained": (
        "daf.policies.trained.TrainedPolicy",
        "a `daf train` checkpoint: class=trained,data=DIR/model.pt (or just DIR/model.pt)",
    ),
}
CLASS_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")
SPEC_FORMS = (
    "a shorthand (" + ", ".join(SHORTHANDS) + "), a class path (pkg.module.Class), class=...,data=PATH, "
    "or a DAF checkpoint path (.../model.pt)"
)


@dataclass(frozen=True)
class PolicySpec:
    """A parsed SPEC. `class_path` is always the full path."""

    class_path: str
    data_path: str | None = None
    init_kwargs: dict[str, object] = field(default_factory=dict)
    text: str = ""  # the SPEC as written

    @property
    def shorthand(self) -> str | None:
        for name, (path, _) in SHORTHANDS.items():
            if path == self.class_path:
                return name
        return None


def _scalar(value: str) -> object:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def _class_path(name: str, spec: str) -> str:
    if name in SHORTHANDS:
        return SHORTHANDS[name][0]
    if CLASS_PATH.match(name):
        return name
    raise UserError(f"unknown policy '{name}' in spec '{spec}'; a policy is {SPEC_FORMS}")


def parse_spec(spec: str, check_files: bool = True) -> PolicySpec:
    """Parse a SPEC string; checks the form and (unless told not to, e.g. for a checkpoint
    the workflow has yet to train) that a `data=` file exists."""
    text = spec.strip()
    if not text:
        raise UserError(f"empty policy spec; a policy is {SPEC_FORMS}")
    if "=" not in text and text.endswith(".pt"):  # short form of class=trained,data=PATH
        if check_files and not Path(text).is_file():
            raise UserError(f"checkpoint file '{text}' does not exist")
        return PolicySpec(SHORTHANDS["trained"][0], text, {}, text)
    if "=" not in text:
        return PolicySpec(class_path=_class_path(text, text), text=text)
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise UserError(f"malformed policy spec '{text}': '{part}' is not key=value")
        if key in fields:
            raise UserError(f"malformed policy spec '{text}': key '{key}' given twice")
        fields[key] = value
    if "class" not in fields:
        raise UserError(f"malformed policy spec '{text}': missing class=...; a policy is {SPEC_FORMS}")
    data = fields.pop("data", None)
    if check_files and data is not None and not Path(data).is_file():
        raise UserError(f"checkpoint file '{data}' (policy spec '{text}') does not exist")
    class_path = _class_path(fields.pop("class"), text)
    return PolicySpec(class_path, data, {k: _scalar(v) for k, v in fields.items()}, text)


def describe_shorthands() -> list[dict[str, str]]:
    return [{"name": n, "class_path": p, "description": d} for n, (p, d) in SHORTHANDS.items()]

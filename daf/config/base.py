"""What every section model shares: strict frozen models (unknown keys are errors), names that
may be result-path segments, and mission names that must resolve (a registered mission or a
mission file).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"  # used in result paths, so no slashes or spaces


def _known_mission(name: str) -> str:
    check_mission(name)  # defined below: resolved when a config is validated
    return name


# a registered mission's name or a cogs-style mission file (whose stem is a valid result-path id)
MissionName = Annotated[str, AfterValidator(_known_mission)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def is_path_name(name: str) -> bool:
    """Whether `name` may be a path segment and a shell word of the workflow (the whole string:
    `re.match` with `$` would let a trailing newline through)."""
    return re.fullmatch(NAME_PATTERN, name) is not None


def check_mission(name: str) -> None:
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

"""What every section model shares: strict frozen models (unknown keys are errors), names that
may be result-path segments, and mission names that must resolve (a registered mission or a
mission file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from daf.paths import NAME_PATTERN, is_path_name, name_rule  # noqa: F401 (the one rule, re-exported)


def _known_mission(name: str) -> str:
    check_mission(name)  # defined below: resolved when a config is validated
    return name


# a registered mission's name or a cogs-style mission file (whose stem is a valid result-path id)
MissionName = Annotated[str, AfterValidator(_known_mission)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_mission(name: str) -> None:
    from daf.errors import unknown_choice
    from daf.missions import MISSIONS, is_mission_file, mission_id

    if is_mission_file(name):
        if not Path(name).is_file():
            raise ValueError(f"mission file '{name}' does not exist")
        if not is_path_name(mission_id(name)):
            raise ValueError(f"mission file '{name}': its id (the file's stem) {mission_id(name)!r} must match "
                             f"{name_rule()} (it is used in result paths); rename the file")  # fmt: skip
    elif name not in MISSIONS:
        raise ValueError(f"{unknown_choice('mission', name, MISSIONS)}, or a path to a mission .py file")

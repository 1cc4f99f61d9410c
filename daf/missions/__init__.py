"""Mission registry: named `family.variant` missions and cogames-style mission files.

A mission is a `MettaGridConfig` builder plus a success criterion. Names follow the
CoGames convention `family.variant`. Anywhere a mission name is accepted, a path to a
cogames-style mission file (`something.py` defining `get_config() -> MettaGridConfig`)
is accepted too; such a mission is named after the file's stem.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from mettagrid.config.mettagrid_config import MettaGridConfig
from mettagrid.policy.policy_env_interface import PolicyEnvInterface

from daf.errors import UserError, moved_module_hint, unknown_choice
from daf.limits import TimeLimits, time_limit
from daf.missions.builders import ELEMENTS, cogs_config, forage_config
from daf.paths import is_path_name, name_rule


@dataclass(frozen=True)
class SuccessCriterion:
    """An episode succeeds when the team total of `stat` reaches `threshold`.

    `stat` is an agent game stat (e.g. `heart.gained`) summed over all agents of the
    episode, or `reward` for the summed episode reward. Team-level on purpose: in mixed
    (candidate + replacement) episodes success belongs to the whole team.
    """

    stat: str
    threshold: float
    op: Literal[">=", ">"] = ">="

    def describe(self) -> str:
        return f"team total {self.stat} {self.op} {self.threshold:g}"

    def evaluate(self, team_totals: np.ndarray) -> np.ndarray:
        return team_totals >= self.threshold if self.op == ">=" else team_totals > self.threshold


@dataclass(frozen=True)
class Mission:
    name: str
    family: str
    description: str
    build: Callable[[], MettaGridConfig]
    success: SuccessCriterion
    source: str = "registry"  # or the path of a mission file
    # resources agents collect from objects and must convert into reward (mission analysis:
    # "resource-starved" = gathered some, converted none)
    gathered: tuple[str, ...] = ()

    def config(self) -> MettaGridConfig:
        """A fresh config (callers may mutate it, e.g. to set the map seed). A mission file's
        get_config() runs under the setup time limit (daf.limits)."""
        try:
            if self.source == "registry":
                cfg = self.build()
            else:
                what = f"mission '{self.name}' ({self.source}): get_config()"
                with time_limit(TimeLimits.from_env().setup, what, "setup"):
                    cfg = self.build()
        except UserError:
            raise
        except Exception as exc:
            if self.source == "registry":
                raise
            raise UserError(
                f"mission '{self.name}' ({self.source}): get_config() failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(cfg, MettaGridConfig):
            raise UserError(
                f"mission '{self.name}' ({self.source}): get_config() returned {type(cfg).__name__}, "
                "expected mettagrid.config.mettagrid_config.MettaGridConfig"
            )
        return cfg

    def summary(self) -> dict:
        cfg = self.config()
        width, height = map_size(cfg)
        return {
            "name": self.name,
            "family": self.family,
            "num_agents": cfg.game.num_agents,
            "width": width,
            "height": height,
            "max_steps": cfg.game.max_steps,
            "map": "ascii" if hasattr(cfg.game.map_builder, "map_data") else "procedural",
            "success": self.success.describe(),
            "gathered": list(self.gathered),
            "description": self.description,
            "source": self.source,
        }

    def fingerprint(self) -> str:
        """sha256 of the full config JSON and the success criterion: changes whenever the
        game or what counts as success changes."""
        text = self.config().model_dump_json() + "\n" + self.success.describe()
        return hashlib.sha256(text.encode()).hexdigest()


def map_size(cfg: MettaGridConfig) -> tuple[int, int]:
    builder = cfg.game.map_builder
    width, height = getattr(builder, "width", None), getattr(builder, "height", None)
    if width is None or height is None:
        return -1, -1  # unknown until built (e.g. MapGen); reported as -1
    return int(width), int(height)


# --- the fixed ASCII maps ---------------------------------------------------------

COGS_TINY_MAP = [
    "###########",
    "#C...#...O#",
    "#....#....#",
    "#.@.....@.#",
    "#....A....#",
    "#O.......C#",
    "###########",
]

FORAGE_ROOMS_MAP = [
    "###################",
    "#b...#.....#.....b#",
    "#....#..b..#......#",
    "#..@.............b#",
    "#....#.....#......#",
    "##.####...####.####",
    "#.....#.......#..b#",
    "#.b...#...@.......#",
    "#.....#.....b.#...#",
    "####.####.#########",
    "#.......#.....b...#",
    "#..b....#..@......#",
    "#.......b.........#",
    "###################",
]

COGS_LEGEND = {"C": "carbon_extractor", "O": "oxygen_extractor", "A": "assembler"}


def _registry() -> dict[str, Mission]:
    two, three = ELEMENTS[:2], ELEMENTS[:3]
    hearts = "heart.gained"
    missions = [
        Mission(
            "cogs.tiny",
            "cogs",
            "Fixed 11x7 map, 2 agents: carbon + oxygen -> heart at the assembler.",
            lambda: cogs_config(
                label="cogs.tiny",
                num_agents=2,
                elements=two,
                max_steps=300,
                ascii_map=COGS_TINY_MAP,
                char_to_map_name=COGS_LEGEND,
            ),
            SuccessCriterion(hearts, 20),
            gathered=two,
        ),
        Mission(
            "cogs.small",
            "cogs",
            "Procedural 15x15, 4 agents, 2 elements (2 extractors each), 1 assembler.",
            lambda: cogs_config(label="cogs.small", num_agents=4, width=15, height=15, elements=two, max_steps=500),
            SuccessCriterion(hearts, 30),
            gathered=two,
        ),
        Mission(
            "cogs.standard",
            "cogs",
            "Procedural 20x20 with 20 wall blocks, 4 agents, all 4 elements per heart.",
            lambda: cogs_config(
                label="cogs.standard", num_agents=4, width=20, height=20, elements=ELEMENTS, walls=20, max_steps=1000
            ),
            SuccessCriterion(hearts, 12),
            gathered=ELEMENTS,
        ),
        Mission(
            "cogs.crowded",
            "cogs",
            "Procedural 20x20, 8 agents competing for 3 elements (3 extractors each), 2 assemblers.",
            lambda: cogs_config(
                label="cogs.crowded",
                num_agents=8,
                width=20,
                height=20,
                elements=three,
                extractors_per_element=3,
                assemblers=2,
                max_steps=800,
            ),
            SuccessCriterion(hearts, 60),
            gathered=three,
        ),
        Mission(
            "cogs.scarce",
            "cogs",
            "Procedural 15x15, 4 agents; each extractor holds only 3 units (at most 6 hearts in total).",
            lambda: cogs_config(
                label="cogs.scarce", num_agents=4, width=15, height=15, elements=two, extractor_stock=3, max_steps=600
            ),
            SuccessCriterion(hearts, 5),
            gathered=two,
        ),
        Mission(
            "cogs.energy",
            "cogs",
            "Procedural 15x15, 4 agents, 3 elements; extracting costs energy, chargers refill it.",
            lambda: cogs_config(
                label="cogs.energy", num_agents=4, width=15, height=15, elements=three, energy=True, max_steps=600
            ),
            SuccessCriterion(hearts, 30),
            gathered=three,
        ),
        Mission(
            "forage.open",
            "forage",
            "Procedural 15x15 open field, 2 agents, 8 bushes x 3 food.",
            lambda: forage_config(label="forage.open", num_agents=2, width=15, height=15, bushes=8, max_steps=300),
            SuccessCriterion("food.gained", 18),
        ),
        Mission(
            "forage.walls",
            "forage",
            "Procedural 20x20 with 40 wall blocks, 4 agents, 12 bushes x 3 food.",
            lambda: forage_config(
                label="forage.walls", num_agents=4, width=20, height=20, bushes=12, walls=40, max_steps=400
            ),
            SuccessCriterion("food.gained", 27),
        ),
        Mission(
            "forage.rooms",
            "forage",
            "Fixed 19x14 map of six rooms joined by doors, 3 agents, 10 bushes x 3 food.",
            lambda: forage_config(
                label="forage.rooms",
                num_agents=3,
                bushes=0,
                max_steps=400,
                ascii_map=FORAGE_ROOMS_MAP,
                char_to_map_name={"b": "bush"},
            ),
            SuccessCriterion("food.gained", 24),
        ),
    ]
    return {m.name: m for m in missions}


MISSIONS: dict[str, Mission] = _registry()


def is_mission_file(name: str) -> bool:
    return name.endswith(".py")


def mission_id(name: str) -> str:
    """The identifier used in result paths: the name, or a mission file's stem."""
    return Path(name).stem if is_mission_file(name) else name


def get_mission(name: str) -> Mission:
    """Look up a registered mission, or load a cogames-style mission file."""
    if is_mission_file(name):
        return load_mission_file(Path(name))
    if name not in MISSIONS:
        raise unknown_choice("mission", name, MISSIONS)
    return MISSIONS[name]


def load_mission_file(path: Path) -> Mission:
    """Load `path` (a .py file defining `get_config()`) as a mission.

    Optional module attributes: `DESCRIPTION` (str), `SUCCESS` (a dict with `stat`,
    `threshold` and optionally `op`; default: the team's summed reward is above 0) and
    `GATHERED` (resources agents collect and must convert, for mission analysis).
    """
    if not path.is_file():
        raise UserError(f"mission file '{path}' does not exist")
    if not is_path_name(path.stem):  # its id names result paths and report rows
        raise UserError(f"mission file '{path}': its id (the file's stem) {path.stem!r} must match {name_rule()} "
                        "(it is used in result paths); rename the file")  # fmt: skip
    module_name = f"daf_mission_file_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"mission file '{path}' cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        sys.modules[module_name] = module
        with time_limit(TimeLimits.from_env().setup, f"mission file '{path}': importing it", "setup"):
            spec.loader.exec_module(module)
    except UserError:
        sys.modules.pop(module_name, None)
        raise
    except Exception as exc:  # a user's file: report its error on one line
        sys.modules.pop(module_name, None)
        hint = moved_module_hint(exc)
        raise UserError(f"mission file '{path}' failed to import: {type(exc).__name__}: {exc}{hint}") from exc
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise UserError(f"mission file '{path}' does not define get_config() -> MettaGridConfig")
    success_spec = getattr(module, "SUCCESS", None) or {"stat": "reward", "threshold": 0.0, "op": ">"}
    try:
        success = SuccessCriterion(**success_spec)
    except TypeError as exc:
        raise UserError(f"mission file '{path}': SUCCESS must have keys stat, threshold[, op]: {exc}") from exc
    mission = Mission(
        name=path.stem,
        family="file",
        description=str(getattr(module, "DESCRIPTION", f"mission file {path.name}")),
        build=get_config,
        success=success,
        source=str(path),
        gathered=tuple(getattr(module, "GATHERED", ())),
    )
    mission.config()  # fail now, with the file named, if get_config() is broken
    return mission


def mission_env_info(mission: Mission) -> PolicyEnvInterface:
    """The observation features, actions and agents a policy sees on `mission`."""
    return PolicyEnvInterface.from_mg_cfg(mission.config())

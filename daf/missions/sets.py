"""What one training run plays: several missions for one network, and training-only reward shaping.

A network has one input layout and one action head, so missions trained together must
agree on their observation features (names and ids), object tags, observation window
and actions; `check_compatible` names the first difference.

Shaping (CoGames-style) adds reward terms on agent stats for training only:
`{"carbon.gained": 0.1}` pays 0.1 per unit of carbon an agent gains. The terms are
engine reward entries on a copy of the mission's config; evaluation always plays the
mission's own config. Only counters that start at 0 and only grow are allowed (resource
`.gained` / `.lost`, action counters), so the mission's own reward of an episode is
exactly the shaped reward minus `weight x final counter`.
"""

from __future__ import annotations

import math

from mettagrid.config.mettagrid_config import MettaGridConfig
from mettagrid.policy.policy_env_interface import PolicyEnvInterface

from daf.errors import UserError
from daf.missions import Mission

PRESETS = {
    "gather": "0.5 reward per unit of every resource the missions' agents gather and must convert "
    "(a mission's `gathered` list, e.g. carbon.gained: 0.5 on cogs missions): half a heart per element",
    "explore": "gather's terms (on missions that declare gathered resources) plus 0.01 per cell an agent enters "
    "for the first time in an episode (cell.unique_visited): an exploration bonus",
}
PRESET_WEIGHT = 0.5  # chosen a priori (an element is half of a two-element heart), not tuned on results
# each preset's terms beyond the gathered resources' (explore's weight chosen a priori: a new cell is worth
# 1/50 of an element, so the ~140 new cells the scripted baseline enters per cogs.standard episode pay
# less than one set of its four elements)
PRESET_EXTRA_TERMS = {"gather": {}, "explore": {"cell.unique_visited": 0.01}}
ACTION_COUNTERS = ("action.failed", "action.move.failed", "action.move.success", "action.noop.success")
# cells an agent has entered for the first time this episode: an exploration bonus
CELL_COUNTERS = ("cell.unique_visited",)
SHAPING_PREFIX = "shaping:"  # reward entries DAF adds; never a mission's own


def check_compatible(missions: list[Mission]) -> PolicyEnvInterface:
    """The shared observation/action interface of `missions`, or one line naming how two differ."""
    from daf.missions import mission_env_info

    if not missions:
        raise UserError("train: give at least one mission")
    names = [m.name for m in missions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(f"train: mission {', '.join(duplicates)} listed twice")
    first = mission_env_info(missions[0])
    for other in missions[1:]:
        info = mission_env_info(other)
        problem = _difference(first, info, missions[0].name, other.name)
        if problem:
            raise UserError(f"missions {missions[0].name} and {other.name} cannot train one network: {problem}")
    return first


def _difference(a: PolicyEnvInterface, b: PolicyEnvInterface, name_a: str, name_b: str) -> str | None:
    features_a = {f.name: f.id for f in a.obs_features}
    features_b = {f.name: f.id for f in b.obs_features}
    if features_a != features_b:
        only_a = sorted(set(features_a) - set(features_b))
        only_b = sorted(set(features_b) - set(features_a))
        moved = sorted(k for k in set(features_a) & set(features_b) if features_a[k] != features_b[k])
        parts = [f"{name_a} alone has {_few(only_a)}" if only_a else "",
                 f"{name_b} alone has {_few(only_b)}" if only_b else "",
                 f"ids of {_few(moved)} differ" if moved else ""]  # fmt: skip
        return "observation features differ (" + "; ".join(p for p in parts if p) + ")"
    if list(a.tags) != list(b.tags):
        only_a, only_b = sorted(set(a.tags) - set(b.tags)), sorted(set(b.tags) - set(a.tags))
        parts = [f"{name_a} alone has {_few(only_a)}" if only_a else "",
                 f"{name_b} alone has {_few(only_b)}" if only_b else ""]  # fmt: skip
        return "object tags differ (" + ("; ".join(p for p in parts if p) or "same tags, other order") + ")"
    if list(a.action_names) != list(b.action_names):
        return f"actions differ ({name_a}: {', '.join(a.action_names)}; {name_b}: {', '.join(b.action_names)})"
    if (a.obs_height, a.obs_width) != (b.obs_height, b.obs_width):
        return f"observation windows differ ({a.obs_height}x{a.obs_width} vs {b.obs_height}x{b.obs_width})"
    if a.observation_space.shape != b.observation_space.shape:
        return f"observation shapes differ ({a.observation_space.shape} vs {b.observation_space.shape})"
    return None


def _few(items: list[str], limit: int = 4) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_weights(weights: list[float], missions: list[Mission]) -> None:
    if len(weights) != len(missions):
        raise UserError(f"mission_weights: give one weight per mission ({len(missions)} missions, "
                        f"{len(weights)} weights)")  # fmt: skip
    if any(not math.isfinite(w) or w <= 0 for w in weights):
        raise UserError(f"mission_weights: weights must be positive (got {weights})")


def shaping_stats(missions: list[Mission]) -> list[str]:
    """The agent stats shaping may use on these missions."""
    resources = sorted({r for m in missions for r in m.config().game.resource_names})
    return [f"{r}.{kind}" for r in resources for kind in ("gained", "lost")] + [*ACTION_COUNTERS, *CELL_COUNTERS]


def check_shaping(shaping: dict[str, float], missions: list[Mission]) -> None:
    if not shaping:
        return
    valid = shaping_stats(missions)
    for stat, weight in shaping.items():
        if stat not in valid:
            where = ", ".join(m.name for m in missions)
            raise UserError(f"shaping: '{stat}' is not a stat shaping can use on {where}; valid: {', '.join(valid)}")
        if not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise UserError(f"shaping: weight of '{stat}' must be a finite number (got {weight!r})")


def shaped_config(cfg: MettaGridConfig, shaping: dict[str, float]) -> MettaGridConfig:
    """A copy of `cfg` whose agents also earn `weight` per unit of each stat in `shaping`."""
    if not shaping:
        return cfg
    from mettagrid.config.game_value import StatValue
    from mettagrid.config.reward_config import reward

    cfg = cfg.model_copy(deep=True)
    for stat, weight in sorted(shaping.items()):
        cfg.game.agent.rewards[SHAPING_PREFIX + stat] = reward(StatValue(name=stat), weight=float(weight))
    return cfg


def preset_shaping(preset: str | None, missions: list[Mission]) -> dict[str, float]:
    """The shaping terms a named preset stands for on these missions."""
    if preset is None:
        return {}
    if preset not in PRESETS:
        from daf.errors import unknown_choice

        raise unknown_choice("preset", preset, PRESETS)
    gathered = sorted({r for m in missions for r in m.gathered})
    terms = {f"{r}.gained": PRESET_WEIGHT for r in gathered} | PRESET_EXTRA_TERMS[preset]
    if not terms:
        names = ", ".join(m.name for m in missions)
        raise UserError(f"preset '{preset}': {names} declare no gathered resources to shape (missions' `gathered`)")
    return terms


def resolve_shaping(preset: str | None, shaping: dict[str, float], missions: list[Mission]) -> dict[str, float]:
    """A preset's terms overridden by explicit ones; checked against the missions."""
    resolved = {**preset_shaping(preset, missions), **shaping}
    check_shaping(resolved, missions)
    return resolved

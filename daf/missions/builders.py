"""MettaGridConfig builders for DAF's mission families.

These are DAF's own games, written against mettagrid 0.26.21. The original CogsGuard
game is no longer distributed; the `cogs` family reproduces its core loop (several
resource extractors, an assembler that turns one of each resource into a heart,
reward per heart, many agents) without claiming to be it.

Every object acts through `on_use_handler`: an agent uses an object by trying to move
into it. `change_vibe` is disabled so the action space is the 5 primary actions
(noop + 4 moves).
"""

from __future__ import annotations

from mettagrid.config.filter.periodic_filter import PeriodicFilter
from mettagrid.config.handler_config import Handler, actorHas, targetHas, updateActor, withdraw
from mettagrid.config.mettagrid_config import (
    ActionsConfig,
    AgentConfig,
    ChangeVibeActionConfig,
    GameConfig,
    GridObjectConfig,
    InventoryConfig,
    MettaGridConfig,
    MoveActionConfig,
    NoopActionConfig,
    ResourceLimitsConfig,
    WallConfig,
)
from mettagrid.config.obs_config import GlobalObsConfig, ObsConfig
from mettagrid.config.reward_config import inventoryReward
from mettagrid.map_builder.ascii import AsciiMapBuilder
from mettagrid.map_builder.random_map import RandomMapBuilder

ELEMENTS = ("carbon", "oxygen", "germanium", "silicon")
HEART = "heart"
ENERGY = "energy"
FOOD = "food"
EXTRACT_ENERGY_COST = 3


def _actions() -> ActionsConfig:
    return ActionsConfig(
        noop=NoopActionConfig(),
        move=MoveActionConfig(),
        change_vibe=ChangeVibeActionConfig(enabled=False),
    )


def _obs() -> ObsConfig:
    # local_position gives lp:* tokens (offset from spawn) so scripted policies can keep a map.
    return ObsConfig(global_obs=GlobalObsConfig(local_position=True))


def _map_builder(
    *,
    width: int,
    height: int,
    num_agents: int,
    objects: dict[str, int],
    ascii_map: list[str] | None,
    char_to_map_name: dict[str, str] | None,
):
    if ascii_map is not None:
        return AsciiMapBuilder.Config(map_data=ascii_map, char_to_map_name=dict(char_to_map_name or {}))
    # seed=0 is a placeholder: the rollout sets the per-episode map seed (common random numbers).
    return RandomMapBuilder.Config(
        width=width, height=height, agents=num_agents, objects=dict(objects), border_width=1, seed=0
    )


def cogs_config(
    *,
    label: str,
    num_agents: int,
    width: int = 15,
    height: int = 15,
    elements: tuple[str, ...] = ELEMENTS[:2],
    extractors_per_element: int = 2,
    assemblers: int = 1,
    walls: int = 0,
    extractor_stock: int | None = None,
    energy: bool = False,
    max_steps: int = 500,
    ascii_map: list[str] | None = None,
    char_to_map_name: dict[str, str] | None = None,
) -> MettaGridConfig:
    """CogsGuard-like game: gather one of each element at extractors, assemble a heart.

    - `{element}_extractor`: using it gives the agent 1 `element` (agents carry at most 1 of each).
      With `extractor_stock`, each extractor holds that many units and then runs dry (scarcity).
    - `assembler`: consumes one of every element from the agent and gives 1 heart (+1 reward).
    - `energy=True`: each extraction costs 3 energy; agents start with 10, regenerate 1 every
      4 steps, and a `charger` gives 15 (so energy management pays off).
    """
    resources = [*elements, HEART] + ([ENERGY] if energy else [])
    objects = _cogs_objects(elements, extractor_stock, energy)
    agent = _cogs_agent(elements, energy)

    placed = {f"{e}_extractor": extractors_per_element for e in elements}
    placed["assembler"] = assemblers
    if energy:
        placed["charger"] = 2
    if walls:
        placed["wall"] = walls
    return _game(label, num_agents, max_steps, resources, objects, agent,
                 _map_builder(width=width, height=height, num_agents=num_agents, objects=placed, ascii_map=ascii_map,
                              char_to_map_name=char_to_map_name))  # fmt: skip


def _game(label, num_agents, max_steps, resources, objects, agent, map_builder) -> MettaGridConfig:
    """A mission's game with DAF's shared observation and action settings."""
    return MettaGridConfig(
        label=label,
        game=GameConfig(
            num_agents=num_agents,
            max_steps=max_steps,
            resource_names=resources,
            obs=_obs(),
            actions=_actions(),
            objects=objects,
            agent=agent,
            map_builder=map_builder,
        ),
    )


def _cogs_objects(elements: tuple[str, ...], extractor_stock: int | None, energy: bool) -> dict[str, object]:
    """Walls, an extractor per element (stocked with `extractor_stock`), the assembler and, with
    `energy`, the charger; in this order (the config's fingerprint depends on it)."""
    objects: dict[str, object] = {"wall": WallConfig()}
    cost_filters = [actorHas({ENERGY: EXTRACT_ENERGY_COST})] if energy else []
    cost_mutations = [updateActor({ENERGY: -EXTRACT_ENERGY_COST})] if energy else []
    for element in elements:
        if extractor_stock is None:
            filters, gain = [], updateActor({element: 1})
            inventory = InventoryConfig()
        else:
            filters, gain = [targetHas({element: 1})], withdraw({element: 1})
            inventory = InventoryConfig(initial={element: extractor_stock})
        handler = Handler(name="extract", filters=[*filters, *cost_filters], mutations=[gain, *cost_mutations])
        objects[f"{element}_extractor"] = GridObjectConfig(
            name=f"{element}_extractor", inventory=inventory, on_use_handler=handler
        )
    recipe = {element: 1 for element in elements}
    objects["assembler"] = GridObjectConfig(
        name="assembler",
        on_use_handler=Handler(
            name="assemble",
            filters=[actorHas(recipe)],
            mutations=[updateActor({**{e: -1 for e in elements}, HEART: 1})],
        ),
    )
    if energy:
        objects["charger"] = GridObjectConfig(
            name="charger", on_use_handler=Handler(name="charge", mutations=[updateActor({ENERGY: 15})])
        )
    return objects


def _cogs_agent(elements: tuple[str, ...], energy: bool) -> AgentConfig:
    """Rewarded per heart; carries at most one of each element (and, with `energy`, up to 60
    energy: 10 at the start, 1 more every 4 steps)."""
    limits = {
        HEART: ResourceLimitsConfig(base=255, resources=[HEART]),
        **{e: ResourceLimitsConfig(base=1, resources=[e]) for e in elements},
    }
    if not energy:
        return AgentConfig(rewards={HEART: inventoryReward(HEART)}, inventory=InventoryConfig(limits=limits))
    limits[ENERGY] = ResourceLimitsConfig(base=60, resources=[ENERGY])
    return AgentConfig(
        rewards={HEART: inventoryReward(HEART)},
        inventory=InventoryConfig(limits=limits, initial={ENERGY: 10}),
        on_tick=Handler(name="regen", filters=[PeriodicFilter(period=4)], mutations=[updateActor({ENERGY: 1})]),
    )


def forage_config(
    *,
    label: str,
    num_agents: int,
    width: int = 15,
    height: int = 15,
    bushes: int = 8,
    food_per_bush: int = 3,
    walls: int = 0,
    max_steps: int = 300,
    ascii_map: list[str] | None = None,
    char_to_map_name: dict[str, str] | None = None,
) -> MettaGridConfig:
    """Foraging: bushes hold a few units of food; using a bush takes 1 food (+1 reward).

    Food is finite, so the team's score is bounded by `bushes * food_per_bush` and the
    game is about covering the map efficiently and not colliding with teammates.
    """
    bush = GridObjectConfig(
        name="bush",
        inventory=InventoryConfig(initial={FOOD: food_per_bush}),
        on_use_handler=Handler(name="pick", filters=[targetHas({FOOD: 1})], mutations=[withdraw({FOOD: 1})]),
    )
    placed = {"bush": bushes}
    if walls:
        placed["wall"] = walls
    agent = AgentConfig(
        rewards={FOOD: inventoryReward(FOOD)},
        inventory=InventoryConfig(limits={FOOD: ResourceLimitsConfig(base=255, resources=[FOOD])}),
    )
    return _game(label, num_agents, max_steps, [FOOD], {"wall": WallConfig(), "bush": bush}, agent,
                 _map_builder(width=width, height=height, num_agents=num_agents, objects=placed, ascii_map=ascii_map,
                              char_to_map_name=char_to_map_name))  # fmt: skip

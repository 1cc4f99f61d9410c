"""DAF's scripted baseline: reads the token observation and plays the resource games.

Per agent it keeps a map in its own spawn-relative frame (from the `lp:*` position
tokens), remembers where it saw objects, and each step picks a goal:

- cogs family (an `assembler` exists): fetch one of each element it lacks from the
  nearest extractor, then use the assembler; when extracting needs energy it does not
  have, it visits a charger (or waits for regeneration if none is known);
- forage family (`bush` objects): go to the nearest bush that still shows food;
- anything else: visit the nearest non-wall object.

With no reachable goal it walks to the nearest unseen cell. Paths come from a BFS over
known-free and unseen cells, cached until blocked. An object that fails to give
anything twice is remembered as dead. Decisions only use the observation, so it works
on any map of these families; it is deterministic given its RNG (used to break ties
and unstick).
"""

from __future__ import annotations

from collections import deque

import numpy as np
from mettagrid.policy.policy import AgentPolicy, MultiAgentPolicy
from mettagrid.policy.policy_env_interface import PolicyEnvInterface
from mettagrid.simulator import Action, AgentObservation

from daf.policies.tokens import DecodedObservation, TokenSchema, decode

MOVES = {"move_north": (-1, 0), "move_south": (1, 0), "move_west": (0, -1), "move_east": (0, 1)}
ENERGY_COST = 3  # matches daf.missions.builders.EXTRACT_ENERGY_COST
UNPASSABLE_SCAN = 2  # give up on a target after this many failed uses


class BaselineBrain:
    """The scripted controller of one agent for one episode."""

    def __init__(self, schema: TokenSchema, rng: np.random.Generator):
        self.schema = schema
        self.rng = rng
        self.move_names = [m for m in MOVES if m in schema.action_index]
        self.noop = schema.action_index.get("noop", 0)
        self.objects: dict[tuple[int, int], str] = {}  # spawn-relative cell -> object type
        self.seen: set[tuple[int, int]] = set()
        self.stock: dict[tuple[int, int], int] = {}  # last seen stock of objects that show one
        self.finite: set[tuple[int, int]] = set()  # objects once seen holding stock
        self.dead: set[tuple[int, int]] = set()
        self.failures: dict[tuple[int, int], int] = {}
        self.path: list[tuple[int, int]] = []
        self.goal: tuple[int, int] | None = None
        self.pending_use: tuple[tuple[int, int], dict[str, int]] | None = None
        self.last_pos: tuple[int, int] | None = None
        self.stuck = 0
        tags = set(schema.tag_names)
        self.elements = sorted(t[len("type:") : -len("_extractor")] for t in tags if t.endswith("_extractor"))
        self.is_cogs = "type:assembler" in tags
        self.is_forage = "type:bush" in tags
        self.uses_energy = "charger" in {t[len("type:") :] for t in tags}

    # --- perception --------------------------------------------------------------

    def _position(self, seen: DecodedObservation) -> tuple[int, int]:
        g = seen.globals
        return (g.get("lp:south", 0) - g.get("lp:north", 0), g.get("lp:east", 0) - g.get("lp:west", 0))

    def _remember(self, pos: tuple[int, int], seen: DecodedObservation) -> set[tuple[int, int]]:
        cr, cc = self.schema.center
        agents = set()
        height, width = 2 * cr + 1, 2 * cc + 1
        for r in range(height):
            for c in range(width):
                cell = (pos[0] + r - cr, pos[1] + c - cc)
                self.seen.add(cell)
                self.objects.pop(cell, None)
        for (r, c), tag in seen.objects.items():
            cell = (pos[0] + r - cr, pos[1] + c - cc)
            kind = tag[len("type:") :] if tag.startswith("type:") else tag
            if kind == "agent":
                if (r, c) != (cr, cc):
                    agents.add(cell)
                continue
            self.objects[cell] = kind
            inv = seen.object_inventory.get((r, c), {})
            self.stock[cell] = sum(inv.values())
            if self.stock[cell] > 0:
                self.finite.add(cell)
        return agents

    # --- goals ---------------------------------------------------------------------

    def _wanted(self, inventory: dict[str, int]) -> set[str]:
        if self.is_cogs:
            missing = [e for e in self.elements if inventory.get(e, 0) == 0]
            if not missing:
                return {"assembler"}
            if self.uses_energy and inventory.get("energy", 0) < ENERGY_COST:
                return {"charger"}
            return {f"{e}_extractor" for e in missing}
        if self.is_forage:
            return {"bush"}
        return {kind for kind in set(self.objects.values()) if kind != "wall"}

    def _targets(self, wanted: set[str]) -> set[tuple[int, int]]:
        targets = set()
        for cell, kind in self.objects.items():
            if kind not in wanted or cell in self.dead:
                continue
            if cell in self.finite and self.stock.get(cell, 0) <= 0:
                continue  # it showed stock before and now shows none: depleted
            targets.add(cell)
        return targets

    # --- movement ------------------------------------------------------------------

    def _passable(self, cell: tuple[int, int], agents: set[tuple[int, int]]) -> bool:
        return cell not in self.objects and cell not in agents

    def _bfs(self, start, goal_test, agents, limit: int = 2500) -> list[tuple[int, int]] | None:
        """Shortest path (list of cells after start) to a cell satisfying goal_test."""
        parents = {start: None}
        queue = deque([start])
        while queue and len(parents) < limit:
            cell = queue.popleft()
            if cell != start and goal_test(cell):
                path = []
                while cell != start:
                    path.append(cell)
                    cell = parents[cell]
                return path[::-1]
            for dr, dc in MOVES.values():
                nxt = (cell[0] + dr, cell[1] + dc)
                if nxt in parents:
                    continue
                # only walk through seen cells or the frontier right next to them
                if (goal_test(nxt) or self._passable(nxt, agents)) and (nxt in self.seen or cell in self.seen):
                    parents[nxt] = cell
                    queue.append(nxt)
        return None

    def _move_towards(self, pos, nxt) -> int:
        delta = (nxt[0] - pos[0], nxt[1] - pos[1])
        for name, d in MOVES.items():
            if d == delta and name in self.schema.action_index:
                return self.schema.action_index[name]
        return self._random_move()

    def _random_move(self) -> int:
        if not self.move_names:
            return self.noop
        return self.schema.action_index[self.move_names[int(self.rng.integers(len(self.move_names)))]]

    # --- the step --------------------------------------------------------------------

    def step(self, obs: np.ndarray) -> int:
        seen = decode(obs, self.schema)
        pos = self._position(seen)
        agents = self._remember(pos, seen)
        inventory = seen.inventory

        if self.pending_use is not None:  # did the last use give us anything?
            target, before = self.pending_use
            self.pending_use = None
            if inventory == before:
                self.failures[target] = self.failures.get(target, 0) + 1
                if self.failures[target] >= UNPASSABLE_SCAN and not (
                    self.uses_energy and inventory.get("energy", 0) < ENERGY_COST
                ):
                    self.dead.add(target)
            else:
                self.failures.pop(target, None)

        self.stuck = self.stuck + 1 if pos == self.last_pos else 0
        self.last_pos = pos
        if self.stuck >= 4:  # blocked by another agent or a wrong map belief: shake loose
            self.stuck = 0
            self.path = []
            return self._random_move()

        wanted = self._wanted(inventory)
        targets = self._targets(wanted)
        if "charger" in wanted and not targets:
            return self.noop  # no charger known: wait for energy to regenerate

        for target in targets:  # adjacent to a target: use it
            if abs(target[0] - pos[0]) + abs(target[1] - pos[1]) == 1:
                self.pending_use = (target, dict(inventory))
                self.path = []
                return self._move_towards(pos, target)

        if self.path and self.goal in targets | {None} and self._passable(self.path[0], agents):
            nxt = self.path.pop(0)
            if abs(nxt[0] - pos[0]) + abs(nxt[1] - pos[1]) == 1:
                return self._move_towards(pos, nxt)
        self.path = []

        if targets:
            path = self._bfs(
                pos,
                lambda cell: (
                    any(abs(cell[0] - t[0]) + abs(cell[1] - t[1]) == 1 for t in targets)
                    and self._passable(cell, agents)
                ),
                agents,
            )
            if path:
                self.goal = min(targets, key=lambda t: abs(t[0] - path[-1][0]) + abs(t[1] - path[-1][1]))
                self.path = path
                return self._move_towards(pos, self.path.pop(0))
        # explore: nearest cell never seen
        path = self._bfs(pos, lambda cell: cell not in self.seen, agents)
        if path:
            self.goal = None
            self.path = path[:-1] if len(path) > 1 else path
            return self._move_towards(pos, self.path.pop(0))
        return self._random_move()


class BaselineAgentPolicy(AgentPolicy):
    """mettagrid per-agent wrapper (for tools that step one agent at a time)."""

    def __init__(self, env_info: PolicyEnvInterface, brain: BaselineBrain):
        super().__init__(env_info)
        self._brain = brain
        self._names = env_info.action_names
        self._shape = env_info.observation_space.shape

    def step(self, obs: AgentObservation) -> Action:
        raw = np.full(self._shape, 255, dtype=np.uint8)
        for i, token in enumerate(obs.tokens[: self._shape[0]]):
            raw[i] = token.raw_token
        return Action(name=self._names[self._brain.step(raw)])


class BaselinePolicy(MultiAgentPolicy):
    """Scripted baseline for DAF's `cogs` and `forage` missions (see module docstring)."""

    def __init__(self, policy_env_info: PolicyEnvInterface, device: str = "cpu", seed: int = 0):
        super().__init__(policy_env_info, device=device)
        self.schema = TokenSchema.from_env_info(policy_env_info)
        self._seed = int(seed)
        self._brains: dict[int, BaselineBrain] = {}

    def brain(self, rng: np.random.Generator) -> BaselineBrain:
        return BaselineBrain(self.schema, rng)

    def agent_policy(self, agent_id: int) -> AgentPolicy:
        brain = self.brain(np.random.default_rng([self._seed, agent_id]))
        return BaselineAgentPolicy(self.policy_env_info, brain)

    def reset(self) -> None:
        self._brains.clear()

    def step_batch(self, raw_observations: np.ndarray, raw_actions: np.ndarray) -> None:
        for agent_id in range(raw_observations.shape[0]):
            if agent_id not in self._brains:
                self._brains[agent_id] = self.brain(np.random.default_rng([self._seed, agent_id]))
            raw_actions[agent_id] = self._brains[agent_id].step(raw_observations[agent_id])

"""How a mission's team is split between two policies (cross-play): `half`, `one`, `all_but_one`,
or an explicit count of the agents policy A controls.
"""

from __future__ import annotations

from daf.errors import UserError

SPLITS = ("half", "one", "all_but_one")


def split_agents(split: str | int, num_agents: int, mission: str = "") -> int:
    """Agents A controls under `split`: `half` (N // 2), `one` (1), `all_but_one` (N - 1), or an
    explicit count; both policies must control at least one agent."""
    where = f" on mission '{mission}'" if mission else ""
    if isinstance(split, str) and split not in SPLITS:
        raise UserError(f"unknown cross-play split '{split}'; valid splits: {', '.join(SPLITS)}, or a number of agents")
    count = {"half": num_agents // 2, "one": 1, "all_but_one": num_agents - 1}.get(split, split)
    if not isinstance(count, int) or not 1 <= count <= num_agents - 1:
        raise UserError(f"cross-play split {split!r}{where} gives A {count} of {num_agents} agents; "
                        f"each policy needs 1..{num_agents - 1}")  # fmt: skip
    return count


def parse_split(text: str) -> str | int:
    """A split as written on the command line or in a path: a name, or a count of agents."""
    return int(text) if text.isdigit() else text

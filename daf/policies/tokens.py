"""Decoding MettaGrid's token observations.

An observation is `(num_tokens, 3)` uint8: (packed location, feature id, value).
Location 0xFF marks the end of the valid tokens, 0xFE a global (non-spatial) token;
otherwise the high nibble is the row and the low nibble the column in the agent's
egocentric window (the agent itself sits at the centre).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from mettagrid.policy.policy_env_interface import PolicyEnvInterface

EMPTY_LOCATION = 0xFF
GLOBAL_LOCATION = 0xFE


@dataclass
class TokenSchema:
    """Feature and tag ids of one game, looked up once per policy."""

    feature_ids: dict[str, int]
    tag_names: list[str]
    action_index: dict[str, int]
    center: tuple[int, int]
    # feature id -> (resource, place value): `inv:x` carries the low digit, `inv:x:p1` the next
    inventory_features: dict[int, tuple[str, int]] = field(default_factory=dict)

    @classmethod
    def from_env_info(cls, env_info: PolicyEnvInterface) -> TokenSchema:
        feature_ids = {f.name: f.id for f in env_info.obs_features}
        base = 256  # ObsConfig.token_value_base default; PolicyEnvInterface does not carry it
        inventory: dict[int, tuple[str, int]] = {}
        for name, fid in feature_ids.items():
            parts = name.split(":")
            if parts[0] == "inv" and len(parts) == 2:
                inventory[fid] = (parts[1], 1)
            elif parts[0] == "inv" and len(parts) == 3 and parts[2].startswith("p") and parts[2][1:].isdigit():
                inventory[fid] = (parts[1], base ** int(parts[2][1:]))
        return cls(
            feature_ids=feature_ids,
            tag_names=list(env_info.tags),
            action_index={name: i for i, name in enumerate(env_info.action_names)},
            center=(env_info.obs_height // 2, env_info.obs_width // 2),
            inventory_features=inventory,
        )

    def feature(self, name: str) -> int:
        return self.feature_ids.get(name, -1)


@dataclass
class DecodedObservation:
    """What one agent sees this step, in window coordinates (row, col)."""

    globals: dict[str, int]
    inventory: dict[str, int]  # the agent's own inventory
    objects: dict[tuple[int, int], str]  # window cell -> tag name (first tag wins)
    object_inventory: dict[tuple[int, int], dict[str, int]]


def decode(obs: np.ndarray, schema: TokenSchema) -> DecodedObservation:
    locations = obs[:, 0]
    end = np.flatnonzero(locations == EMPTY_LOCATION)
    tokens = obs[: end[0]] if end.size else obs
    loc = tokens[:, 0].astype(np.int64)
    feat = tokens[:, 1].astype(np.int64)
    val = tokens[:, 2].astype(np.int64)

    globals_: dict[str, int] = {}
    is_global = loc == GLOBAL_LOCATION
    id_to_name = {v: k for k, v in schema.feature_ids.items()}
    for f, v in zip(feat[is_global].tolist(), val[is_global].tolist()):
        globals_[id_to_name.get(f, str(f))] = v

    rows, cols = loc >> 4, loc & 0xF
    spatial = ~is_global
    tag_id = schema.feature("tag")
    objects: dict[tuple[int, int], str] = {}
    for r, c, v in zip(
        rows[spatial & (feat == tag_id)].tolist(),
        cols[spatial & (feat == tag_id)].tolist(),
        val[spatial & (feat == tag_id)].tolist(),
    ):
        if (r, c) not in objects and v < len(schema.tag_names):
            objects[(r, c)] = schema.tag_names[v]

    inventory: dict[str, int] = {}
    object_inventory: dict[tuple[int, int], dict[str, int]] = {}
    if schema.inventory_features:
        is_inv = spatial & np.isin(feat, list(schema.inventory_features))
        for r, c, f, v in zip(
            rows[is_inv].tolist(), cols[is_inv].tolist(), feat[is_inv].tolist(), val[is_inv].tolist()
        ):
            resource, place = schema.inventory_features[f]
            target = inventory if (r, c) == schema.center else object_inventory.setdefault((r, c), {})
            target[resource] = target.get(resource, 0) + v * place
    return DecodedObservation(globals_, inventory, objects, object_inventory)

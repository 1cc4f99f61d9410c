"""What a trained network needs of a mission, without torch: the architectures' names and the
observation signature a checkpoint must match (daf.policies.networks builds the networks on top).

The config checks and the workflow's planning import this module: a study is validated and
its DAG built without loading torch.
"""

from __future__ import annotations

from mettagrid.policy.policy_env_interface import PolicyEnvInterface

ARCHS = ("tokens", "tokens_lstm", "cnn", "lstm")
RECURRENT = ("tokens_lstm", "lstm")
TOKEN_ARCHS = ("tokens", "tokens_lstm")
GLOBAL_ONLY = {
    "episode_completion_pct",
    "last_action",
    "last_action_move",
    "last_reward",
    "goal",
    "lp:east",
    "lp:west",
    "lp:north",
    "lp:south",
}


def spatial_feature_ids(env_info: PolicyEnvInterface) -> list[int]:
    """Ids of the features drawn on the map grid (not global-only, not the tag), ascending."""
    return sorted(f.id for f in env_info.obs_features if f.name not in GLOBAL_ONLY and f.name != "tag")


def observation_signature(env_info: PolicyEnvInterface) -> dict:
    """What a checkpoint must match to be loadable on a mission (`ObsEncoder.signature`)."""
    spatial = spatial_feature_ids(env_info)
    return {
        "num_features": max(f.id for f in env_info.obs_features) + 1,
        "spatial_features": [f.name for f in sorted(env_info.obs_features, key=lambda f: f.id) if f.id in spatial],
        "num_tags": max(1, len(env_info.tags)),
        "tag_feature": {f.name: f.id for f in env_info.obs_features}.get("tag", -1),
        "height": env_info.obs_height,
        "width": env_info.obs_width,
    }

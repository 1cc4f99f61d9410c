"""`daf policy inspect SPEC`: what a policy is, before anyone evaluates it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _torch_modules(policy) -> list:
    """torch modules a policy holds (itself, or as attributes one level down)."""
    import torch

    found = [policy] if isinstance(policy, torch.nn.Module) else []
    for value in vars(policy).values():
        if isinstance(value, torch.nn.Module) and all(value is not m for m in found):
            found.append(value)
    return found


def inspect_policy(spec_text: str, mission_name: str = "cogs.tiny") -> dict:
    from daf.evaluation.episodes import mission_env_info
    from daf.missions import get_mission
    from daf.policies import parse_spec
    from daf.policies.actors import instantiate

    spec = parse_spec(spec_text)
    mission = get_mission(mission_name)
    info = mission_env_info(mission)
    policy = instantiate(spec, info, seed=0, device="cpu")
    network = policy.network() if hasattr(policy, "network") and callable(policy.network) else None
    modules = [network] if network is not None else _torch_modules(policy)
    seen, parameters = set(), 0
    for module in modules:
        for p in module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                parameters += p.numel()
    try:
        recurrent = bool(policy.is_recurrent())
    except (AttributeError, NotImplementedError):
        recurrent = None
    obs = info.observation_space
    result = {
        "spec": spec.text,
        "class_path": spec.class_path,
        "class": f"{type(policy).__module__}.{type(policy).__qualname__}",
        "shorthand": spec.shorthand,
        "data_path": spec.data_path,
        "init_kwargs": spec.init_kwargs,
        "parameters": int(parameters),
        "trainable": bool(parameters),
        "recurrent": recurrent,
        "mission": mission.name,
        "observation_space": {
            "shape": list(obs.shape),
            "dtype": str(np.dtype(obs.dtype)),
            "features": len(info.obs_features),
        },  # fmt: skip
        "action_space": {"n": len(info.action_names), "actions": list(info.action_names)},
        "checkpoint": None,
    }
    if spec.data_path:
        sidecar = Path(spec.data_path).with_suffix(".json")
        meta = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
        result["checkpoint"] = {
            "path": spec.data_path,
            "bytes": Path(spec.data_path).stat().st_size,
            "sha256": meta.get("sha256") or _sha256(spec.data_path),
            "steps": meta.get("steps"),
            "seed": meta.get("seed"),
            "arch": meta.get("arch"),
            "mission": (meta.get("mission") or {}).get("name"),
            "hyperparameters": meta.get("hyperparameters"),
            "git_commit": meta.get("git_commit"),
            "sidecar": str(sidecar) if sidecar.is_file() else None,
        }
    return result


def _sha256(path: str) -> str:
    from daf.policies.checkpoint import sha256_file

    return sha256_file(path)


def describe(info: dict) -> str:
    lines = [
        f"spec          {info['spec']}",
        f"class         {info['class']}",
        f"parameters    {info['parameters']:,}" + ("" if info["trainable"] else " (no network)"),
        f"recurrent     {'unknown' if info['recurrent'] is None else 'yes' if info['recurrent'] else 'no'}",
        f"observations  {info['observation_space']['shape']} {info['observation_space']['dtype']} tokens, "
        f"{info['observation_space']['features']} features (on {info['mission']})",
        f"actions       {info['action_space']['n']}: {', '.join(info['action_space']['actions'])}",
    ]
    ckpt = info["checkpoint"]
    if ckpt:
        lines.append(f"checkpoint    {ckpt['path']} ({ckpt['bytes']:,} bytes, sha256 {ckpt['sha256'][:16]}…)")
        if ckpt["steps"] is not None:
            lines.append(f"  trained     {ckpt['steps']:,} agent-steps on {ckpt['mission']}, seed {ckpt['seed']}, "
                         f"arch {ckpt['arch']}, commit {ckpt['git_commit']}")  # fmt: skip
        if ckpt["hyperparameters"]:
            hp = ", ".join(f"{k}={v}" for k, v in sorted(ckpt["hyperparameters"].items()))
            lines.append(f"  hyperparameters {hp}")
    return "\n".join(lines)

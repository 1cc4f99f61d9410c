"""What a run writes: the final model with its sidecar, periodic checkpoints (weights,
optimizer, update index, RNG states, log so far) under OUT/periodic/<run key>/, and resuming
from the newest one whose sha256 checks out.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pandas as pd

from daf.errors import UserError
from daf.io import git_commit, package_versions, write_parquet
from daf.policies import checkpoint
from daf.policies.networks import ObsEncoder, PolicyNet
from daf.training.run import Run, RunState


def run_sidecar(run: Run, state: RunState, workers: int, stopped_early: bool) -> dict:
    """model.json (returned by `train` also when no model.pt is written)."""
    first = run.missions[0]
    return {
        "format": checkpoint.FORMAT,
        "mission": {"name": first.name, "source": first.source, "sha256": first.fingerprint()},
        "missions": [{"name": m.name, "source": m.source, "sha256": m.fingerprint()} for m in run.missions],
        "mission_weights": run.weights,
        "preset": run.preset,
        "shaping": run.shaping,
        "arch": run.arch,
        "steps": state.global_step,
        "requested_steps": run.steps,
        "seed": run.seed,
        "hyperparameters": run.hp.model_dump(),
        "world_size": run.dist.world_size,
        "workers": workers,
        "device": str(run.device),
        "resumed_from_step": state.resumed_from,
        "run_key": run.key,
        "updates": len(state.log_rows),
        "stopped_early": stopped_early,
        "wall_seconds": state.log_rows[-1]["wall_seconds"] if state.log_rows else 0.0,
        "versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
    }


def write_final(run: Run, state: RunState, out: Path, sidecar: dict) -> None:
    """train_log.parquet and model.pt (+ model.json); records model.pt's sha256 in `sidecar`."""
    write_parquet(out / "train_log.parquet", pd.DataFrame(state.log_rows))
    payload = policy_payload(run.net, run.net_kwargs, run.encoder, run.action_names)
    sidecar["sha256"] = checkpoint.save(out / "model.pt", payload, sidecar)


def policy_payload(net: PolicyNet, net_kwargs: dict, encoder: ObsEncoder, action_names: list[str]) -> dict:
    return {
        "format": checkpoint.FORMAT,
        "net_kwargs": net_kwargs,
        "encoder": encoder.signature(),
        "action_names": list(action_names),
        "model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }


def save_periodic(run: Run, state: RunState) -> None:
    """Collective under torchrun (every rank's RNG streams are gathered); rank 0 writes."""
    generators = {"sampler": run.sampler, "shuffler": run.shuffler}
    mine = ({name: g.get_state() for name, g in generators.items()}, None)
    gathered = [mine]
    if run.dist.enabled:
        import torch.distributed as tdist

        gathered = [None] * run.dist.world_size
        tdist.all_gather_object(gathered, mine)
    if run.dist.rank != 0:
        return
    rng = {name: [g[0][name] for g in gathered] for name in generators}
    rng["env_resets"] = state.env_resets
    rng["python"] = _from_random_state(random.getstate())
    payload = {
        "format": checkpoint.FORMAT,
        "model": run.net.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "update": state.update,
        "global_step": state.global_step,
        "log": state.log_rows,
        "rng": rng,
    }
    path = run.periodic_dir / f"step_{state.global_step:012d}.pt"
    checkpoint.save(path, payload, {"run_key": run.key, "global_step": state.global_step})


def resume(run: Run) -> RunState:
    """Restore `run` from its newest good periodic checkpoint; a fresh state when there is none."""
    saved = latest_periodic(run.periodic_dir)
    if saved is None:
        return RunState()
    rank = run.dist.rank
    run.net.load_state_dict(saved["model"])
    run.optimizer.load_state_dict(saved["optimizer"])
    run.sampler.set_state(saved["rng"]["sampler"][rank])
    run.shuffler.set_state(saved["rng"]["shuffler"][rank])
    random.setstate(_to_random_state(saved["rng"]["python"]))
    global_step = int(saved["global_step"])
    return RunState(
        update=int(saved["update"]),
        global_step=global_step,
        log_rows=list(saved["log"]),
        env_resets=int(saved["rng"].get("env_resets", 0)) + 1,
        resumed_from=global_step,
    )


def latest_periodic(directory: Path) -> dict | None:
    """Newest periodic checkpoint whose bytes match its sidecar (older ones as fallback)."""
    if not directory.is_dir():
        return None
    for path in sorted(directory.glob("step_*.pt"), reverse=True):
        try:
            return checkpoint.load(path, verify_sidecar=True)
        except UserError as exc:
            print(f"daf: skipping unusable periodic checkpoint: {exc}", file=sys.stderr)
    return None


def _from_random_state(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _to_random_state(state: list) -> tuple:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)

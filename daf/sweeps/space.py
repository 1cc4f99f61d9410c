"""The search space of a sweep: a trial is one hyperparameter setting with an id that hashes
it; grid and random sweeps plan their trials up front, TPE in slots filled round by round
(daf.sweeps.search); a trial's settings are the policy's train settings with its
parameters applied.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np

from daf.config.sweeps import SweepConfig
from daf.config.training import PPOConfig, TrainConfig
from daf.errors import UserError


@dataclass(frozen=True)
class Trial:
    id: str
    params: dict


def coerce(key: str, value: object) -> object:
    """A value as the trainer types it (YAML may give '1e-3' as a string, 64.0 for an int)."""
    if key == "arch":
        return str(value)
    return getattr(PPOConfig(**{key: value}), key)


def trial_id(params: dict) -> str:
    text = json.dumps({k: params[k] for k in sorted(params)}, sort_keys=True)
    return "t" + hashlib.sha256(text.encode()).hexdigest()[:8]


def grid_points(key: str, space) -> list:
    if space.values is not None:
        return [coerce(key, v) for v in space.values]
    if space.log:
        points = np.geomspace(space.low, space.high, space.points)
    else:
        points = np.linspace(space.low, space.high, space.points)
    values = [coerce(key, round(float(p)) if is_int(key) else float(p)) for p in points]
    return list(dict.fromkeys(values))  # an integer range may round two points together


def is_int(key: str) -> bool:
    return key != "arch" and PPOConfig.model_fields[key].annotation is int


def sample_value(key: str, space, rng: np.random.Generator) -> object:
    if space.values is not None:
        return coerce(key, space.values[int(rng.integers(len(space.values)))])
    low, high = space.low, space.high
    if is_int(key):
        if space.log:
            value = math.exp(rng.uniform(math.log(low - 0.5 + 1e-9), math.log(high + 0.5)))
            return coerce(key, int(min(max(round(value), low), high)))
        return coerce(key, int(rng.integers(int(low), int(high) + 1)))
    value = math.exp(rng.uniform(math.log(low), math.log(high))) if space.log else rng.uniform(low, high)
    return coerce(key, float(value))


def planned_trials(sweep: SweepConfig) -> list[Trial]:
    """Trials of a grid or random sweep, known before anything runs (so they are DAG jobs)."""
    keys = sorted(sweep.space)
    if sweep.strategy == "grid":
        import itertools

        combos = itertools.product(*(grid_points(k, sweep.space[k]) for k in keys))
        settings = [dict(zip(keys, combo)) for combo in combos]
    elif sweep.strategy == "random":
        settings = []
        for i in range(sweep.trials):
            rng = np.random.default_rng([sweep.sampler_seed, i])
            settings.append({k: sample_value(k, sweep.space[k], rng) for k in keys})
    else:
        raise ValueError("tpe trials are asked from Optuna round by round (see tpe_slots)")
    trials = {}
    for params in settings:
        trials.setdefault(trial_id(params), Trial(trial_id(params), params))  # a repeat is one trial
    return list(trials.values())


def tpe_slots(sweep: SweepConfig) -> list[tuple[int, str]]:
    """(round, trial id) of every TPE trial: round r holds trials r*batch .. r*batch+batch-1."""
    return [(i // sweep.batch_size, f"r{i // sweep.batch_size:03d}-{i % sweep.batch_size:03d}")
            for i in range(sweep.trials)]  # fmt: skip


def apply_params(base: TrainConfig, params: dict) -> TrainConfig:
    """The base policy's training settings with a trial's hyperparameters."""
    hp = {**base.hyperparameters.model_dump(), **{k: v for k, v in params.items() if k != "arch"}}
    update = {"hyperparameters": PPOConfig(**hp)}
    if "arch" in params:
        update["arch"] = params["arch"]
    return base.model_copy(update=update)


def trial_settings(base: object, seed: int, params: dict, trial: str) -> TrainConfig:
    """The training settings of one run of a trial: the policy's `train:` settings (`base`,
    JSON) with the run's seed and the trial's hyperparameters; one-line errors naming the field."""
    from pydantic import ValidationError

    from daf.config.load import format_validation_error

    try:
        settings = TrainConfig.model_validate({**base, "seed": seed})
    except ValidationError as exc:
        raise UserError(format_validation_error(exc, "--base", TrainConfig)) from None
    except TypeError:
        raise UserError(f"--base must be a JSON mapping of train settings (got {base!r})") from None
    try:
        return apply_params(settings, params)
    except Exception as exc:  # pydantic names the field
        raise UserError(f"trial {trial}: invalid hyperparameters {params}: {exc}") from None


def trial_outcome(runs: list[dict]) -> dict:
    """A trial from its runs: failed if any run failed, pruned if any was pruned, else the
    mean objective over the runs."""
    errors = [r["error"] for r in runs if r["status"] == "failed"]
    if errors:
        return {"status": "failed", "objective": None, "error": errors[0]}
    if any(r["status"] == "pruned" for r in runs):
        return {"status": "pruned", "objective": None, "error": None}
    return {"status": "completed", "objective": float(np.mean([r["objective"] for r in runs])), "error": None}

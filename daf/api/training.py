"""`daf.train`: PPO on one mission or several, one process (the CLI adds torchrun ranks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from daf.errors import UserError


@dataclass(frozen=True)
class Checkpoint:
    """A trained network: `path` (model.pt; `spec` is what evaluate/compare take), its
    directory, the run's sidecar (model.json: settings, steps, wall time) and training log."""

    path: Path
    sidecar: dict

    @property
    def spec(self) -> str:
        return str(self.path)

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def steps(self) -> int:
        return int(self.sidecar["steps"])

    @property
    def seed(self) -> int:
        return int(self.sidecar["seed"])

    @property
    def log(self) -> pd.DataFrame:
        """The training log: one row per update (daf.training.records)."""
        return pd.read_parquet(self.directory / "train_log.parquet")

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        """An existing checkpoint: a `daf train` directory or its model.pt."""
        import json

        model = Path(path) / "model.pt" if Path(path).is_dir() else Path(path)
        sidecar = model.with_suffix(".json")
        if not model.is_file() or not sidecar.is_file():
            raise UserError(f"'{path}' is not a `daf train` checkpoint (needs model.pt and model.json)")
        return cls(model, json.loads(sidecar.read_text()))


@dataclass(frozen=True)
class TrainRequest:
    """A checked training request (what `train` runs; the CLI checks before launching ranks)."""

    missions: list
    steps: int
    seed: int
    out: Path
    weights: list[float] | None
    shaping: dict[str, float]
    hp: object  # PPOConfig


def prepare(
    missions: str | Sequence[str],
    steps: int,
    seed: int,
    out: str | Path,
    mission_weights: Sequence[float] | None = None,
    shaping: Mapping[str, float] | None = None,
    workers: int | None = None,
    hyperparameters: Mapping[str, object] | None = None,
) -> TrainRequest:
    """Check the request (one-line errors naming the culprit) and create `out`."""
    from daf.config.training import make_config
    from daf.io import ensure_writable
    from daf.missions import get_mission

    if steps <= 0:
        raise UserError(f"--steps must be positive (got {steps})")
    if seed < 0:
        raise UserError(f"--seed must be non-negative (got {seed})")
    if workers is not None and workers < 0:
        raise UserError(f"--workers must be 0 or more (got {workers})")
    names = [missions] if isinstance(missions, str) else list(missions)
    found = [get_mission(name) for name in names]
    weights = None
    if mission_weights is not None:
        from daf.errors import positive_weights

        weights = positive_weights(mission_weights, len(found), "--mission-weights", "--mission")
    hp = make_config(dict(hyperparameters or {}))
    out = Path(out)
    ensure_writable(out / "model.pt")
    return TrainRequest(found, int(steps), int(seed), out, weights, dict(shaping or {}), hp)


def run(
    request: TrainRequest,
    arch: str = "tokens",
    preset: str | None = None,
    device: str = "auto",
    workers: int = 0,
    fresh: bool = False,
    progress: bool = False,
    tensorboard: bool = False,
    tracking=None,
    run_name: str | None = None,
) -> Checkpoint:
    """Train a prepared request; resumes from `out`'s newest periodic checkpoint unless `fresh`.
    `tracking` (daf.tracking.TrackingTargets) also logs every update to MLflow / W&B."""
    from daf.training.ppo import train as train_ppo

    sidecar = train_ppo(
        request.missions, request.steps, request.seed, request.out, arch=arch, hp=request.hp, device_name=device,
        fresh=fresh, progress=progress, mission_weights=request.weights, shaping=request.shaping, workers=workers,
        tensorboard=tensorboard, preset=preset, tracking=tracking, run_name=run_name,
    )  # fmt: skip
    return Checkpoint(request.out / "model.pt", sidecar)


def train(
    missions: str | Sequence[str],
    steps: int,
    seed: int,
    out: str | Path,
    *,
    arch: str = "tokens",
    preset: str | None = None,
    mission_weights: Sequence[float] | None = None,
    shaping: Mapping[str, float] | None = None,
    workers: int = 0,
    device: str = "auto",
    fresh: bool = False,
    progress: bool = False,
    tensorboard: bool = False,
    tracking=None,
    **hyperparameters,
) -> Checkpoint:
    """Train one PPO network on `missions` (a name, a .py file, or several drawn per episode)
    for `steps` agent-steps from `seed`, writing `out`/model.pt, model.json and
    train_log.parquet. Keyword hyperparameters are PPOConfig fields (docs/training.md), e.g.
    `learning_rate=3e-4, num_envs=8`. `workers` env processes change speed, never the result.
    `tracking=daf.tracking.TrackingTargets(mlflow_uri=..., wandb_project=...)` also logs every
    update's scalars to MLflow / W&B."""
    request = prepare(missions, steps, seed, out, mission_weights, shaping, workers, hyperparameters)
    return run(request, arch, preset, device, workers, fresh, progress, tensorboard, tracking)

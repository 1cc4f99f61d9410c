"""Experiment tracking beyond TensorBoard: MLflow and Weights & Biases.

A `Tracker` opens one run in each configured target (`TrackingTargets`), logs numeric scalars
per step (training: every update, the step being agent-steps), tables (the study's
leaderboard) and files (the report), and closes the runs with the job's status. Both
libraries are optional extras (`.[mlflow]`, `.[wandb]`), imported only when configured; a
missing one is a one-line error naming the extra. Nothing here changes a result: tracking is
a copy of what DAF writes to its own files.

MLflow: `uri` is any tracking URI (`http://host:5000`, `databricks`, a directory or
`file:DIR`). MLflow 3 refuses its file store unless MLFLOW_ALLOW_FILE_STORE is set; DAF sets
it for file URIs (the file store is what a laptop without a server has). W&B: `mode` offline
(the default: runs go to `dir`/wandb/offline-run-*, `wandb sync` uploads them later), online,
or disabled.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from daf.errors import UserError

WANDB_MODES = ("offline", "online", "disabled")
TRACKING_ENV = "DAF_TRACKING"  # JSON of TrackingTargets: how the workflow passes the config's targets to its jobs


@dataclass(frozen=True)
class TrackingTargets:
    mlflow_uri: str | None = None
    mlflow_experiment: str = "daf"
    wandb_project: str | None = None
    wandb_entity: str | None = None
    wandb_mode: str = "offline"
    wandb_dir: str | None = None  # where W&B keeps its files (default: the job's output directory)

    @property
    def any(self) -> bool:
        return bool(self.mlflow_uri or self.wandb_project)

    def check(self) -> None:
        if self.wandb_mode not in WANDB_MODES:
            raise UserError(f"unknown W&B mode '{self.wandb_mode}'; valid modes: {', '.join(WANDB_MODES)}")

    def to_env(self) -> str:
        from dataclasses import asdict

        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_env(cls) -> TrackingTargets | None:
        """The targets in $DAF_TRACKING (set by the workflow from the config), or None."""
        text = os.environ.get(TRACKING_ENV)
        if not text:
            return None
        try:
            targets = cls(**json.loads(text))
        except (json.JSONDecodeError, TypeError) as exc:
            raise UserError(f"${TRACKING_ENV} is not a tracking description ({exc}): unset it") from None
        return targets if targets.any else None

    def flags(self) -> list[str]:
        """These targets as `daf train` / `daf report` flags."""
        out: list[str] = []
        if self.mlflow_uri:
            out += ["--mlflow-uri", self.mlflow_uri, "--mlflow-experiment", self.mlflow_experiment]
        if self.wandb_project:
            out += ["--wandb-project", self.wandb_project, "--wandb-mode", self.wandb_mode]
            if self.wandb_entity:
                out += ["--wandb-entity", self.wandb_entity]
        return out


def _module(name: str, extra: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        fix = f"pip install -c constraints.txt -e '.[{extra}]'"
        raise UserError(f"tracking to {extra} needs the {extra} extra: {fix}") from None


def scalars(row: Mapping[str, object]) -> dict[str, float]:
    """The finite numbers of a log row (booleans and text left out)."""
    return {k: float(v) for k, v in row.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}  # fmt: skip


def _flat(params: Mapping[str, object], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out |= _flat(value, f"{name}.")
        else:
            out[name] = str(value)
    return out


class Tracker:
    """One run per configured target; use as a context manager (the run ends FAILED when the
    block raises)."""

    def __init__(self, targets: TrackingTargets, run_name: str, params: Mapping[str, object], workdir: Path):
        targets.check()
        self._mlflow = self._mlflow_run = self._wandb = None
        if targets.mlflow_uri:
            uri = targets.mlflow_uri
            if "://" not in uri or uri.startswith("file:"):
                os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            tracking = _module("mlflow.tracking", "mlflow")
            self._mlflow = tracking.MlflowClient(tracking_uri=uri)
            experiment = self._mlflow.get_experiment_by_name(targets.mlflow_experiment)
            experiment_id = (
                experiment.experiment_id if experiment else self._mlflow.create_experiment(targets.mlflow_experiment)
            )
            self._mlflow_run = self._mlflow.create_run(experiment_id, run_name=run_name).info.run_id
            flat = _flat(params)
            for key in sorted(flat):
                self._mlflow.log_param(self._mlflow_run, key, flat[key][:6000])
        if targets.wandb_project:
            wandb = _module("wandb", "wandb")
            # absolute: a W&B service another process started (WANDB_SERVICE) resolves paths in its own cwd
            directory = (Path(targets.wandb_dir) if targets.wandb_dir else Path(workdir)).resolve()
            directory.mkdir(parents=True, exist_ok=True)
            self._wandb = wandb.init(
                project=targets.wandb_project, entity=targets.wandb_entity, mode=targets.wandb_mode,
                dir=str(directory), name=run_name, config=dict(params), reinit="create_new",
            )  # fmt: skip

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close(ok=kind is None)

    def log(self, values: Mapping[str, float], step: int) -> None:
        if not values:
            return
        if self._mlflow is not None:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            metrics = [Metric(k, v, now, step) for k, v in values.items()]
            for start in range(0, len(metrics), 1000):  # MLflow's batch limit
                self._mlflow.log_batch(self._mlflow_run, metrics=metrics[start : start + 1000])
        if self._wandb is not None:
            self._wandb.log(dict(values), step=step)

    def table(self, name: str, frame) -> None:
        """A table (a pandas DataFrame): an MLflow JSON table artifact and a W&B Table."""
        if self._mlflow is not None:
            self._mlflow.log_table(self._mlflow_run, data=frame, artifact_file=f"{name}.json")
        if self._wandb is not None:
            import wandb

            self._wandb.log({name: wandb.Table(dataframe=frame)})

    def file(self, path: Path) -> None:
        """A file as an artifact (MLflow) and a run file (W&B)."""
        if self._mlflow is not None:
            self._mlflow.log_artifact(self._mlflow_run, str(path))
        if self._wandb is not None:
            self._wandb.save(str(path), base_path=str(Path(path).parent), policy="now")

    def close(self, ok: bool = True) -> None:
        if self._mlflow is not None:
            self._mlflow.set_terminated(self._mlflow_run, status="FINISHED" if ok else "FAILED")
            self._mlflow = None
        if self._wandb is not None:
            self._wandb.finish(exit_code=0 if ok else 1)
            self._wandb = None

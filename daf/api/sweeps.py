"""`daf.sweep`: run a study config's hyperparameter sweep from Python and take its best
configuration. The sweep runs as the workflow runs it (the same Snakemake rules, jobs and
files as `snakemake results/sweeps/NAME/best.json`), so a notebook's sweep and a cluster's
are one thing, resumable and incremental alike."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from daf import paths
from daf.errors import RunFailed, UserError
from daf.ops.doctor import REPO  # the repository: Snakefile, profiles/


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep's files (results/sweeps/NAME/) as Python objects."""

    name: str
    root: Path  # the study directory the sweep ran in

    @property
    def directory(self) -> Path:
        return self.root / paths.SWEEP_DIR.format(sweep=self.name)

    def _file(self, pattern: str) -> Path:
        path = self.root / pattern.format(sweep=self.name)
        if not path.is_file():
            raise UserError(f"sweep '{self.name}' has no '{path.relative_to(self.root)}' (has it finished?)")
        return path

    @property
    def trials(self) -> pd.DataFrame:
        """One row per trial: its parameters (`param.*`), status, objective with its CI, error."""
        return pd.read_parquet(self._file(paths.SWEEP_TRIALS))

    @property
    def importance(self) -> pd.DataFrame:
        return pd.read_parquet(self._file(paths.SWEEP_IMPORTANCE))

    @property
    def summary(self) -> dict:
        return json.loads(self._file(paths.SWEEP_SUMMARY).read_text())

    @property
    def best(self) -> dict:
        """The chosen trial after re-evaluating the top ones: `trial`, `params`, `objective`,
        `ci_low`, `ci_high`, `separated` (from the runner-up), `checkpoint`."""
        return json.loads(self._file(paths.SWEEP_BEST).read_text())

    @property
    def best_params(self) -> dict:
        return dict(self.best["params"])

    @property
    def checkpoint(self):
        """The best trial's network (a daf.Checkpoint): `.spec` plays it in evaluate/compare."""
        from daf.api.training import Checkpoint

        return Checkpoint.load(self._file(paths.SWEEP_BEST_MODEL))


def sweep(
    config: str | Path | Mapping,
    name: str | None = None,
    directory: str | Path = ".",
    cores: int = 2,
    quiet: bool = True,
    snakemake_args: Sequence[str] = (),
) -> SweepResult:
    """Run sweep `name` (default: the config's only sweep) of a study config (a YAML path, or
    a dict written to `directory`/sweep-study.yaml) in `directory`, with `cores` cores, and
    return its result. Finished trials are not rerun; a larger budget runs only new ones."""
    from daf.config.load import load_study, validate_study

    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(config, Mapping):
        import yaml

        study = validate_study(dict(config), "the sweep config")
        config_path = directory / "sweep-study.yaml"
        config_path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    else:
        config_path = Path(config).resolve()
        study = load_study(config_path)
    if not study.sweeps:
        raise UserError(f"config {config_path} defines no sweeps (a `sweeps:` section; docs/sweeps.md)")
    if name is None:
        if len(study.sweeps) > 1:
            raise UserError(f"config {config_path} defines sweeps {', '.join(study.sweeps)}: pass name=")
        name = next(iter(study.sweeps))
    if name not in study.sweeps:
        from daf.errors import unknown_choice

        raise unknown_choice("sweep", name, study.sweeps)
    snakefile = REPO / "Snakefile"
    if not snakefile.is_file():
        raise UserError(f"daf.sweep runs the workflow: it needs DAF's repository (no {snakefile}; install with -e)")
    command = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(directory), "--configfile",
               str(config_path), "--profile", str(REPO / "profiles/local"), "--cores", str(cores),
               *snakemake_args, paths.SWEEP_BEST.format(sweep=name)]  # fmt: skip
    result = subprocess.run(command, capture_output=quiet, text=True)
    if result.returncode != 0:
        tail = (result.stderr or "").strip().splitlines()[-1:] if quiet else []
        logs = f"logs under {directory}/results/logs/ and {directory}/.snakemake/log/"
        raise RunFailed(f"sweep '{name}' failed (snakemake exit {result.returncode}); {logs}"
                        + (f": {tail[0]}" if tail else ""))  # fmt: skip
    return SweepResult(name, directory)

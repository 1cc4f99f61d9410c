"""`daf.doctor`: is this machine ready to run DAF (the checks of `daf doctor`)?"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DoctorResult:
    """Every check (name, status ok|warn|fail, detail, fix, required); `healthy` when no
    required check failed, `problems` the failed required ones, `warnings` the rest not ok."""

    checks: list

    @property
    def problems(self) -> list:
        from daf.ops.doctor import failed

        return failed(self.checks)

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def warnings(self) -> list:
        return [c for c in self.checks if c.status != "ok" and c not in self.problems]

    def table(self) -> str:
        from daf.ops.doctor import table

        return table(self.checks)


def doctor(
    results: str | Path = "results",
    constraints: str | Path | None = None,
    auth_config: str | Path | None = None,
    server: str | None = None,
) -> DoctorResult:
    """Run `daf doctor`'s checks: Python, pinned packages, the engine, torch, free disk under
    `results`, Snakemake and its plugin, tournament login (for `server`)."""
    from daf.ops.doctor import run_checks

    return DoctorResult(run_checks(Path(results), Path(constraints) if constraints else None,
                                   Path(auth_config) if auth_config else None, server))  # fmt: skip

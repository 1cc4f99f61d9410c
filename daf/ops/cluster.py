"""Cluster helpers: pre-flight checks for the SLURM profile and installing profiles.

The Snakefile calls `check_slurm_partitions` when Snakemake runs with the slurm executor,
before any job is submitted: every partition the profile names must exist (`sinfo`), else
one clear error names the partition, the rule it is for and the partitions there are.

`daf profile install` copies a profile from `profiles/` into Snakemake's user profile
directory (~/.config/snakemake/NAME), so the literal `snakemake --profile NAME` works;
partition and account can be written in instead of read from the environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from daf.errors import UserError

REPO = Path(__file__).resolve().parents[2]  # daf/ops/ -> the repository


def resource_value(raw: object) -> object:
    """A profile resource value as Snakemake evaluates it: a Python expression, else a string."""
    if not isinstance(raw, str):
        return raw
    try:
        return eval(raw, {"__builtins__": __builtins__}, {})  # the profile's own expression
    except (NameError, SyntaxError):
        return raw


def profile_partitions(resource_settings) -> dict[str, str]:
    """Partition per rule ('*' = default-resources) that the active profile asks for."""
    found = {}
    default = resource_settings.default_resources
    data = getattr(default, "_data", {}) if default is not None else {}
    if "slurm_partition" in data:
        found["*"] = resource_value(getattr(data["slurm_partition"], "raw", data["slurm_partition"]))
    for rule, resources in (resource_settings.overwrite_resources or {}).items():
        if "slurm_partition" in resources:
            res = resources["slurm_partition"]
            found[rule] = resource_value(getattr(res, "raw", res))
    return {rule: str(p) for rule, p in found.items() if p}


def available_partitions() -> list[str]:
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(
            f"the slurm executor needs SLURM's `sinfo`, which failed: {exc} (is this a login node?)"
        ) from None
    if out.returncode != 0:
        first = (out.stderr.strip().splitlines() or ["no output"])[0]
        raise UserError(f"`sinfo` failed ({first}); is SLURM reachable from here?")
    return sorted({line.strip() for line in out.stdout.splitlines() if line.strip()})


def check_slurm_partitions(resource_settings) -> None:
    wanted = profile_partitions(resource_settings)
    available = available_partitions()
    for rule, partition in sorted(wanted.items()):
        if partition not in available:
            where = "default-resources" if rule == "*" else f"set-resources for rule {rule}"
            raise UserError(
                f"SLURM partition '{partition}' ({where} slurm_partition) does not exist; partitions here: "
                f"{', '.join(available) or 'none'}. Set DAF_SLURM_CPU_PARTITION / DAF_SLURM_GPU_PARTITION "
                "or `daf profile install --cpu-partition ... --gpu-partition ...`"
            )


def install_profile(
    name: str = "slurm",
    dest: str | Path | None = None,
    cpu_partition: str | None = None,
    gpu_partition: str | None = None,
    account: str | None = None,
    force: bool = False,
) -> Path:
    """Copy profiles/NAME into the Snakemake user profile dir; optionally fix partitions/account."""
    source = REPO / "profiles" / name
    if not (source / "config.yaml").is_file():
        choices = sorted(p.name for p in (REPO / "profiles").iterdir() if (p / "config.yaml").is_file())
        raise UserError(f"unknown profile '{name}'; valid profiles: {', '.join(choices)}")
    base = Path(dest) if dest else Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "snakemake"
    target = base / name
    if (target / "config.yaml").exists() and not force:
        raise UserError(f"profile '{target}' exists; pass --force to replace it")
    text = (source / "config.yaml").read_text()
    replacements = {
        "DAF_SLURM_CPU_PARTITION": cpu_partition,
        "DAF_SLURM_GPU_PARTITION": gpu_partition,
        "DAF_SLURM_ACCOUNT": account,
    }
    for variable, value in replacements.items():
        if value is None:
            continue
        if not re.fullmatch(r"[\w.-]+", value):
            raise UserError(f"'{value}' is not a valid SLURM partition/account name")
        pattern = re.compile(r"\"__import__\('os'\)\.environ\.get\('" + variable + r"'[^\"]*\"")
        text, count = pattern.subn(f'"{value}"', text)
        if count == 0:
            raise UserError(f"profile '{name}' does not read {variable}; nothing to set")
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name != "config.yaml" and item.is_file():
            shutil.copy(item, target / item.name)
    from daf.io import write_text

    write_text(target / "config.yaml", text)
    return target

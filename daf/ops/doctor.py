"""`daf doctor`: is this machine ready to run a study? Each check says what it found and,
when it fails, how to fix it. Required checks decide the exit status; the others warn."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # daf/ops/ -> the repository


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""
    required: bool = True


def pins(constraints: Path) -> dict[str, str]:
    """name -> version from a pip constraints file (comments and blank lines skipped)."""
    out = {}
    for line in constraints.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[_canonical(name)] = version.strip()
    return out


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_python() -> Check:
    version = platform.python_version()
    ok = sys.version_info[:2] == (3, 11)
    return Check(
        "python",
        "ok" if ok else "fail",
        f"Python {version} at {sys.executable}",
        "" if ok else "use Python 3.11 (mettagrid 0.26.21 ships cp311 wheels): python3.11 -m venv .venv",
    )


def check_pins(constraints: Path) -> list[Check]:
    """The packages DAF depends on, against constraints.txt. mettagrid must match exactly
    (missions and results depend on the engine); other differences warn."""
    if not constraints.is_file():
        return [Check("pins", "warn", f"no {constraints} to compare against", required=False)]
    wanted = pins(constraints)
    checks = []
    for name in ("mettagrid", "torch", "snakemake", "snakemake-executor-plugin-slurm", "optuna", "numpy", "pandas"):
        have = _installed(name)
        want = wanted.get(_canonical(name))
        base = (have or "").split("+", 1)[0]  # torch 2.13.0+cpu satisfies the pin 2.13.0
        required = name in ("mettagrid", "snakemake")
        if have is None:
            checks.append(
                Check(
                    name,
                    "fail" if required else "warn",
                    "not installed",
                    "pip install -c constraints.txt -e .",
                    required,
                )
            )
        elif want and base != want:
            checks.append(
                Check(
                    name,
                    "fail" if required else "warn",
                    f"{have} installed, {want} pinned",
                    f"pip install -c constraints.txt '{name}=={want}'",
                    required,
                )
            )
        else:
            checks.append(Check(name, "ok", f"{have}" + (f" (pinned {want})" if want else ""), required=required))
    return checks


def check_engine() -> Check:
    """mettagrid imports and a short random episode runs."""
    start = time.perf_counter()
    try:
        from daf.evaluation.episodes import Seat, mission_env_info, run_episodes
        from daf.missions import get_mission
        from daf.policies import parse_spec
        from daf.policies.actors import build_actor

        mission = get_mission("cogs.tiny")
        actor = build_actor(parse_spec("random"), mission_env_info(mission), seed=0)
        frame = run_episodes(mission, Seat("random", actor), episodes=1, base_seed=0, num_envs=1)
    except Exception as exc:  # the point of the check is to report any failure
        return Check(
            "engine",
            "fail",
            f"smoke episode failed: {type(exc).__name__}: {exc}",
            "reinstall mettagrid: pip install -c constraints.txt --force-reinstall mettagrid==0.26.21",
        )
    steps = int(frame["steps"].max()) if "steps" in frame else 0
    return Check(
        "engine", "ok", f"mettagrid smoke episode on cogs.tiny ({steps} steps, {time.perf_counter() - start:.1f} s)"
    )


def check_torch() -> Check:
    try:
        import torch
    except ImportError as exc:
        return Check("torch", "fail", f"torch does not import: {exc}", "pip install -c constraints.txt torch")
    cuda = torch.cuda.is_available()
    device = f"CUDA ({torch.cuda.device_count()} x {torch.cuda.get_device_name(0)})" if cuda else "CPU only"
    threads = torch.get_num_threads()
    return Check(
        "torch device",
        "ok",
        f"torch {torch.__version__}: {device}; {threads} intra-op threads "
        f"(DAF jobs use --threads 1 each); {os.cpu_count()} CPUs",
        required=False,
    )


def check_disk(results: Path, minimum_gb: float = 2.0) -> Check:
    target = results if results.exists() else results.parent
    free = shutil.disk_usage(target).free / 2**30
    ok = free >= minimum_gb
    return Check(
        "disk",
        "ok" if ok else "fail",
        f"{free:.1f} GiB free under {results}",
        "" if ok else f"free space: a study needs a few GiB (checkpoints, replays); at least {minimum_gb} GiB",
    )


def check_snakemake() -> list[Check]:
    checks = []
    version = _installed("snakemake")
    checks.append(
        Check(
            "snakemake",
            "ok" if version and version.startswith("9.") else "fail",
            f"snakemake {version}" if version else "not installed",
            "" if version and version.startswith("9.") else "pip install -c constraints.txt 'snakemake>=9,<10'",
        )
    )
    plugin = _installed("snakemake-executor-plugin-slurm")
    checks.append(
        Check(
            "slurm plugin",
            "ok" if plugin else "warn",
            f"snakemake-executor-plugin-slurm {plugin}" if plugin else "not installed (needed for --profile slurm)",
            "" if plugin else "pip install -c constraints.txt snakemake-executor-plugin-slurm",
            False,
        )
    )
    sinfo = shutil.which("sinfo")
    if sinfo is None:
        checks.append(Check("sinfo", "warn", "no SLURM here (sinfo not on PATH); local profile only", required=False))
    else:
        try:
            out = subprocess.run([sinfo, "-h", "-o", "%P %a"], capture_output=True, text=True, timeout=15)
            answered = out.returncode == 0
            detail = (
                ("partitions: " + ", ".join(out.stdout.split()[::2]))
                if answered
                else (out.stderr.strip().splitlines() or ["no output"])[0][:200]
            )
        except subprocess.TimeoutExpired:
            answered, detail = False, "sinfo did not answer within 15 s"
        checks.append(
            Check(
                "sinfo",
                "ok" if answered else "warn",
                detail,
                "" if answered else "is slurmctld reachable? (scontrol ping)",
                False,
            )
        )
    return checks


def check_auth(config: Path | None, server: str | None) -> Check:
    from daf.ops.auth import DEFAULT_CONFIG, token_expiry, tokens

    path = config or DEFAULT_CONFIG
    stored = tokens(path)
    if server is not None:
        stored = {s: t for s, t in stored.items() if s == server.rstrip("/")}
    if not stored:
        where = f" for {server}" if server else ""
        return Check(
            "auth token",
            "warn",
            f"no login token{where} in {path} (needed only for `daf submit`)",
            "daf login SERVER (or --token-stdin on a headless machine)",
            False,
        )
    parts, expired = [], []
    for name, token in sorted(stored.items()):
        expiry = token_expiry(token)
        if expiry is None:
            parts.append(f"{name} (expiry unknown)")
        elif expiry < time.time():
            expired.append(name)
            parts.append(f"{name} (EXPIRED)")
        else:
            parts.append(f"{name} (valid for {(expiry - time.time()) / 3600:.0f} h)")
    status = "fail" if expired else "ok"
    fix = "; ".join(f"daf login {s}" for s in expired)
    return Check("auth token", status, "tokens: " + ", ".join(parts), fix, required=bool(expired and server))


def run_checks(
    results: Path, constraints: Path | None = None, auth_config: Path | None = None, server: str | None = None
) -> list[Check]:
    pinned = check_pins(constraints or REPO / "constraints.txt")
    checks = [check_python(), *pinned, check_engine(), check_torch(), check_disk(results)]
    checks += [c for c in check_snakemake() if c.name != "snakemake"]  # the pin check covers snakemake
    checks.append(check_auth(auth_config, server))
    return checks


def as_dicts(checks: list[Check]) -> list[dict]:
    return [asdict(c) for c in checks]


def table(checks: list[Check]) -> str:
    mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    width = max(len(c.name) for c in checks)
    lines = [f"{mark[c.status]}  {c.name.ljust(width)}  {c.detail}" for c in checks]
    fixes = [f"  {c.name}: {c.fix}" for c in checks if c.status != "ok" and c.fix]
    if fixes:
        lines += ["", "to fix:", *fixes]
    return "\n".join(lines)


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == "fail" and c.required]

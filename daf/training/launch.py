"""Launching data-parallel training with torchrun, on one node or across a SLURM allocation.

`daf train --nproc-per-node N [--nnodes M]` re-executes itself under torchrun; each rank
then runs the same `daf train` command with WORLD_SIZE set (so it does not launch again).

- One node: `torchrun --standalone --nproc_per_node N`.
- Several nodes: must run inside a SLURM allocation of M nodes. `srun` starts one torchrun
  per node; they rendezvous (c10d) at the allocation's first host, read from
  SLURM_JOB_NODELIST with `scontrol show hostnames`; the job id names the rendezvous.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from daf.errors import UserError

DEFAULT_PORT = 29500


def torchrun_executable() -> str:
    beside = Path(sys.executable).parent / "torchrun"
    return str(beside) if beside.exists() else "torchrun"


def first_host(nodelist: str) -> str:
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise UserError(f"cannot expand SLURM_JOB_NODELIST '{nodelist}' with scontrol: {exc}") from None
    hosts = out.stdout.split()
    if not hosts:
        raise UserError(f"SLURM_JOB_NODELIST '{nodelist}' names no host")
    return hosts[0]


def torchrun_command(nproc_per_node: int, nnodes: int, env: dict | None = None) -> list[str]:
    env = dict(os.environ if env is None else env)
    if nproc_per_node < 1 or nnodes < 1:
        raise UserError(f"--nproc-per-node and --nnodes must be at least 1 (got {nproc_per_node}, {nnodes})")
    torchrun = torchrun_executable()
    if nnodes == 1:
        return [torchrun, "--standalone", f"--nproc_per_node={nproc_per_node}"]
    nodelist, job = env.get("SLURM_JOB_NODELIST"), env.get("SLURM_JOB_ID")
    if not nodelist or not job:
        raise UserError(
            f"--nnodes {nnodes} needs a SLURM allocation (SLURM_JOB_NODELIST and SLURM_JOB_ID are not set); "
            "run inside `salloc`/`sbatch`, or start torchrun on each node yourself"
        )
    allocated = int(env.get("SLURM_JOB_NUM_NODES", env.get("SLURM_NNODES", nnodes)))
    if allocated < nnodes:
        raise UserError(f"--nnodes {nnodes} but the SLURM allocation has {allocated} node(s)")
    port = int(env.get("DAF_MASTER_PORT", DEFAULT_PORT))
    return [
        "srun", f"--nodes={nnodes}", "--ntasks-per-node=1", "--kill-on-bad-exit=1",
        torchrun, f"--nnodes={nnodes}", f"--nproc_per_node={nproc_per_node}",
        "--rdzv_backend=c10d", f"--rdzv_id=daf-{job}", f"--rdzv_endpoint={first_host(nodelist)}:{port}",
    ]  # fmt: skip


def default_workers(ranks: int) -> int:
    """One env worker per core this process may use beyond the training process itself
    (the cores Snakemake/SLURM gave the job, shared by the ranks); 0 on a single core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, cores // max(1, ranks) - 1)

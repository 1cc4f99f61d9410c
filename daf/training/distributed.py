"""Data-parallel training under torchrun: the device, the process group, and the collective
steps PPO needs (start every rank from rank 0's weights, sum counts, average gradients, and
check after each update that every rank holds the same parameters). A plain process is a
world of one, where each step is a no-op."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
from torch import nn

from daf.errors import UserError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine (use cpu or auto)")
    if name != "cpu" and not name.startswith("cuda"):
        raise UserError(f"--device '{name}' is not one of auto, cpu, cuda[:N]")
    return torch.device(name)


@dataclass
class Dist:
    """torch.distributed context (a single process when not launched by torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")  # where collectives' tensors live (NCCL: this rank's GPU)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls, device: torch.device) -> Dist:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        import torch.distributed as dist

        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)  # NCCL's object collectives use the current device
        backend = "nccl" if device.type == "cuda" else "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend=backend)
        return cls(dist.get_rank(), dist.get_world_size(), local_rank, device)


def setup(device_name: str) -> tuple[torch.device, Dist]:
    """The device and, under torchrun, the process group (one GPU per local rank)."""
    device = resolve_device(device_name)
    dist_ctx = Dist.from_env(device)
    if dist_ctx.enabled:
        device = dist_ctx.device  # one GPU per local rank (or the CPU)
    return device, dist_ctx


def teardown(dist_ctx: Dist) -> None:
    if dist_ctx.enabled:  # rank 0 may still be writing the outputs
        import torch.distributed as tdist

        tdist.barrier()
        tdist.destroy_process_group()


def broadcast_parameters(net: nn.Module, dist_ctx: Dist) -> None:
    if dist_ctx.enabled:
        import torch.distributed as tdist

        for p in net.parameters():
            tdist.broadcast(p.data, src=0)


def sum_over_ranks(value: int, dist_ctx: Dist) -> int:
    if not dist_ctx.enabled:
        return value
    import torch.distributed as tdist

    total = torch.tensor([value], dtype=torch.long, device=dist_ctx.device)  # NCCL reduces GPU tensors only
    tdist.all_reduce(total)
    return int(total.item())


def all_reduce_grads(net: nn.Module, world_size: int) -> None:
    import torch.distributed as tdist

    grads = [p.grad for p in net.parameters() if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    tdist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def check_in_sync(net: nn.Module, dist_ctx: Dist) -> str:
    """sha256 of the parameters; under torchrun every rank must agree, else we stop."""
    digest = hashlib.sha256()
    for p in net.parameters():
        digest.update(p.detach().cpu().contiguous().numpy().tobytes())
    checksum = digest.hexdigest()[:16]
    if dist_ctx.enabled:
        import torch.distributed as tdist

        gathered: list[str | None] = [None] * dist_ctx.world_size
        tdist.all_gather_object(gathered, checksum)
        if len(set(gathered)) != 1:
            raise RuntimeError(f"ranks hold different parameters after an update: {gathered}")
    return checksum

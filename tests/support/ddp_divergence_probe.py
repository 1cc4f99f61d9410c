"""Run under torchrun with 2 ranks: perturb rank 1's weights, expect the sync check to fire."""

import torch
import torch.distributed as dist

from daf.training.distributed import Dist, check_in_sync

ctx = Dist.from_env(torch.device("cpu"))
net = torch.nn.Linear(3, 2)
torch.manual_seed(0)
for p in net.parameters():
    torch.nn.init.constant_(p, 1.0)
check_in_sync(net, ctx)  # identical: passes
if ctx.rank == 1:
    with torch.no_grad():
        net.weight[0, 0] += 1e-6
try:
    check_in_sync(net, ctx)
except RuntimeError as exc:
    if ctx.rank == 0:
        print("caught:", str(exc).split(":")[0])
dist.destroy_process_group()

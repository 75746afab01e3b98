"""One process or many, under `torchrun` or `srun`: who am I, which device, and summing metrics.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK and the rendezvous (MASTER_ADDR/PORT).
srun without torchrun sets SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID; the
rendezvous then comes from `env.rendezvous()` (the job's first node and a port
from the job id, unless MASTER_ADDR / MASTER_PORT are set).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..env import rendezvous, world_info
from ..model.runtime import allow_tf32, resolve_device


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistContext:
    """This process's device (`auto`: its GPU when CUDA is available) and, with more than
    one process, the process group: nccl on CUDA, gloo on CPU."""
    info = world_info()
    world_size, rank, local_rank = info.world_size, info.rank, info.local_rank
    dev = resolve_device(device, local_rank=local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    allow_tf32(dev)
    if world_size > 1 and not dist.is_initialized():
        where = {}
        if info.launcher == "slurm":  # no torchrun: say where to meet and who is who
            address, port = rendezvous()
            where = dict(init_method=f"tcp://{address}:{port}", rank=rank, world_size=world_size)
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo",
                                device_id=dev if dev.type == "cuda" else None, **where)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def shutdown_distributed(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def all_reduce_sum(ctx: DistContext, values: list[float]) -> list[float]:
    """Sum a few scalars over ranks (float64 so counts stay exact)."""
    if not ctx.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()

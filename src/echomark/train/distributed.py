"""Process-group setup for torchrun DDP (gloo on CPU, nccl on CUDA) and small collectives."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job.

    Attributes:
        rank: Global rank (0 writes files).
        local_rank: Rank on this node (selects the CUDA device).
        world_size: Number of processes; 1 means no process group.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        """True when running under DDP."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the process that writes files and prints."""
        return self.rank == 0


def dist_from_env(env: dict[str, str] | None = None) -> DistInfo:
    """Read ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` as set by torchrun.

    >>> dist_from_env({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"})
    DistInfo(rank=1, local_rank=1, world_size=2)
    >>> dist_from_env({})
    DistInfo(rank=0, local_rank=0, world_size=1)
    """
    e = os.environ if env is None else env
    world = int(e.get("WORLD_SIZE", "1"))
    rank = int(e.get("RANK", "0"))
    local = int(e.get("LOCAL_RANK", str(rank)))
    return DistInfo(rank, local, world)


def init_distributed(info: DistInfo, device: torch.device) -> None:
    """Join the process group (no-op for a single process or when already joined).

    Rendezvous uses the ``MASTER_ADDR``/``MASTER_PORT`` (``env://``) that torchrun sets;
    bind them to 127.0.0.1 for single-host runs.
    """
    if not info.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)


def cleanup_distributed(info: DistInfo) -> None:
    """Leave the process group if this run created one."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: list[float], device: torch.device, info: DistInfo) -> list[float]:
    """Element-wise sum of ``values`` over all processes (identity for one process)."""
    if not info.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [float(v) for v in t.tolist()]


def all_gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every process's ``obj``, in rank order (``[obj]`` for one process)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    """Wait for every process."""
    if info.enabled:
        dist.barrier()


def average_buffers(model: torch.nn.Module, info: DistInfo) -> None:
    """Average floating-point buffers (BatchNorm running statistics) over processes.

    Without SyncBatchNorm each process updates its running statistics from its own batches;
    averaging them at epoch end makes evaluation and the saved weights identical on every
    rank (and a better estimate than rank 0's alone).
    """
    if not info.enabled:
        return
    for buf in model.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            buf.div_(info.world_size)
        else:
            dist.broadcast(buf, src=0)

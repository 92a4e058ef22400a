"""Several processes, one model: DistributedDataParallel under ``torchrun``.

``torchrun --nproc_per_node=N -m capslib.train ...`` starts N processes and
sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` for each.  Every process
draws the same epoch plan (:func:`capslib.data.device.epoch_plan`, a function
of the seed and the epoch), takes its own share of each global batch, and
DistributedDataParallel averages the gradients, so N processes with global
batch B take the same steps as one process with batch B (up to float
rounding).  The backend is NCCL between GPUs and gloo on CPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: ``rank`` of ``world_size``, its device and the backend (or ``None``)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process (rank 0) prints, writes metrics, checkpoints and the summary."""
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when the environment says this process is one of several (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup_distributed(device: torch.device | str | None = None) -> DistributedContext:
    """Join the process group when launched by ``torchrun``; otherwise a single-process context.

    ``device``: ``"cpu"`` forces gloo on CPUs; by default each process takes
    the GPU ``cuda:LOCAL_RANK`` (NCCL) when there are GPUs, else the CPU (gloo).
    """
    wanted = torch.device(device) if device is not None else None
    if not launched_by_torchrun():
        chosen = wanted or torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return DistributedContext(device=chosen)
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    use_cuda = torch.cuda.is_available() and (wanted is None or wanted.type == "cuda")
    if use_cuda:
        if torch.cuda.device_count() <= local_rank:
            raise RuntimeError(
                f"torchrun started local rank {local_rank} but only {torch.cuda.device_count()} "
                "GPU(s) are visible: use --nproc_per_node <= the number of GPUs"
            )
        torch.cuda.set_device(local_rank)
        chosen, backend = torch.device("cuda", local_rank), "nccl"
    else:
        chosen, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistributedContext(rank, world_size, local_rank, chosen, backend)


def all_reduce_sum(tensor: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Sum ``tensor`` over all processes (in place; a no-op for one process)."""
    if context.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_from_main(value, context: DistributedContext):
    """Rank 0's ``value`` (any picklable object) on every process; ``value`` itself for one process.

    Used for what must be the same on every rank but is drawn at random, such as the run id.
    """
    if not context.enabled:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        dist.barrier()


def cleanup_distributed(context: DistributedContext) -> None:
    """Leave the process group (end of training)."""
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()

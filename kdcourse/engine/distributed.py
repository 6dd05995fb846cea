"""Scale-out on torch.distributed: one process per device under ``torchrun``, nothing changes in one.

Under ``torchrun --nproc_per_node=N`` every rank runs the same :func:`fit`:

* each rank takes its contiguous share of every global batch of the epoch's
  seeded shuffle (the same permutation on every rank), so N ranks see
  exactly the batches one process would;
* the distiller is wrapped in ``DistributedDataParallel``, which averages
  the gradients; a rank's loss is weighted by its share of the global batch,
  so the average is the global batch's mean even when the last batch does
  not split evenly;
* the training sums are all-reduced; every rank evaluates the whole
  validation set, so every rank takes the same selection and stopping
  decisions;
* only rank 0 writes checkpoints, sidecars and logs.

NCCL on CUDA, gloo on the CPU.  A rank that dies makes the others fail at the
next collective (within ``KDCOURSE_DIST_TIMEOUT`` seconds, default 600)
and ``torchrun`` ends the run; launching it again resumes from rank 0's
last checkpoint.
"""
from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist
from torch import nn


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def launched() -> bool:
    """True inside a ``torchrun`` launch of more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init() -> bool:
    """Join the process group torchrun set up (NCCL on CUDA, gloo on the CPU); False in one process."""
    if active():
        return True
    if not launched():
        return False
    timeout = datetime.timedelta(seconds=float(os.environ.get("KDCOURSE_DIST_TIMEOUT", "600")))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=timeout)
    return True


def close() -> None:
    if active():
        dist.destroy_process_group()


def device() -> torch.device:
    """This rank's device: ``cuda:LOCAL_RANK`` when CUDA is present, else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) if active() else 0)


def shard(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """This rank's contiguous share of a global batch (all of it in one process)."""
    if not active():
        return tensors
    return tuple(torch.tensor_split(t, world_size())[rank()] for t in tensors)


def batches(data, batch_size: int, generator: torch.Generator):
    """This rank's part of every global batch of ``batch_size``: ``(index, x, y, share)``.

    In-memory data: the global batch of the epoch's seeded shuffle, cut in ``world_size()``
    contiguous parts (a batch too small to give every rank a sample is skipped); ``share`` is
    this part's size times the world size over the global batch's, 1.0 in one process.
    Streaming data (``data.streaming``): its own DistributedSampler reads only this rank's part.
    """
    world = world_size()
    if getattr(data, "streaming", False):
        local = max(1, batch_size // world)
        for idx, x, y in data.batches(local, shuffle=True, generator=generator, rank=rank(), world=world):
            yield idx, x, y, 1.0
        return
    for idx, x, y in data.batches(batch_size, shuffle=True, generator=generator):
        if len(y) < world:
            continue
        n_global = len(y)
        idx, x, y = shard(idx, x, y)
        yield idx, x, y, len(y) * world / n_global


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """The sum of each value over the ranks (the values themselves in one process)."""
    if not active():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def wrap(module: nn.Module, device: torch.device, sync_bn: bool = False) -> nn.Module:
    """The module to call for training steps: DistributedDataParallel under torchrun, else itself."""
    if not active():
        return module
    if sync_bn:
        module.student = nn.SyncBatchNorm.convert_sync_batchnorm(module.student)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def barrier() -> None:
    if active():
        dist.barrier()

"""Process-group plumbing for training under torchrun: ranks, devices, reductions (gloo or nccl)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from treediff.engine.errors import InputError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank among ``world_size`` processes and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one process: gradients are averaged by DistributedDataParallel."""
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """A torch device for a config string: ``auto`` picks CUDA when available; a bare ``cuda`` under
    torchrun becomes ``cuda:LOCAL_RANK``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"device {name!r} is not a torch device; expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {name!r} was asked for but this torch build sees no CUDA GPU; expected "
                             "--device cpu (or auto)")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


def env_ranks() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` as torchrun sets them (``(0, 1, 0)`` when not launched by it);
    InputError when one is not an integer."""
    values: dict[str, int] = {}
    for name, default in (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", None)):
        text = os.environ.get(name, default if default is not None else str(values.get("RANK", 0)))
        try:
            values[name] = int(text)
        except ValueError:
            raise InputError(f"environment variable {name}={text!r} is not an integer; expected the value "
                             "torchrun sets (or unset it)") from None
    return values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"]


def setup(device: str = "auto") -> DistContext:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK), or run alone.

    The backend is nccl for CUDA devices and gloo otherwise.
    """
    rank, world, local = env_ranks()
    dev = resolve_device(device, local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world)
    return DistContext(rank, world, local, dev)


def teardown(ctx: DistContext) -> None:
    """Leave the process group if this process joined one."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op alone)."""
    if ctx.distributed:
        dist.barrier()


def mean_over_ranks(ctx: DistContext, values: dict[str, float]) -> dict[str, float]:
    """Average scalar metrics over ranks (one all-reduce; identity alone)."""
    if not ctx.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    reduced = dict(zip(keys, t.tolist()))
    return {k: float(reduced[k]) / ctx.world_size for k in values}

"""The one place that asks the process group: this process's rank, the world size, and gathering."""

from __future__ import annotations

import os
from typing import Any

import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size) of the running process group, (0, 1) outside one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def env_rank() -> int:
    """This process's global rank as the launcher set it, before any group exists (torchrun: RANK;
    Lightning's children: LOCAL_RANK on one machine); 0 for the process that starts a run."""
    return int(os.environ.get("RANK") or os.environ.get("LOCAL_RANK") or 0)


def gather(obj: Any) -> list[Any]:
    """``obj`` from every rank, in rank order (``[obj]`` outside a process group)."""
    size = world()[1]
    if size == 1:
        return [obj]
    parts: list[Any] = [None] * size
    dist.all_gather_object(parts, obj)
    return parts

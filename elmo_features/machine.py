"""What a result depends on besides the seed: the CPU and its vector instructions, the torch build and
the threads. The same seed gives the same numbers only on the same machine and library build: torch
picks other kernels (AVX2, AVX-512, AMX) on another CPU, and they round differently."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

# the instruction sets that change which kernels torch and oneDNN run
FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def _cpuinfo() -> tuple[str, list[str]]:
    """(model name, the :data:`FLAGS` it has) from /proc/cpuinfo; ("", []) where there is none."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "", []
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    return fields.get("model name", ""), [f for f in FLAGS if f in flags]


def usable_cpus() -> int:
    """The cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform
        return 0.0


def free_cpus() -> int:
    """The usable cores not already busy: the affinity mask minus the 1-minute load average (at least 1)."""
    return max(1, min(usable_cpus(), round(usable_cpus() - _load())))


def thread_warning() -> str | None:
    """A line when torch will run more threads than there are free cores. Then PyTorch's OpenMP threads
    spin waiting for each other: one busy core made the quickstart 3.4x slower with 2 threads on 2 cores.
    Only a warning: the thread count is not changed behind the user's back, because results may differ
    in the last bits with another thread count."""
    threads, free = torch.get_num_threads(), free_cpus()
    if threads <= free:
        return None
    return (
        f"{threads} threads but only {free} of {usable_cpus()} cores look free (load average {_load():.1f}); "
        f"--threads {free} (or OMP_NUM_THREADS={free}) avoids threads waiting on busy cores"
    )


def machine() -> dict[str, Any]:
    """The CPU (model, vector flags, the kernel level torch dispatches to), threads, torch and Python."""
    model, flags = _cpuinfo()
    return {
        "cpu": model or platform.processor() or platform.machine(),
        "cpu_flags": flags,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "cpus": usable_cpus(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }

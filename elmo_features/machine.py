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

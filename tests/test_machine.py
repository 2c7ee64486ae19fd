"""What every result records about the machine, and how many threads a command takes."""

from __future__ import annotations

import os

import pytest
import torch

import tasks.cli as cli
from elmo_features.machine import FLAGS, free_cpus, machine, thread_warning


def test_machine_names_the_cpu_its_vector_flags_and_the_kernel_level():
    info = machine()
    assert set(info["cpu_flags"]) <= set(FLAGS) and info["cpu"]
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert info["threads"] == torch.get_num_threads() and info["torch"] == torch.__version__


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    return lambda load: monkeypatch.setattr(os, "getloadavg", lambda: (load, 0.0, 0.0))


@pytest.mark.parametrize(("load", "free"), [(0.0, 4), (1.2, 3), (3.6, 1), (9.0, 1)])
def test_free_cpus_leaves_the_busy_cores(four_cores, load, free):
    four_cores(load)
    assert free_cpus() == free


def test_threads_flag_and_the_busy_machine_warning(four_cores, capsys):
    before = torch.get_num_threads()
    try:
        four_cores(2.0)
        torch.set_num_threads(2)
        assert thread_warning() is None
        assert cli.main(["--threads", "4", "embed", "missing.txt", "out.hdf5"]) == 2
        assert torch.get_num_threads() == 4
        err = capsys.readouterr().err
        assert "warning: 4 threads but only 2 of 4 cores look free (load average 2.0); --threads 2" in err
        assert cli.main(["--threads", "0", "squad-eval", "a", "b"]) == 2
        assert "--threads must be at least 1" in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)

"""Shared test helpers: a hermetic folder for every test, where ../shared/fixtures is, and a tiny biLM written in
the official layout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from elmo_features.options import BiLMOptions
from elmo_features.weights import random_weights, write_weights

TINY_OPTIONS = {
    "char_cnn": {
        "activation": "relu",
        "embedding": {"dim": 4},
        "filters": [[1, 4], [2, 8], [3, 8]],
        "n_highway": 1,
        "n_characters": 262,
        "max_characters_per_token": 50,
    },
    "lstm": {
        "cell_clip": 3,
        "proj_clip": 3,
        "dim": 16,
        "projection_dim": 8,
        "n_layers": 2,
        "use_skip_connections": True,
    },
}


@pytest.fixture(autouse=True)
def hermetic(tmp_path_factory, monkeypatch):
    """Every test runs in its own empty folder with ``DATA_DIR`` pointing at an empty folder, never at
    ``../shared/data``, sees an idle machine (no busy-core warning), and leaves torch's global seed and
    determinism switch as it found them."""
    import tasks.common.data as data

    home = tmp_path_factory.mktemp("cwd")
    (home / "data").mkdir()
    monkeypatch.chdir(home)
    monkeypatch.setenv("DATA_DIR", str(home / "data"))
    monkeypatch.setattr(data, "SHARED_DATA", home / "no-shared-data")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # an idle machine: the busy-core warning of long commands would add a line to stderr on a loaded one
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0), raising=False)
    deterministic = torch.are_deterministic_algorithms_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    with torch.random.fork_rng():
        yield
    torch.use_deterministic_algorithms(deterministic)
    torch.utils.deterministic.fill_uninitialized_memory = fill


def shared_dir() -> Path | None:
    path = Path(os.environ.get("ELMO_SHARED") or Path(__file__).resolve().parents[2] / "shared")
    return path if path.is_dir() else None


@pytest.fixture
def fixtures_dir() -> Path:
    shared = shared_dir()
    if shared is None or not (shared / "fixtures").is_dir():
        pytest.skip("reference fixtures need ../shared/fixtures beside the repo (or ELMO_SHARED); not present")
    return shared / "fixtures"


@pytest.fixture
def tiny_files(tmp_path: Path) -> tuple[Path, Path]:
    """(options.json, weights.hdf5) of a tiny random biLM in the official layout."""
    options_file, weight_file = tmp_path / "tiny_options.json", tmp_path / "tiny_weights.hdf5"
    options_file.write_text(json.dumps(TINY_OPTIONS))
    write_weights(weight_file, random_weights(BiLMOptions.from_dict(TINY_OPTIONS), seed=1))
    return options_file, weight_file


@pytest.fixture
def deny(monkeypatch):
    """``deny(path)``: opening ``path``, or anything under it, raises PermissionError from then on, as
    a file or folder without permission does for a user who is not root (tests may run as root, where
    ``chmod 000`` stops nothing). Covers ``open``, ``Path.open`` / ``read_text`` / ``write_text``."""
    import builtins
    import io

    real_open = io.open
    denied: list[Path] = []

    def guarded(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            path = Path(file).absolute()
            if any(path == d or d in path.parents for d in denied):
                raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    monkeypatch.setattr(io, "open", guarded)
    return lambda path: denied.append(Path(path).absolute())

"""Where benchmark data lives: ``$DATA_DIR``, else ``../shared/data`` beside the repository."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path | None:
    """``../shared/data`` beside the repository, when that folder exists."""
    path = Path(__file__).resolve().parents[3] / "shared" / "data"
    return path if path.is_dir() else None


def data_dir() -> Path | None:
    """``$DATA_DIR``, else :func:`default_data_dir`."""
    if os.environ.get("DATA_DIR"):
        return Path(os.environ["DATA_DIR"]).expanduser()
    return default_data_dir()

"""Where benchmark data lives: ``$DATA_DIR``, else ``../shared/data`` beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

from elmo_features.errors import ElmoError

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared/data beside the repository


def default_data_dir() -> Path | None:
    """:data:`SHARED_DATA`, when that folder exists."""
    return SHARED_DATA if SHARED_DATA.is_dir() else None


def data_dir() -> Path | None:
    """``$DATA_DIR``, else :func:`default_data_dir`."""
    if os.environ.get("DATA_DIR"):
        return Path(os.environ["DATA_DIR"]).expanduser()
    return default_data_dir()


VALIDATION_NAMES = ("validation", "valid", "dev")  # one split, three spellings


def split_file(source: str | os.PathLike, split: str, extensions: tuple[str, ...]) -> Path | None:
    """``source`` if it is a file, else ``<split><ext>`` in the folder ``source``; relative names are
    also looked up under :func:`data_dir`. None when neither exists (the caller may try the hub)."""
    candidates = [Path(source).expanduser()]
    root = data_dir()
    if root is not None and not candidates[0].is_absolute():
        candidates.append(root / candidates[0])
    aliases = [n for n in VALIDATION_NAMES if n != split] if split in VALIDATION_NAMES else []
    for path in candidates:
        if path.is_file():
            return path
        if path.is_dir():
            names = [f"{name}{ext}" for name in (split, *aliases) for ext in extensions]
            for name in names:
                if (path / name).is_file():
                    return path / name
            raise ElmoError(f"{path}: no file for split {split!r} (looked for {', '.join(names)})")
    return None


def looks_like_path(source: str | os.PathLike, suffixes: set[str]) -> bool:
    """Whether a source that was not found is meant as a file (so it is not tried on the hub)."""
    name = str(source)
    return isinstance(source, os.PathLike) or name.startswith((".", "/", "~")) or Path(name).suffix in suffixes


def load_hub_split(name: str, split: str, local_hint: str):
    """A split of a hub dataset, never running remote code; any failure is one line."""
    import datasets

    try:
        return datasets.load_dataset(name, split=split)  # no trust_remote_code: hub code never runs here
    except Exception as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ElmoError(
            f"cannot load {name!r} split {split!r} from the Hugging Face hub ({reason}); {local_hint}"
        ) from None

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


HUB_PREFIX = "hub:"  # a data source named hub:NAME is the Hugging Face dataset NAME; nothing else goes there


def hub_name(source: str | os.PathLike) -> str | None:
    """NAME of a ``hub:NAME`` source, else None (the source is a local file or folder)."""
    name = str(source)
    if isinstance(source, os.PathLike) or not name.startswith(HUB_PREFIX):
        return None
    if not name[len(HUB_PREFIX) :].strip():
        raise ElmoError(f"{name!r}: no dataset name after {HUB_PREFIX!r}")
    return name[len(HUB_PREFIX) :].strip()


def split_file(source: str | os.PathLike, split: str, extensions: tuple[str, ...], kind: str) -> Path:
    """``source`` if it is a file, else ``<split><ext>`` in the folder ``source``; relative names are
    also looked up under :func:`data_dir`. A missing one is a one-line error naming ``kind`` ("CoNLL")."""
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
    raise ElmoError(
        f"{kind} file not found: {source} (relative names are also looked up under DATA_DIR; "
        f"a Hugging Face dataset is named {HUB_PREFIX}NAME)"
    )


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

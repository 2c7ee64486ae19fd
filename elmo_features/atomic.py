"""Files that appear whole or not at all: write beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from elmo_features.errors import ElmoError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path in ``path``'s folder to write to; renamed onto ``path`` when the block ends
    normally, deleted on any exception (Ctrl-C included). The file gets the mode the umask gives
    (the writer creates it), and a failing write is one :class:`ElmoError` line."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        if isinstance(err, FileNotFoundError) and not path.parent.is_dir():
            raise ElmoError(f"cannot write {path}: the folder {path.parent} does not exist") from None
        raise ElmoError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _probe(folder: Path, target: Path) -> None:
    """Create and delete a file in ``folder``: the one check that tells what writing will do."""
    probe = folder / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.probe"
    try:
        with open(probe, "xb"):
            pass
    except OSError as err:
        raise ElmoError(f"cannot write {target}: {err.strerror or err} in {folder}") from None
    probe.unlink(missing_ok=True)


def check_output(path: str | Path) -> None:
    """Fail before long work when the file ``path`` cannot be written (a folder there, no folder
    for it, a folder that refuses writes)."""
    path = Path(path)
    if path.is_dir():
        raise ElmoError(f"cannot write {path}: it is a folder (give a file name)")
    if not path.parent.is_dir():
        raise ElmoError(f"cannot write {path}: the folder {path.parent} does not exist")
    _probe(path.parent, path)


def check_output_folder(path: str | Path) -> None:
    """Fail before long work when the folder ``path`` can neither be used nor created: a file in its
    place or above it, or a first existing ancestor that refuses writes."""
    path = Path(path).absolute()
    if path.exists() and not path.is_dir():
        raise ElmoError(f"cannot use {path} as a folder: it is a file")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ElmoError(f"cannot create the folder {path}: {existing} is a file")
    _probe(existing, path)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through (checked first with :func:`check_output`, then
    written through :func:`atomic_path`)."""
    check_output(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        yield out


def write_csv_atomic(path: str | Path, rows: Sequence[dict[str, Any]], fields: Sequence[str] | None = None) -> None:
    """``rows`` as CSV with a header (``fields``, default every key in first-seen order), through
    :func:`atomic_path`; no rows and no fields: an empty file."""
    fields = list(fields) if fields is not None else list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    if fields:
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())

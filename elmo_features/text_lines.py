"""Numbered lines of UTF-8 text files, decoded one way (BOM dropped), with one-line ``file:line`` errors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from elmo_features.errors import ElmoError

BOM = "\ufeff"


def decode_line(raw: bytes, name: str, number: int) -> str:
    """The one way every text input is decoded: UTF-8, line ending stripped, a leading U+FEFF dropped
    (a file's BOM, or one left inside by concatenated files); bad bytes are a ``file:line`` error."""
    try:
        return raw.decode("utf-8").rstrip("\r\n").removeprefix(BOM)
    except UnicodeDecodeError as err:
        raise ElmoError(f"{name}:{number}: not valid UTF-8 (byte 0x{raw[err.start]:02x})") from None


def decode_lines(stream: Iterable[bytes], name: str) -> Iterator[tuple[int, str]]:
    """(1-based number, :func:`decode_line`) of each line of a byte stream."""
    for number, raw in enumerate(stream, start=1):
        yield number, decode_line(raw, name, number)


def file_lines(path: str | Path, kind: str) -> Iterator[tuple[int, str]]:
    """:func:`decode_lines` of a file, streamed; ``kind`` names the file in errors ("CoNLL", "data")."""
    try:
        with Path(path).open("rb") as handle:
            yield from decode_lines(handle, str(path))
    except FileNotFoundError:
        raise ElmoError(f"{kind} file not found: {path}") from None
    except IsADirectoryError:
        raise ElmoError(f"{path} is a directory, not a {kind} file") from None

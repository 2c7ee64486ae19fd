"""Numbered lines of UTF-8 text files, with one-line ``file:line`` errors for bad bytes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from elmo_features.errors import ElmoError


def decode_lines(stream: Iterable[bytes], name: str) -> Iterator[tuple[int, str]]:
    """(1-based number, text without the line ending) of each line; a BOM on line 1 is dropped."""
    for number, raw in enumerate(stream, start=1):
        try:
            yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
        except UnicodeDecodeError as err:
            raise ElmoError(f"{name}:{number}: not valid UTF-8 (byte 0x{raw[err.start]:02x})") from None


def file_lines(path: str | Path, kind: str) -> Iterator[tuple[int, str]]:
    """:func:`decode_lines` of a file, streamed; ``kind`` names the file in errors ("CoNLL", "data")."""
    try:
        with Path(path).open("rb") as handle:
            yield from decode_lines(handle, str(path))
    except FileNotFoundError:
        raise ElmoError(f"{kind} file not found: {path}") from None
    except IsADirectoryError:
        raise ElmoError(f"{path} is a directory, not a {kind} file") from None

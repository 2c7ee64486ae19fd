"""Entity tag schemes: IOB1 / IOB2 / BIOUL in, BIOUL inside, spans out.

A tag is ``O`` or ``PREFIX-TYPE``. Chunks are read by conlleval's rules, as seqeval's
default (conlleval-compatible) mode generalises them, so invalid sequences are repaired
the way the official scorer repairs them:

- a chunk starts at ``B`` or ``U``, and at an ``I`` or ``L`` that does not continue an
  open chunk of the same type (``I-X`` after ``O``, after ``I-Y`` or after ``L-X``);
- a chunk ends before ``O``, ``B``, ``U`` or a change of type, and after ``L`` or ``U``.

IOB1 (CoNLL-2003's original: ``I-`` starts a chunk unless it continues one of the same
type, ``B-`` only between two adjacent chunks of the same type) and IOB2 (every chunk
starts with ``B-``) are read by the same rules, as conlleval reads both; the scheme only
decides which prefixes are allowed (``B``, ``I``; BIOUL adds ``L``, ``U`` and accepts
BIOES's ``E``, ``S`` for them). Spans are ``(type, start, end)``, ``end`` exclusive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Scheme = Literal["IOB1", "IOB2", "BIOUL"]
Span = tuple[str, int, int]

SCHEMES: tuple[str, ...] = ("IOB1", "IOB2", "BIOUL")
_PREFIXES = {"IOB1": "BI", "IOB2": "BI", "BIOUL": "BILUES"}
_ALIASES = {"E": "L", "S": "U"}


def check_scheme(scheme: str) -> None:
    """Raise ValueError unless ``scheme`` is one of :data:`SCHEMES`."""
    if scheme not in _PREFIXES:
        raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")


def is_valid(tag: str, scheme: Scheme) -> bool:
    """Whether ``tag`` is ``O`` or ``PREFIX-TYPE`` with a prefix the scheme allows."""
    check_scheme(scheme)
    prefix, dash, type_ = tag.partition("-")
    return tag == "O" or (len(prefix) == 1 and prefix in _PREFIXES[scheme] and bool(dash) and bool(type_))


def _decode(tags: Sequence[str], scheme: Scheme) -> list[Span]:
    chunks: list[Span] = []
    open_type: str | None = None
    start = 0
    for i, tag in enumerate(tags):
        if not is_valid(tag, scheme):
            raise ValueError(f"unknown {scheme} tag {tag!r}")
        prefix, _, type_ = tag.partition("-")
        prefix = _ALIASES.get(prefix, prefix)
        if open_type is not None and (prefix in "OBU" or type_ != open_type):
            chunks.append((open_type, start, i))
            open_type = None
        if prefix != "O" and open_type is None:
            open_type, start = type_, i
        if prefix in "LU":
            chunks.append((type_, start, i + 1))
            open_type = None
    if open_type is not None:
        chunks.append((open_type, start, len(tags)))
    return chunks


def spans(tags_bioul: Sequence[str]) -> list[Span]:
    """Chunks ``(type, start, end)`` (end exclusive) of a BIOUL sequence, repaired as conlleval does."""
    return _decode(tags_bioul, "BIOUL")


def from_spans(chunks: Sequence[Span], length: int, scheme: Scheme = "BIOUL") -> list[str]:
    """Tags of ``length`` tokens holding the non-overlapping ``chunks``, written in ``scheme``."""
    check_scheme(scheme)
    tags = ["O"] * length
    previous: Span | None = None
    for chunk in sorted(chunks, key=lambda c: c[1]):
        type_, start, end = chunk
        if not 0 <= start < end <= length or (previous is not None and start < previous[2]):
            raise ValueError(f"chunk {chunk} is empty, outside {length} tokens or overlaps {previous}")
        tags[start:end] = [f"I-{type_}"] * (end - start)
        adjacent = previous is not None and previous[0] == type_ and previous[2] == start
        if scheme == "IOB2" or (scheme == "IOB1" and adjacent):
            tags[start] = f"B-{type_}"
        elif scheme == "BIOUL":
            if end - start == 1:
                tags[start] = f"U-{type_}"
            else:
                tags[start], tags[end - 1] = f"B-{type_}", f"L-{type_}"
        previous = chunk
    return tags


def to_bioul(tags: Sequence[str], scheme: Scheme) -> list[str]:
    """BIOUL tags of a sequence written in ``scheme`` (invalid sequences repaired as conlleval does)."""
    return from_spans(_decode(tags, scheme), len(tags), "BIOUL")


def bioul_to_iob2(tags: Sequence[str]) -> list[str]:
    """IOB2 tags with the same chunks as a BIOUL sequence (invalid ones repaired as conlleval does)."""
    return from_spans(spans(tags), len(tags), "IOB2")


def entity_type(tag: str) -> str:
    """The entity type of a tag in any scheme (``B-PER`` -> ``PER``), ``O`` for ``O``."""
    return tag.partition("-")[2] or "O"

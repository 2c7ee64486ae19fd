"""CoNLL column files (and hub datasets) as ``datasets.Dataset``s with BIOUL tags.

One token per line. Columns are split on any whitespace (``separator=None``: CoNLL-2003's
``token POS chunk NER``) or on a given string (``"\\t"`` for WNUT-style ``token<TAB>tag``).
Blank lines end sentences; ``-DOCSTART-`` lines are skipped (they end a sentence too).
Rows: ``tokens``, ``tags`` (BIOUL, see :mod:`tasks.ner.tags`) and ``line``, the 1-based
line where the sentence starts (for hub data, the 1-based row number).
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import datasets

from elmo_features.errors import ElmoError
from elmo_features.text_lines import file_lines
from tasks.common.data import hub_name, load_hub_split, split_file
from tasks.ner.config import parse_separator
from tasks.ner.tags import Scheme, check_scheme, is_valid, to_bioul

FEATURES = datasets.Features(
    {
        "tokens": datasets.Sequence(datasets.Value("string")),
        "tags": datasets.Sequence(datasets.Value("string")),
        "line": datasets.Value("int64"),
    }
)


log = logging.getLogger(__name__)
_PREFIX = re.compile(r"[A-Za-z]{1,8}:(?=.)")  # a language or source code before a token: en:Paris, wiki:Paris


def check_prefixes(tokens: list[list[str]], where: str) -> None:
    """Warn when most tokens of a file share a prefix such as ``en:`` (vectors will not match them)."""
    counts = Counter(m.group() for sentence in tokens for t in sentence if (m := _PREFIX.match(t)))
    total = sum(map(len, tokens))
    if counts and total:
        prefix, count = counts.most_common(1)[0]
        if count > total / 2:
            log.warning(
                "%s: %d of %d tokens start with %r (no word vectors will match them); "
                "set data.strip_prefix: %r to remove it",
                where,
                count,
                total,
                prefix,
                prefix,
            )


def _tag_checker(scheme: Scheme, labels: Sequence[str] | None) -> Callable[[str], str | None]:
    try:
        check_scheme(scheme)
    except ValueError as err:
        raise ElmoError(str(err)) from None
    allowed = None if labels is None else {*labels, "O"}

    def unknown(tag: str) -> str | None:
        if not is_valid(tag, scheme):
            return f"unknown tag {tag!r} ({scheme} tags are O or {'/'.join(_prefixes(scheme))}-TYPE)"
        if allowed is not None and tag not in allowed:
            return f"unknown tag {tag!r} (not in the given labels)"
        return None

    return unknown


def _prefixes(scheme: Scheme) -> tuple[str, ...]:
    return ("B", "I", "L", "U", "E", "S") if scheme == "BIOUL" else ("B", "I")


def _dataset(tokens: list[list[str]], tags: list[list[str]], lines: list[int], where: str) -> datasets.Dataset:
    if not tokens:
        raise ElmoError(f"{where}: no sentences")
    return datasets.Dataset.from_dict({"tokens": tokens, "tags": tags, "line": lines}, features=FEATURES)


def read_conll(
    path: str | os.PathLike,
    token_column: int = 0,
    tag_column: int = -1,
    separator: str | None = None,
    scheme: Scheme = "IOB2",
    labels: Sequence[str] | None = None,
    strip_prefix: str | None = None,
) -> datasets.Dataset:
    """Read a CoNLL column file line by line; tags are checked against ``scheme`` (and ``labels``:
    the tags allowed as written in the file, ``O`` always allowed) and converted to BIOUL.
    ``strip_prefix`` is removed from the tokens that start with it; without it, a prefix most tokens
    share is a warning (:func:`check_prefixes`)."""
    path = Path(path)
    try:
        separator = parse_separator(separator)
    except ValueError as err:
        raise ElmoError(f"{path}: separator {separator!r}: {err}") from None
    unknown = _tag_checker(scheme, labels)
    all_tokens: list[list[str]] = []
    all_tags: list[list[str]] = []
    lines: list[int] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = width = 0

    def end_sentence() -> None:
        if tokens:
            all_tokens.append(tokens.copy())
            all_tags.append(to_bioul(tags, scheme))
            lines.append(start)
            tokens.clear()
            tags.clear()

    for number, line in file_lines(path, "CoNLL"):
        fields = line.split(separator)
        if not line.strip() or fields[0] == "-DOCSTART-":
            end_sentence()
            continue
        if not width:
            width = len(fields)
            for column in (token_column, tag_column):
                if not -width <= column < width:
                    raise ElmoError(f"{path}:{number}: {width} columns, no column {column} in {line!r}")
        elif len(fields) != width:
            raise ElmoError(f"{path}:{number}: {len(fields)} columns, expected {width}, in {line!r}")
        tag = fields[tag_column]
        problem = unknown(tag)
        if problem:
            raise ElmoError(f"{path}:{number}: {problem}")
        if not tokens:
            start = number
        tokens.append(fields[token_column].removeprefix(strip_prefix) if strip_prefix else fields[token_column])
        tags.append(tag)
    end_sentence()
    if not strip_prefix:
        check_prefixes(all_tokens, str(path))
    return _dataset(all_tokens, all_tags, lines, str(path))


def load_split(
    source: str | os.PathLike,
    split: str,
    *,
    scheme: Scheme = "IOB2",
    labels: Sequence[str] | None = None,
    **columns,
) -> datasets.Dataset:
    """One split from a CoNLL file, a folder holding ``<split>.txt`` (also looked up under
    :func:`data_dir`), or a hub dataset ``hub:NAME`` (``tokens`` + ``ner_tags`` columns; never runs
    remote code). ``columns`` (token_column, tag_column, separator, strip_prefix) go to :func:`read_conll`."""
    name = hub_name(source)
    if name is not None:
        return _from_hub(name, split, scheme, labels)
    return read_conll(split_file(source, split, (".txt", ""), "CoNLL"), scheme=scheme, labels=labels, **columns)


def _from_hub(name: str, split: str, scheme: Scheme, labels: Sequence[str] | None) -> datasets.Dataset:
    unknown = _tag_checker(scheme, labels)
    data = load_hub_split(name, split, "pass a local CoNLL file path, or set DATA_DIR to the folder that holds it")
    where = f"{name}[{split}]"
    missing = [column for column in ("tokens", "ner_tags") if column not in data.column_names]
    if missing:
        raise ElmoError(f"{where}: no {' or '.join(map(repr, missing))} column (has {', '.join(data.column_names)})")
    names = getattr(getattr(data.features["ner_tags"], "feature", None), "names", None)
    columns = data.select_columns(["tokens", "ner_tags"]).to_dict()
    all_tags: list[list[str]] = []
    for row, ids in enumerate(columns["ner_tags"], start=1):
        tags = [names[i] for i in ids] if names is not None else [str(t) for t in ids]
        for tag in tags:
            problem = unknown(tag)
            if problem:
                raise ElmoError(f"{where} row {row}: {problem}")
        all_tags.append(to_bioul(tags, scheme))
    return _dataset(columns["tokens"], all_tags, list(range(1, len(all_tags) + 1)), where)

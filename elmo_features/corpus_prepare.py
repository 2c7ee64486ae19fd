"""Raw documents -> tokenised, de-duplicated sentences with a held-out slice: ``elmo-tasks corpus prepare``.

Input: UTF-8 text files (plain, gzip, bz2, xz or a one-file zip, detected from the bytes), one
document per line. Output in ``DIR``: ``train.txt`` and ``heldout.txt`` (one sentence per line,
tokens separated by single spaces) and ``stats.json`` (the counts below), each written through a
temporary file and renamed only when everything succeeded, so an error or Ctrl-C leaves no
half-written file (and earlier files in ``DIR`` untouched).

What happens to each line and sentence (every drop is counted in ``stats.json``, never silent):

- HTML leftovers: tags of a fixed list of formatting elements (``<br />``, ``<p>``, ``<i>``,
  ``<a href=..>``, ...) become a space and entities are decoded (``&amp;`` -> ``&``, ``&#233;`` ->
  ``é``). Other text in angle brackets is kept as written (Reuters' ``<IBM>`` tickers, IMDB's
  ``<sighs>``). Other control characters become spaces.
- Blank lines (after that cleaning) are dropped as ``blank``; a document all of whose sentences are
  dropped (below) is counted as ``no_usable_sentence``.
- Each document is tokenised and split into sentences by :mod:`elmo_features.tokenizer`.
- Lines that are not text: a sentence without a word, or in which fewer than half of the tokens
  holding a letter or digit hold a letter (tables of figures, ``---`` rules, ``7/10``, list numbers
  such as ``1 .``), is dropped as ``not_text``. Punctuation does not count: ``Very bad ! ! !`` is text.
- Very long sentences: over ``max_tokens`` tokens (default 200, ``pretrain``'s limit; usually
  a document without sentence punctuation), dropped as ``too_long``, not cut.
- Duplicates: a sentence whose tokens equal an earlier one's (anywhere in either slice) is
  dropped as ``duplicate``; the held-out slice therefore shares no sentence with train.
- Held-out slice: a document goes there when a hash of its text falls below ``heldout``
  (default 1%), so the split is deterministic and independent of file order.
- Order: documents are written in a random order fixed by ``seed`` (a document's sentences stay
  together), so the sources given one after another come out mixed. ``pretrain`` shuffles only
  within a buffer of sentences: a corpus written source after source would give it one source at a
  time (the IMDB-first pass of the en-mini-17m run). ``seed=None`` keeps file order.

Bad input stops with one line (:class:`ElmoError`) and writes nothing: a missing, binary
(NUL byte) or non-UTF-8 file, a truncated or damaged archive, no usable sentence, an empty
train or held-out slice. All input is read once before tokenising, so these fail fast.
"""

from __future__ import annotations

import hashlib
import html
import json
import random
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from elmo_features.atomic import atomic_open
from elmo_features.errors import ElmoError
from elmo_features.progress import Progress
from elmo_features.static import _Source
from elmo_features.text_lines import decode_lines
from elmo_features.tokenizer import split_sentences

TRAIN, HELDOUT, STATS = "train.txt", "heldout.txt", "stats.json"
_TAGS = (
    "a|abbr|b|big|blockquote|br|center|code|div|em|font|h[1-6]|hr|i|img|li|ol|p|pre|s|small|span|strike|strong|sub"
    "|sup|table|td|th|tr|tt|u|ul"
)
_HTML_TAG = re.compile(rf"</?(?:{_TAGS})(?:\s[^<>]*)?/?>", re.IGNORECASE)
_CONTROL = re.compile(r"[\x01-\x08\x0b-\x1f\x7f]")
_LETTER = re.compile(r"[^\W\d_]")
_ALNUM = re.compile(r"[^\W_]")


@dataclass
class Slice:
    documents: int = 0
    sentences: int = 0
    tokens: int = 0


@dataclass
class PrepareStats:
    """Counts of one run; ``dropped_lines`` are documents, ``dropped_sentences`` sentences."""

    inputs: list[str]
    heldout_fraction: float
    max_tokens: int
    lines: int = 0
    html_cleaned: int = 0  # documents that had HTML tags or entities
    dropped_lines: dict[str, int] = field(default_factory=lambda: {"blank": 0, "no_usable_sentence": 0})
    dropped_sentences: dict[str, int] = field(default_factory=lambda: {"not_text": 0, "too_long": 0, "duplicate": 0})
    train: Slice = field(default_factory=Slice)
    heldout: Slice = field(default_factory=Slice)
    seconds: float = 0.0
    tokens_per_s: float = 0.0

    def summary(self) -> str:
        lines = [
            f"{self.lines:,} lines read ({self.html_cleaned:,} had HTML removed); dropped lines: "
            + ", ".join(f"{k} {v:,}" for k, v in self.dropped_lines.items()),
            "dropped sentences: " + ", ".join(f"{k} {v:,}" for k, v in self.dropped_sentences.items()),
        ]
        for name in ("train", "heldout"):
            s = getattr(self, name)
            lines.append(f"{name}: {s.documents:,} documents, {s.sentences:,} sentences, {s.tokens:,} tokens")
        lines.append(f"{self.seconds:.0f} s, {self.tokens_per_s:,.0f} tok/s")
        return "\n".join(lines)


def clean(text: str) -> tuple[str, bool]:
    """``text`` without formatting tags, entities decoded, control characters spaced; and whether it
    held HTML."""
    stripped = _HTML_TAG.sub(" ", text)
    decoded = html.unescape(stripped) if "&" in stripped else stripped
    return _CONTROL.sub(" ", decoded), decoded != text


def in_heldout(text: str, fraction: float) -> bool:
    """Whether a document belongs to the held-out slice (a hash of its text, so deterministic)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") < fraction * 2**64


def _is_text(tokens: list[str]) -> bool:
    """At least one word, and at least half of the tokens that hold a letter or digit hold a letter."""
    words = sum(1 for t in tokens if _LETTER.search(t))
    return words > 0 and 2 * words >= sum(1 for t in tokens if _ALNUM.search(t))


def _lines(paths: Sequence[str | Path]) -> Iterator[str]:
    for path in paths:
        source = _Source.resolve(path, what="corpus")
        with source.open() as stream:
            for number, line in decode_lines(stream, source.name):
                if "\0" in line:
                    raise ElmoError(f"{source.name}:{number}: a NUL byte: binary data, not text")
                yield line


def prepare(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    heldout: float = 0.01,
    max_tokens: int = 200,
    batch_size: int = 256,
    limit: int | None = None,
    progress: bool = True,
    seed: int | None = 0,
) -> PrepareStats:
    """Prepare ``paths`` into ``out_dir`` (see the module docstring); ``limit``: the first N lines only."""
    if not 0 < heldout < 1:
        raise ElmoError(f"the held-out fraction must be between 0 and 1 (got {heldout})")
    if max_tokens < 1:
        raise ElmoError(f"--max-tokens must be at least 1 (got {max_tokens})")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ElmoError(f"output is not a folder: {out}")
    stats = PrepareStats([str(p) for p in paths], heldout, max_tokens)
    documents: list[tuple[str, bool]] = []  # first pass: every byte checked before the slow part
    for line in _lines(paths):
        if limit is not None and stats.lines >= limit:
            break
        stats.lines += 1
        text, had_html = clean(line)
        stats.html_cleaned += had_html
        if not text.strip():
            stats.dropped_lines["blank"] += 1
            continue
        documents.append((text, in_heldout(line, heldout)))
    if seed is not None:
        random.Random(seed).shuffle(documents)
    out.mkdir(parents=True, exist_ok=True)
    seen: set[bytes] = set()
    start = time.monotonic()
    with (
        atomic_open(out / TRAIN) as train_file,
        atomic_open(out / HELDOUT) as heldout_file,
        Progress("corpus prepare", len(documents), "doc", enabled=progress) as bar,
    ):
        for sentences, held in split_sentences(documents, batch_size):
            part, target = (stats.heldout, heldout_file) if held else (stats.train, train_file)
            kept = 0
            for tokens in sentences:
                reason = None
                if not _is_text(tokens):
                    reason = "not_text"
                elif len(tokens) > max_tokens:
                    reason = "too_long"
                else:
                    line = " ".join(tokens)
                    key = hashlib.blake2b(line.encode("utf-8"), digest_size=12).digest()
                    if key in seen:
                        reason = "duplicate"
                    seen.add(key)
                if reason is not None:
                    stats.dropped_sentences[reason] += 1
                    continue
                target.write(line.encode("utf-8") + b"\n")
                kept += 1
                part.sentences += 1
                part.tokens += len(tokens)
            if kept:
                part.documents += 1
            else:
                stats.dropped_lines["no_usable_sentence"] += 1
            so_far = stats.train.tokens + stats.heldout.tokens
            bar.set_postfix(tokens=f"{so_far:,}", **{"tok/s": f"{so_far / max(time.monotonic() - start, 1e-9):,.0f}"})
            bar.update()
        stats.seconds = round(time.monotonic() - start, 1)
        stats.tokens_per_s = round((stats.train.tokens + stats.heldout.tokens) / max(stats.seconds, 1e-9), 1)
        _check(stats, paths)
        with atomic_open(out / STATS) as stats_file:
            stats_file.write(json.dumps(asdict(stats), indent=1).encode("utf-8") + b"\n")
    return stats


def _check(stats: PrepareStats, paths: Sequence[str | Path]) -> None:
    where = ", ".join(str(p) for p in paths)
    if stats.train.sentences + stats.heldout.sentences == 0:
        raise ElmoError(f"{where}: no usable sentence ({stats.lines} lines read); nothing written")
    for name in ("train", "heldout"):
        if getattr(stats, name).sentences == 0:
            raise ElmoError(
                f"{where}: the {name} slice is empty ({stats.lines} lines, held-out fraction "
                f"{stats.heldout_fraction}); give more documents or another --heldout; nothing written"
            )

"""The word vocabulary of the softmax: ``<S>``, ``</S>``, ``<UNK>``, then words by frequency.

The order matters: the log-uniform candidate sampler assumes id ~ frequency rank.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from elmo_features.atomic import write_text_atomic
from elmo_features.chars import BOS_TOKEN, EOS_TOKEN
from elmo_features.errors import ElmoError
from elmo_features.text_lines import file_lines

UNK_TOKEN = "<UNK>"
SPECIALS = (BOS_TOKEN, EOS_TOKEN, UNK_TOKEN)


class Vocabulary:
    """Words <-> ids; unknown words map to ``<UNK>``."""

    def __init__(self, words: Iterable[str]) -> None:
        rest = [w for w in words if w not in SPECIALS]
        self.words: list[str] = [*SPECIALS, *rest]
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ElmoError("vocabulary has duplicate words")
        self.bos, self.eos, self.unk = (self.index[t] for t in SPECIALS)

    def __len__(self) -> int:
        return len(self.words)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.words == other.words

    def id(self, word: str) -> int:
        return self.index.get(word, self.unk)

    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(self.words).encode("utf-8")).hexdigest()[:16]

    @classmethod
    def from_counts(cls, counts: Counter[str], size: int) -> Vocabulary:
        """The ``size`` most frequent words (ties: alphabetical), after the three specials."""
        if size < 1:
            raise ElmoError(f"--vocab-size must be at least 1, got {size}")
        ranked = sorted((w for w in counts if w not in SPECIALS), key=lambda w: (-counts[w], w))
        return cls(ranked[:size])

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """One word per line (bilm-tf's vocab file); duplicates and blank lines are errors."""
        seen: dict[str, int] = {}
        for number, line in file_lines(path, "vocabulary"):
            word = line.strip()
            if not word or len(word.split()) != 1:
                raise ElmoError(f"{path}:{number}: expected one word per line, got {line!r}")
            if word in seen:
                raise ElmoError(f"{path}:{number}: duplicate word {word!r} (first on line {seen[word]})")
            seen[word] = number
        if not seen:
            raise ElmoError(f"vocabulary file {path} is empty")
        return cls(seen)

    def save(self, path: str | Path) -> None:
        write_text_atomic(Path(path), "\n".join(self.words) + "\n")

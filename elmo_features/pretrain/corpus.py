"""Plain-text corpora, streamed: tokenising, the counting pass, shuffled sentence streams, batches.

Nothing here holds the corpus in memory: files are read line by line, shuffled through a
bounded buffer, and cut into bilm-tf style batches: ``rows`` parallel token streams (each
a run of ``<S> w1 .. wn </S>`` sentences) read ``unroll`` steps at a time, the LSTM state
carried from one batch to the next. The backward stream holds the same sentences reversed.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from elmo_features.chars import BOS_TOKEN, EOS_TOKEN, token_length, token_to_ids
from elmo_features.errors import ElmoError
from elmo_features.pretrain.vocab import Vocabulary
from elmo_features.text_lines import file_lines
from elmo_features.tokenizer import tokenize

IGNORE = -100  # target id of padding positions (held-out tail)


def read_numbered_tokens(paths: Sequence[str | Path], raw_text: bool = False) -> Iterator[tuple[str, int, list[str]]]:
    """(file, line number, tokens) of every non-blank line, streamed; ``raw_text``: each line through
    the project's tokenizer (:mod:`elmo_features.tokenizer`), else split on whitespace."""
    split = tokenize if raw_text else str.split
    for path in paths:
        for number, line in file_lines(path, "text"):
            tokens = split(line)
            if tokens:
                yield str(path), number, tokens


@dataclass
class CorpusStats:
    """What the counting pass learns: word counts of the usable sentences, and what was skipped."""

    counts: Counter[str] = field(default_factory=Counter)
    sentences: int = 0
    too_long: int = 0
    tokens: int = 0  # predictions per direction: words + one boundary per sentence

    def check(self, paths: Sequence[str | Path], max_tokens: int, what: str = "corpus") -> None:
        where = ", ".join(str(p) for p in paths)
        if self.sentences == 0 and self.too_long == 0:
            raise ElmoError(f"{what} {where} holds no text (every line is blank)")
        if self.sentences == 0:
            raise ElmoError(
                f"{what} {where}: all {self.too_long} lines are longer than --max-tokens {max_tokens}; "
                "raise it or split the lines into sentences"
            )


def count_corpus(paths: Sequence[str | Path], max_tokens: int, raw_text: bool = False) -> CorpusStats:
    """One pass over the files: word counts and sizes; lines over ``max_tokens`` are skipped."""
    stats = CorpusStats()
    for _, _, tokens in read_numbered_tokens(paths, raw_text):
        if len(tokens) > max_tokens:
            stats.too_long += 1
            continue
        stats.sentences += 1
        stats.tokens += len(tokens) + 1
        stats.counts.update(tokens)
    return stats


def sentence_stream(
    paths: Sequence[str | Path],
    max_tokens: int,
    raw_text: bool = False,
    seed: int | None = 0,
    rank: int = 0,
    world: int = 1,
    buffer_size: int = 10_000,
    repeat: bool = True,
) -> Iterator[list[str]]:
    """Sentences of this rank's shard (line ``i`` goes to rank ``i % world``), through a shuffle buffer.

    ``seed=None``: file order, no shuffling. ``repeat``: start a new, differently shuffled
    pass when the files run out (training streams never end; the loop decides when to stop).
    """
    passes = 0
    while True:
        rng = random.Random(f"{seed}/{rank}/{passes}") if seed is not None else None
        buffer: list[list[str]] = []
        produced = 0
        index = -1
        for _, _, tokens in read_numbered_tokens(paths, raw_text):
            if len(tokens) > max_tokens:
                continue
            index += 1
            if index % world != rank:
                continue
            if rng is None:
                produced += 1
                yield tokens
                continue
            if len(buffer) < buffer_size:
                buffer.append(tokens)
                continue
            slot = rng.randrange(buffer_size)
            buffer[slot], tokens = tokens, buffer[slot]
            produced += 1
            yield tokens
        if rng is not None:
            rng.shuffle(buffer)
        produced += len(buffer)
        yield from buffer
        passes += 1
        if not repeat:
            return
        if produced == 0:
            raise ElmoError(
                f"process {rank} of {world} got no sentences: the corpus has fewer usable lines than {world}"
            )


@dataclass
class Batch:
    """One step of both streams. ``*_index`` point into ``char_ids`` (the batch's distinct tokens)."""

    char_ids: torch.Tensor  # (U, 50)
    lengths: torch.Tensor  # (U,)
    fwd_index: torch.Tensor  # (B, T)
    bwd_index: torch.Tensor  # (B, T)
    fwd_targets: torch.Tensor  # (B, T), IGNORE where padded
    bwd_targets: torch.Tensor  # (B, T)
    n_tokens: int  # real predictions per direction

    def to(self, device: torch.device) -> Batch:
        if device.type == "cpu":
            return self
        move = {k: v.to(device, non_blocking=True) for k, v in vars(self).items() if isinstance(v, torch.Tensor)}
        return Batch(**move, n_tokens=self.n_tokens)


class Batcher:
    """Cuts a sentence stream into ``rows`` x ``unroll`` batches (see the module docstring)."""

    def __init__(self, sentences: Iterator[list[str]], vocab: Vocabulary, rows: int, unroll: int) -> None:
        self.sentences = sentences
        self.vocab = vocab
        self.rows, self.unroll = rows, unroll
        self.fwd: list[list[str]] = [[] for _ in range(rows)]
        self.bwd: list[list[str]] = [[] for _ in range(rows)]
        self.exhausted = False
        self._chars: dict[str, tuple[np.ndarray, int]] = {}

    def _fill(self, row: int) -> None:
        while len(self.fwd[row]) < self.unroll + 1 and not self.exhausted:
            try:
                sentence = next(self.sentences)
            except StopIteration:
                self.exhausted = True
                return
            self.fwd[row] += [BOS_TOKEN, *sentence, EOS_TOKEN]
            self.bwd[row] += [EOS_TOKEN, *reversed(sentence), BOS_TOKEN]

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        for row in range(self.rows):
            self._fill(row)
        if all(len(f) < 2 for f in self.fwd):
            raise StopIteration
        steps = self.unroll
        windows_f, windows_b = [], []
        for row in range(self.rows):
            take_f, take_b = self.fwd[row][: steps + 1], self.bwd[row][: steps + 1]
            self.fwd[row], self.bwd[row] = self.fwd[row][steps:], self.bwd[row][steps:]
            if len(take_f) < 2:  # an empty row at the end of a finite stream
                self.fwd[row], self.bwd[row] = [], []
            windows_f.append(take_f)
            windows_b.append(take_b)
        return self._tensors(windows_f, windows_b)

    def _tensors(self, windows_f: list[list[str]], windows_b: list[list[str]]) -> Batch:
        steps, rows = self.unroll, self.rows
        distinct: dict[str, int] = {BOS_TOKEN: 0}
        fwd_index = np.zeros((rows, steps), dtype=np.int64)
        bwd_index = np.zeros((rows, steps), dtype=np.int64)
        fwd_targets = np.full((rows, steps), IGNORE, dtype=np.int64)
        bwd_targets = np.full((rows, steps), IGNORE, dtype=np.int64)
        n_tokens = 0
        for row in range(rows):
            for window, index, targets in (
                (windows_f[row], fwd_index, fwd_targets),
                (windows_b[row], bwd_index, bwd_targets),
            ):
                inputs = window[:-1]
                index[row, : len(inputs)] = [distinct.setdefault(t, len(distinct)) for t in inputs]
                targets[row, : len(inputs)] = [self.vocab.id(t) for t in window[1:]]
            n_tokens += max(len(windows_f[row]) - 1, 0)
        if len(self._chars) > 200_000:
            self._chars.clear()
        encoded = []
        for token in distinct:
            if token not in self._chars:
                self._chars[token] = (token_to_ids(token), token_length(token))
            encoded.append(self._chars[token])
        return Batch(
            char_ids=torch.from_numpy(np.stack([ids for ids, _ in encoded])),
            lengths=torch.tensor([n for _, n in encoded]),
            fwd_index=torch.from_numpy(fwd_index),
            bwd_index=torch.from_numpy(bwd_index),
            fwd_targets=torch.from_numpy(fwd_targets),
            bwd_targets=torch.from_numpy(bwd_targets),
            n_tokens=n_tokens,
        )

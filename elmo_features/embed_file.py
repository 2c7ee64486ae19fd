"""Embed a text file into the HDF5 layout of the old ``allennlp elmo`` command.

One whitespace-tokenised sentence per line. Dataset ``str(i)`` holds line ``i``
(shape (L+1, T, D) for ``all``, (T, D) for ``top`` / ``average``), plus
``sentence_to_index`` (JSON: line text -> key). An empty line is an empty sentence:
its dataset has T = 0, so keys always equal line numbers, and in stateful mode it
leaves the state of its row untouched. The file is written to a temporary name and
renamed at the end: an error or Ctrl-C never leaves a partial output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import h5py
import numpy as np

from elmo_features.atomic import atomic_path, check_output
from elmo_features.bilm import BiLM
from elmo_features.errors import ElmoError
from elmo_features.progress import Progress
from elmo_features.text_lines import file_lines

OutputFormat = Literal["all", "top", "average"]


def read_text_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 file (decoded as :func:`~elmo_features.text_lines.file_lines` does, surrounding
    spaces stripped); one-line errors for bad input."""
    sentences = [line.strip() for _, line in file_lines(path, "input")]
    if not any(sentences):
        raise ElmoError(f"{path} is empty: no sentences")
    return sentences


def _batches(bilm: BiLM, tokens: list[list[str]], batch_size: int) -> Iterator[list[int]]:
    order = list(range(len(tokens)))
    if bilm.state != "stateful":  # outputs do not depend on batching: group similar lengths
        order.sort(key=lambda i: len(tokens[i]))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def embed_file(bilm: BiLM, input_file: str | Path, output_file: str | Path, *args, **kwargs) -> int:
    """Embed every line of ``input_file`` into ``output_file``; returns the token count."""
    return embed_sentences(bilm, read_text_lines(input_file), output_file, *args, **kwargs)


def embed_sentences(
    bilm: BiLM,
    sentences: list[str],
    output_file: str | Path,
    output_format: OutputFormat = "all",
    batch_size: int = 64,
    forget_sentences: bool = False,
    use_sentence_keys: bool = False,
    progress: bool = True,
) -> int:
    """Embed lines (as :func:`read_text_lines` gives them) into ``output_file``; returns the token count."""
    if batch_size < 1:
        raise ElmoError(f"batch size must be at least 1, got {batch_size}")
    if use_sentence_keys:
        _check_keys(sentences)
    tokens = [s.split() for s in sentences]
    output_file = Path(output_file)
    check_output(output_file)
    total = 0
    with (
        atomic_path(output_file) as tmp,
        h5py.File(tmp, "w") as out,
        Progress("embed", sum(map(len, tokens)), "tok", enabled=progress) as bar,
    ):
        for batch in _batches(bilm, tokens, batch_size):
            layers, _ = bilm([tokens[i] for i in batch])
            layers = layers.cpu().numpy()
            for row, index in enumerate(batch):
                vectors = layers[:, row, : len(tokens[index])]
                if output_format == "top":
                    vectors = vectors[-1]
                elif output_format == "average":
                    vectors = vectors.mean(axis=0)
                key = sentences[index] if use_sentence_keys else str(index)
                out.create_dataset(key, data=np.ascontiguousarray(vectors, dtype=np.float32))
                total += len(tokens[index])
                bar.update(len(tokens[index]))
        if not forget_sentences and not use_sentence_keys:
            index_json = json.dumps({s: str(i) for i, s in enumerate(sentences)})
            out.create_dataset("sentence_to_index", (1,), dtype=h5py.string_dtype(), data=[index_json])
    return total


def _check_keys(sentences: list[str]) -> None:
    seen: dict[str, int] = {}
    for number, sentence in enumerate(sentences, start=1):
        if "/" in sentence or "\0" in sentence or sentence in ("", ".", "sentence_to_index"):
            raise ElmoError(f"line {number}: {sentence!r} cannot be an HDF5 key; drop --use-sentence-keys")
        if sentence in seen:
            raise ElmoError(
                f"line {number} repeats line {seen[sentence]}; duplicate sentences need numeric keys "
                "(drop --use-sentence-keys)"
            )
        seen[sentence] = number

"""Token tagging (NER, POS): what tasks with one tag per token share, written once.

:class:`TaggingTask` holds the batching items, the tagging loop behind ``predict``, the ``token gold
predicted`` columns and the JSON records of a text file; a task supplies how a decoded tag sequence is shown
(:meth:`~TaggingTask.output_tags`: NER turns its BIOUL tags into IOB2).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from elmo_features.atomic import write_text_atomic
from elmo_features.embedders import TokenBatch
from elmo_features.tokenizer import tokenize
from tasks.common.config import TrainConfig
from tasks.common.task import Task, add_pretrained


class TaggingTask(Task):
    """A :class:`Task` whose splits have ``tokens`` and ``tags`` (one tag per token) and whose model has
    ``labels`` and ``decode(TokenBatch) -> tags``."""

    def output_tags(self, tags: Sequence[str]) -> list[str]:
        """A tag sequence (the model's, or a split's gold) as predictions show it; as it is by default."""
        return list(tags)

    def items(self, split: Any) -> list:
        return list(zip(split.tokens, split.tags, strict=True))

    def tag(self, model: nn.Module, sentences: Sequence[Sequence[str]], batch_size: int = 32) -> list[list[str]]:
        """The output tags of each tokenised sentence, in input order (empty sentences get none); words the run
        never saw get their pretrained vectors when the run's vectors file is still there (:func:`add_pretrained`)."""
        add_pretrained(model, sentences)
        out: list[list[str]] = [[] for _ in sentences]
        order = sorted((i for i, s in enumerate(sentences) if s), key=lambda i: len(sentences[i]))
        model.eval()
        for k in range(0, len(order), batch_size):
            rows = order[k : k + batch_size]
            for i, tags in zip(rows, model.decode(TokenBatch.from_tokens([sentences[i] for i in rows])), strict=True):
                out[i] = self.output_tags(tags)
        return out

    def columns(self, split: Any, predicted: list[list[str]], separator: str = " ") -> str:
        """``token gold predicted`` per token (gold as :meth:`output_tags` shows it), a blank line after each
        sentence: what conlleval reads."""
        out = []
        for tokens, gold, tags in zip(split.tokens, split.tags, predicted, strict=True):
            out += [separator.join(row) for row in zip(tokens, self.output_tags(gold), tags, strict=True)] + [""]
        return "\n".join(out) + "\n"

    def tag_text_file(self, model: nn.Module, path: str | Path) -> list[dict]:
        """``{"tokens", "tags"}`` of each line of a text file: one sentence per line, raw or tokenised (the
        project's tokenizer returns tokenised text unchanged)."""
        from elmo_features.embed_file import read_text_lines

        sentences = [tokenize(line) for line in read_text_lines(path)]
        return [{"tokens": s, "tags": t} for s, t in zip(sentences, self.tag(model, sentences), strict=True)]

    def write_predictions(self, model: nn.Module, split: Any, config: TrainConfig, stem: Path) -> Path:
        """:meth:`columns` of ``split`` with the model's tags (``<stem>.conll``)."""
        path = stem.with_suffix(".conll")
        write_text_atomic(path, self.columns(split, self.tag(model, split.tokens, config.trainer.batch_size)))
        return path

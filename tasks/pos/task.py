"""The POS task: CoNLL column files in, one tag per token out, token accuracy (per tag)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from elmo_features.embedders import TokenEmbedder
from elmo_features.errors import ElmoError
from elmo_features.text_lines import file_lines
from tasks.common.batching import TagCollate
from tasks.common.config import TrainConfig
from tasks.common.tagging import TaggingTask
from tasks.common.task import register
from tasks.pos.config import Config
from tasks.pos.model import PAD_TAG, PosTagger


@dataclass
class Split:
    name: str
    tokens: list[list[str]]
    tags: list[list[str]]


def read_columns(path: str | Path, token_column: int, tag_column: int, separator: str | None) -> Split:
    """Sentences of a CoNLL column file (``-DOCSTART-`` lines and blank lines end a sentence)."""
    tokens: list[list[str]] = [[]]
    tags: list[list[str]] = [[]]
    width = 0
    for number, line in file_lines(path, "CoNLL"):
        fields = line.split(separator)
        if not line.strip() or fields[0] == "-DOCSTART-":
            if tokens[-1]:
                tokens.append([])
                tags.append([])
            continue
        width = width or len(fields)
        if len(fields) != width or not (-width <= token_column < width and -width <= tag_column < width):
            raise ElmoError(f"{path}:{number}: {len(fields)} columns, expected {width} with columns "
                            f"{token_column} and {tag_column}, in {line!r}")  # fmt: skip
        tokens[-1].append(fields[token_column])
        tags[-1].append(fields[tag_column])
    if not tokens[-1]:
        tokens.pop()
        tags.pop()
    if not tokens:
        raise ElmoError(f"{path}: no sentences")
    return Split(str(path), tokens, tags)


@register
class PosTask(TaggingTask):
    """Part-of-speech tags from the CoNLL-2003 POS column; token accuracy, with accuracy per tag."""

    name = "pos"
    Config = Config
    MONITOR = "accuracy"
    BREAKDOWN = "per_tag"
    PREDICT_FORMATS = ("text", "conll")  # text: a sentence per line; conll: a labelled file -> token gold predicted

    def read_split(self, config: TrainConfig, name: str, source: str | None = None) -> Split | None:
        source = source if source is not None else getattr(config.data, name)
        if source is None:
            return None
        data = config.data
        return read_columns(source, data.token_column, data.tag_column, data.separator)

    def check_split(self, split: Split, vocab: dict, where: str) -> None:
        unseen = sorted({t for tags in split.tags for t in tags} - set(vocab["labels"]))
        if unseen:
            raise ElmoError(f"{where}: tags {unseen} never occur in the training data; the model cannot predict them")

    def vocabulary(self, config: TrainConfig, train: Split) -> dict:
        return {"labels": sorted({t for tags in train.tags for t in tags})}

    def make_model(self, config: TrainConfig, embedder: TokenEmbedder, vocab: dict) -> PosTagger:
        return PosTagger(embedder, vocab["labels"], config.model)

    def collate(self, model: PosTagger) -> TagCollate:
        return TagCollate(model.labels, PAD_TAG)

    def gold_and_predicted(self, model: PosTagger, batch) -> tuple[list[str], list[str]]:
        tokens, tags = batch
        predicted = model.decode(tokens)
        gold = [model.labels[i] for row, p in zip(tags, predicted, strict=True) for i in row[: len(p)].tolist()]
        return gold, [t for p in predicted for t in p]

    def score(self, gold: list[str], predicted: list[str], model: PosTagger | None = None) -> dict:
        """Token accuracy (percent), the token count and the accuracy per gold tag."""
        right: Counter = Counter(g for g, p in zip(gold, predicted, strict=True) if g == p)
        total = Counter(gold)
        return {
            "accuracy": 100.0 * sum(right.values()) / max(len(gold), 1),
            "tokens": len(gold),
            "per_tag": {t: 100.0 * right[t] / n for t, n in sorted(total.items())},
        }

    def predict_file(self, model: PosTagger, vocab: dict, config: TrainConfig, path: str, fmt: str) -> list | str:
        """``text``: one sentence per line (raw or tokenised) -> ``{"tokens", "tags"}`` per line; ``conll``: a
        labelled file in the run's columns -> ``token gold predicted`` lines."""
        if fmt == "conll":
            split = self.read_split(config, "test", path)
            return self.columns(split, self.tag(model, split.tokens, config.trainer.batch_size))
        return self.tag_text_file(model, path)

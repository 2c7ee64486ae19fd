"""The NER task: CoNLL data, BIOUL labels, the BiLSTM-CRF tagger, span F1.

Labels are the BIOUL tags of every entity type seen in the training split (all four prefixes,
so a type seen only as single tokens can still be tagged as a multi-token span); a validation or
test split holding a type the training split never had is a one-line error naming it. Batches
are length-bucketed (sentences of similar length together) and shuffled per epoch from the seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from elmo_features.embedders import TokenEmbedder
from elmo_features.errors import ElmoError
from tasks.common.batching import TagCollate
from tasks.common.config import TrainConfig
from tasks.common.layers import char_vocabulary
from tasks.common.tagging import TaggingTask
from tasks.common.task import Quickstart, register
from tasks.ner.config import Config
from tasks.ner.metric import span_f1
from tasks.ner.model import PAD_TAG, NerTagger, label_vocabulary
from tasks.ner.reader import load_split
from tasks.ner.tags import bioul_to_iob2, entity_type

PREFIXES = ("B", "I", "L", "U")


@dataclass
class Split:
    name: str
    tokens: list[list[str]]
    tags: list[list[str]]


def labels_for(train: Split) -> list[str]:
    """``O`` then B/I/L/U of every type in the training tags (sorted, as :func:`label_vocabulary`)."""
    seen = label_vocabulary([{"tags": train.tags}])
    types = {tag.partition("-")[2] for tag in seen if tag != "O"}
    return ["O", *sorted({*seen[1:], *(f"{p}-{t}" for t in types for p in PREFIXES)})]


def check_split(split: Split, vocab: dict, where: str) -> None:
    """A one-line error for a tag of a type the training split never had."""
    known = set(vocab["labels"])
    for row, tags in enumerate(split.tags):
        for tag in tags:
            if tag not in known:
                raise ElmoError(
                    f"{where}: entity type {tag.partition('-')[2]!r} (sentence {row + 1}) "
                    "never occurs in the training data; the model cannot predict it"
                )


def _looks_like_conll(path: str, data) -> bool:
    """Whether most non-blank lines of a file have 2 or more columns and a tag (O, B-X...) in the tag column."""
    import re

    from elmo_features.text_lines import file_lines

    tag = re.compile(r"O|[BIELSU]-\S+")
    rows = [line.split(data.separator) for _, line in file_lines(path, "input") if line.strip()]
    column = data.tag_column
    tagged = sum(len(r) >= 2 and -len(r) <= column < len(r) and bool(tag.fullmatch(r[column])) for r in rows)
    return tagged > len(rows) / 2


def read_split(config: TrainConfig, name: str, source: str | None = None) -> Split | None:
    data = config.data
    source = source if source is not None else getattr(data, name)
    if source is None:
        return None
    dataset = load_split(
        source,
        name,
        scheme=data.scheme,
        token_column=data.token_column,
        tag_column=data.tag_column,
        separator=data.separator,
        strip_prefix=data.strip_prefix,
    )
    return Split(name, [list(t) for t in dataset["tokens"]], [list(t) for t in dataset["tags"]])


@register
class NerTask(TaggingTask):
    """Named entities: CoNLL columns in, BIOUL tags inside, IOB2 out, span F1 (per type)."""

    name = "ner"
    Config = Config
    MONITOR = "f1"
    BREAKDOWN = "per_type"  # the scores per entity type in evaluate's result
    PREDICT_FORMATS = ("auto", "conll", "text")  # `predict --format`; auto: conll when the file reads as one
    QUICKSTART = Quickstart(
        order=0,
        splits={"train": "train", "validation": "valid", "test": "test"},
        model={"hidden": 64, "layers": 1, "dropout": 0.3, "char_cnn": False},
        trainer={"epochs": 60, "batch_size": 8, "lr": 0.005, "patience": 15},
        score_label="test span F1",
        ambiguous_label="type accuracy on ambiguous words",
    )

    def read_split(self, config: TrainConfig, name: str, source: str | None = None) -> Split | None:
        return read_split(config, name, source)

    def check_split(self, split: Split, vocab: dict, where: str) -> None:
        check_split(split, vocab, where)

    def output_tags(self, tags: Sequence[str]) -> list[str]:
        """BIOUL (the model's and the splits' tags) -> IOB2."""
        return bioul_to_iob2(tags)

    def vocabulary(self, config: TrainConfig, train: Split) -> dict:
        return {"labels": labels_for(train), "chars": char_vocabulary(train.tokens)}

    def make_model(self, config: TrainConfig, embedder: TokenEmbedder, vocab: dict) -> NerTagger:
        return NerTagger(embedder, vocab["labels"], vocab["chars"], config.model)

    def collate(self, model: NerTagger) -> TagCollate:
        return TagCollate(model.labels, PAD_TAG)

    def gold_and_predicted(self, model: NerTagger, batch) -> tuple[list[list[str]], list[list[str]]]:
        tokens, tags = batch
        predicted = model.decode(tokens)
        gold = [[model.labels[i] for i in row[: len(p)].tolist()] for row, p in zip(tags, predicted, strict=True)]
        return gold, predicted

    def score(self, gold: list[list[str]], predicted: list[list[str]], model: NerTagger | None = None) -> dict:
        return span_f1(gold, predicted)

    def predict_file(
        self, model: NerTagger, vocab: dict, config: TrainConfig, path: str, fmt: str = "auto"
    ) -> list[dict] | str:
        """``text``: one sentence per line, raw or tokenised (the project's tokenizer returns tokenised text
        unchanged) -> ``{"tokens", "tags"}`` (IOB2) per line.
        ``conll``: a labelled CoNLL file in the run's column layout -> conlleval-style ``token gold predicted``
        lines (IOB2), a blank line after each sentence. ``auto``: conll when the file reads as one; when it
        does not but most lines end in a tag, the CoNLL error (never a silent reading as text)."""
        if fmt != "text":
            try:
                split = read_split(config, "test", path)
            except ElmoError:
                if fmt == "conll" or _looks_like_conll(path, config.data):
                    raise
            else:
                return self.columns(split, self.tag(model, split.tokens), config.data.separator or " ")
        return self.tag_text_file(model, path)

    def quickstart_hits(self, run_dir: Path, files: dict[str, Path], ambiguous: dict) -> list[bool]:
        """Whether the predicted entity type (the prefix aside) of each ambiguous test token is its gold type."""
        model, _, config = self.load_run(run_dir)
        split = self.read_split(config, "test")
        predicted, gold = self.tag(model, split.tokens), split.tags
        return [
            entity_type(predicted[s][k]) == entity_type(gold[s][k]) for s, k in ambiguous["test"] if k < len(gold[s])
        ]

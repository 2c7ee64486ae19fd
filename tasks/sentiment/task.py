"""Sentiment glue for the shared trainer (protocol in :mod:`tasks.common.task_api`): SST-5 or SST-2.

Training reads roots or, with ``data.phrases``, every phrase of the training trees; validation and
test are always whole sentences. Batches are ``(TokenBatch, (B,) class ids)``, length-bucketed.
Scores are accuracy (early stopping), macro-F1 and the confusion matrix; ``write_report`` saves
``confusion_dev.png`` and ``confusion_test.png`` in the run folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from elmo_features.atomic import write_text_atomic
from elmo_features.embedders import TokenBatch, TokenEmbedder
from elmo_features.errors import ElmoError
from elmo_features.text_lines import file_lines
from elmo_features.tokenizer import tokenize
from tasks.common.batching import BucketBatchSampler
from tasks.common.config import TrainConfig
from tasks.common.task_api import (
    Built,
    add_pretrained,
    embedder_for_run,
    prepare_embedder,
    read_run,
    restore,
    score_batches,
)
from tasks.sentiment.metric import classification_scores, save_confusion_png
from tasks.sentiment.model import SentimentClassifier
from tasks.sentiment.reader import load_split, read_sst, read_tsv

MONITOR = "accuracy"
BREAKDOWN = "per_class"  # the F1 per class in evaluate's result
LABELS = {
    5: ["very negative", "negative", "neutral", "positive", "very positive"],
    2: ["negative", "positive"],
}


@dataclass
class Split:
    name: str
    tokens: list[list[str]]
    labels: list[int]
    lines: list[int]  # line of each example in its file (row number for hub data)


# ---------------------------------------------------------------------------- data
def read_split(config: TrainConfig, name: str, source: str | None = None) -> Split | None:
    """A split from the config's data section (or ``source``); phrases only ever for ``train``."""
    data = config.data
    source = source if source is not None else getattr(data, name)
    if source is None:
        return None
    dataset = load_split(source, name, classes=data.classes, phrases=data.phrases and name == "train")
    columns = dataset.to_dict()
    return Split(name, [list(t) for t in columns["tokens"]], list(columns["label"]), list(columns["line"]))


def check_split(split: Split, vocab: dict, where: str) -> None:
    """A one-line error for a label the model cannot predict (outside its classes)."""
    count = len(vocab["labels"])
    for label, line in zip(split.labels, split.lines, strict=True):
        if not 0 <= label < count:
            raise ElmoError(f"{where}: label {label} (line {line}) is not one of the model's {count} classes")


class Collate:
    """(tokens, label) rows -> (TokenBatch, (B,) class ids); picklable for workers."""

    def __call__(self, rows) -> tuple[TokenBatch, torch.Tensor]:
        return TokenBatch.from_tokens([r[0] for r in rows]), torch.tensor([r[1] for r in rows], dtype=torch.long)


def loader(
    split: Split, batch_size: int, shuffle: bool, seed: int = 0, workers: int = 0, shard: bool = False
) -> DataLoader:
    """(TokenBatch, (B,) class ids) batches of ``split`` (this rank's share of them with ``shard``)."""
    items = list(zip(split.tokens, split.labels, strict=True))
    sampler = BucketBatchSampler([len(t) for t in split.tokens], batch_size, shuffle, seed, shard)
    return DataLoader(items, batch_sampler=sampler, collate_fn=Collate(), num_workers=workers)


# ---------------------------------------------------------------------------- model
def make_model(config: TrainConfig, embedder: TokenEmbedder, labels: Sequence[str]) -> SentimentClassifier:
    m = config.model
    return SentimentClassifier(
        embedder,
        labels,
        head=m.head,
        dropout=m.dropout,
        feedforward=m.feedforward,
        feedforward_dropout=m.feedforward_dropout,
        hidden=m.hidden,
        layers=m.layers,
        integrator_hidden=m.integrator_hidden,
        integrator_dropout=m.integrator_dropout,
        pooling=m.pooling,
        classifier_type=m.classifier,
        classifier_hidden=m.classifier_hidden,
        classifier_dropout=m.classifier_dropout,
        maxout_pool=m.maxout_pool,
        elmo_output=m.elmo_output,
    )


def build(config: TrainConfig) -> Built:
    """Read and check the splits; the word list, embedder (feature cache filled), classifier and loaders."""
    train = read_split(config, "train")
    validation = read_split(config, "validation")
    test = read_split(config, "test")
    labels = LABELS[config.data.classes]
    for split in (validation, test):
        if split is not None:
            check_split(split, {"labels": labels}, f"{split.name} split ({getattr(config.data, split.name)})")
    splits = [s for s in (train, validation, test) if s is not None]
    words, embedder = prepare_embedder(config.embedder, [sentence for s in splits for sentence in s.tokens])
    torch.manual_seed(config.trainer.seed)
    model = make_model(config, embedder, labels)
    t = config.trainer
    return Built(
        model=model,
        vocab={"labels": labels, "words": words},
        train=train,
        validation=validation,
        test=test,
        train_loader=loader(train, t.batch_size, True, t.seed, t.num_workers, shard=True),
        validation_loader=loader(validation, t.batch_size, False, shard=True) if validation is not None else None,
    )


# ---------------------------------------------------------------------------- metric
def gold_and_predicted(model: SentimentClassifier, batch) -> tuple[list[str], list[str]]:
    """Gold and predicted label names of a batch."""
    tokens, labels = batch
    predicted = model.predict(tokens).argmax(dim=-1).tolist()
    return [model.labels[i] for i in labels.tolist()], [model.labels[i] for i in predicted]


def score(gold: list[str], predicted: list[str], labels: Sequence[str] | None = None) -> dict:
    """Accuracy, macro-F1, per-class F1 and the confusion matrix of label names. Without ``labels``
    the SST-5 names are assumed when one of the five-class-only names occurs, else SST-2's."""
    if labels is None:
        labels = LABELS[5] if (set(gold) | set(predicted)) - set(LABELS[2]) else LABELS[2]
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted((set(gold) | set(predicted)) - set(index))
    if unknown:
        raise ElmoError(f"labels {unknown} are not among {list(labels)}")
    return classification_scores([index[g] for g in gold], [index[p] for p in predicted], labels)


def evaluate(model: SentimentClassifier, split: Split, config: TrainConfig) -> dict:
    """Scores of ``model`` on ``split`` (every example, on this process), in eval mode (new words: pretrained
    vectors)."""
    add_pretrained(model, split.tokens)
    batches = loader(split, config.trainer.batch_size, False)
    return score_batches(model, batches, gold_and_predicted, lambda g, p: score(g, p, model.labels))


def write_predictions(model: SentimentClassifier, split: Split, config: TrainConfig, stem: Path) -> Path:
    """``gold<TAB>predicted<TAB>text`` lines of ``split``, with a header (``<stem>.tsv``)."""
    path = stem.with_suffix(".tsv")
    predicted = predict(model, split.tokens, config.trainer.batch_size).argmax(dim=-1).tolist()
    rows = ["gold\tpredicted\ttext"] + [
        f"{model.labels[g]}\t{model.labels[p]}\t{' '.join(t)}"
        for g, p, t in zip(split.labels, predicted, split.tokens, strict=True)
    ]
    write_text_atomic(path, "\n".join(rows) + "\n")
    return path


def write_report(run_dir: str | Path, metrics: dict) -> None:
    """``confusion_<split>.png`` for each scored split of a finished run."""
    for split in ("dev", "test"):
        scores = metrics.get(split)
        if isinstance(scores, dict) and "confusion" in scores:
            title = f"{split}: accuracy {scores['accuracy']:.1f}, macro-F1 {scores['macro_f1']:.1f}"
            save_confusion_png(scores["confusion"], scores["labels"], Path(run_dir) / f"confusion_{split}.png", title)


# ---------------------------------------------------------------------------- runs
def load_run(run_dir: str | Path) -> tuple[SentimentClassifier, dict, TrainConfig]:
    """The best model of a finished run (eval mode), its vocabulary and its config."""
    config, vocab, state = read_run(run_dir, "sentiment")
    embedder = embedder_for_run(config.embedder, vocab, state)
    return restore(make_model(config, embedder, vocab["labels"]), state, run_dir), vocab, config


def read_texts(path: str | Path) -> list[str]:
    """The texts of a file, one per line (surrounding spaces stripped); a blank line or an empty file
    is a one-line error."""
    texts = []
    for number, line in file_lines(path, "input"):
        if not line.strip():
            raise ElmoError(f"{path}:{number}: empty text (one text per line)")
        texts.append(line.strip())
    if not texts:
        raise ElmoError(f"{path} is empty: no texts")
    return texts


def predict(model: SentimentClassifier, texts: Sequence[Sequence[str]], batch_size: int = 32) -> torch.Tensor:
    """(N, K) class probabilities of tokenised texts, in input order."""
    add_pretrained(model, texts)  # words the run never saw get their pretrained vectors
    out = torch.zeros(len(texts), len(model.labels))
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    model.eval()
    for k in range(0, len(order), batch_size):
        rows = order[k : k + batch_size]
        out[rows] = model.predict(TokenBatch.from_tokens([texts[i] for i in rows])).float().cpu()
    return out


PREDICT_FORMATS = ("text", "sst", "tsv")  # `predict --format`: texts, or the labelled formats train reads


def predict_file(
    model: SentimentClassifier, vocab: dict, config: TrainConfig, path: str | Path, fmt: str = "text"
) -> list[dict]:
    """``{"text", "label", "probabilities": {label: p}}`` for each line of a file of texts (raw or tokenised); for a
    labelled
    file (``sst`` trees or ``tsv`` rows, read as training reads them) the records also hold the ``gold`` label."""
    if fmt != "text":
        return _predict_labelled(model, vocab, config, path, fmt)
    texts = read_texts(path)
    probabilities = predict(model, [tokenize(text) for text in texts], config.trainer.batch_size)
    labels = vocab["labels"]
    return [
        {
            "text": text,
            "label": labels[int(p.argmax())],
            "probabilities": {label: round(float(x), 6) for label, x in zip(labels, p, strict=True)},
        }
        for text, p in zip(texts, probabilities, strict=True)
    ]


def _predict_labelled(model: SentimentClassifier, vocab: dict, config: TrainConfig, path, fmt: str) -> list[dict]:
    data = (read_sst if fmt == "sst" else read_tsv)(path, config.data.classes)
    tokens = [list(t) for t in data["tokens"]]
    probabilities = predict(model, tokens, config.trainer.batch_size)
    labels = vocab["labels"]
    return [
        {
            "text": " ".join(words),
            "gold": labels[gold],
            "label": labels[int(p.argmax())],
            "probabilities": {label: round(float(x), 6) for label, x in zip(labels, p, strict=True)},
        }
        for words, gold, p in zip(tokens, data["label"], probabilities, strict=True)
    ]

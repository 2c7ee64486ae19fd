"""The sentiment task: SST-5 or SST-2 sentence classification.

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

from elmo_features.atomic import write_text_atomic
from elmo_features.embedders import TokenBatch, TokenEmbedder
from elmo_features.errors import ElmoError
from elmo_features.text_lines import file_lines
from elmo_features.tokenizer import tokenize
from tasks.common.config import TrainConfig
from tasks.common.task import Quickstart, Task, add_pretrained, register
from tasks.sentiment.config import Config
from tasks.sentiment.metric import classification_scores, save_confusion_png
from tasks.sentiment.model import SentimentClassifier
from tasks.sentiment.reader import load_split, read_sst, read_tsv

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


def read_split(config: TrainConfig, name: str, source: str | None = None) -> Split | None:
    """A split from the config's data section (or ``source``); phrases only ever for ``train``."""
    data = config.data
    source = source if source is not None else getattr(data, name)
    if source is None:
        return None
    dataset = load_split(source, name, classes=data.classes, phrases=data.phrases and name == "train")
    columns = dataset.to_dict()
    return Split(name, [list(t) for t in columns["tokens"]], list(columns["label"]), list(columns["line"]))


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


@register
class SentimentTask(Task):
    """Sentence sentiment: SST trees or TSV rows in, class probabilities out; accuracy, macro-F1, confusion."""

    name = "sentiment"
    Config = Config
    MONITOR = "accuracy"
    BREAKDOWN = "per_class"  # the F1 per class in evaluate's result
    PREDICT_FORMATS = ("text", "sst", "tsv")  # `predict --format`: texts, or the labelled formats train reads
    QUICKSTART = Quickstart(
        order=1,
        splits={"train": "train", "validation": "dev", "test": "test"},
        data={"classes": 2},
        model={
            "head": "bilstm_attention",
            "hidden": 64,
            "dropout": 0.3,
            "classifier": "mlp",
            "classifier_hidden": [64],
            "classifier_dropout": [0.2],
        },
        trainer={"epochs": 60, "batch_size": 8, "lr": 0.002, "patience": 15},  # lr 0.005 can stall at chance
        score_label="test accuracy",
        ambiguous_label="accuracy on negation/contrast/context",
    )

    def read_split(self, config: TrainConfig, name: str, source: str | None = None) -> Split | None:
        return read_split(config, name, source)

    def check_split(self, split: Split, vocab: dict, where: str) -> None:
        check_split(split, vocab, where)

    def items(self, split: Split) -> list:
        return list(zip(split.tokens, split.labels, strict=True))

    def vocabulary(self, config: TrainConfig, train: Split) -> dict:
        return {"labels": LABELS[config.data.classes]}

    def make_model(self, config: TrainConfig, embedder: TokenEmbedder, vocab: dict) -> SentimentClassifier:
        return SentimentClassifier(embedder, vocab["labels"], config.model)

    def collate(self, model: SentimentClassifier) -> Collate:
        return Collate()

    def gold_and_predicted(self, model: SentimentClassifier, batch) -> tuple[list[str], list[str]]:
        """Gold and predicted label names of a batch."""
        tokens, labels = batch
        predicted = model.predict(tokens).argmax(dim=-1).tolist()
        return [model.labels[i] for i in labels.tolist()], [model.labels[i] for i in predicted]

    def score(self, gold: list[str], predicted: list[str], model: SentimentClassifier | None = None) -> dict:
        return score(gold, predicted, model.labels if model is not None else None)

    def write_predictions(self, model: SentimentClassifier, split: Split, config: TrainConfig, stem: Path) -> Path:
        """``gold<TAB>predicted<TAB>text`` lines of ``split``, with a header (``<stem>.tsv``)."""
        path = stem.with_suffix(".tsv")
        predicted = predict(model, split.tokens, config.trainer.batch_size).argmax(dim=-1).tolist()
        rows = ["gold\tpredicted\ttext"] + [
            f"{model.labels[g]}\t{model.labels[p]}\t{' '.join(t)}"
            for g, p, t in zip(split.labels, predicted, split.tokens, strict=True)
        ]
        write_text_atomic(path, "\n".join(rows) + "\n")
        return path

    def write_report(self, run_dir: str | Path, metrics: dict) -> None:
        """``confusion_<split>.png`` for each scored split of a finished run."""
        for split in ("dev", "test"):
            scores = metrics.get(split)
            if isinstance(scores, dict) and "confusion" in scores:
                title = f"{split}: accuracy {scores['accuracy']:.1f}, macro-F1 {scores['macro_f1']:.1f}"
                save_confusion_png(
                    scores["confusion"], scores["labels"], Path(run_dir) / f"confusion_{split}.png", title
                )

    def predict_file(
        self, model: SentimentClassifier, vocab: dict, config: TrainConfig, path: str | Path, fmt: str = "text"
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

    def quickstart_hits(self, run_dir: Path, files: dict[str, Path], ambiguous: dict) -> list[bool]:
        """Whether the predicted label of each ambiguous test sentence (``label<TAB>text`` lines) is its gold one."""
        model, vocab, config = self.load_run(run_dir)
        rows = [line.split("\t", 1) for line in files[f"{self.name}/test"].read_text(encoding="utf-8").splitlines()]
        texts = run_dir / "test_texts.txt"
        texts.write_text("".join(text + "\n" for _, text in rows), encoding="utf-8")
        records = self.predict_file(model, vocab, config, str(texts))
        labels = vocab["labels"]  # names in label-id order
        return [records[i]["label"] == labels[int(rows[i][0])] for i in ambiguous["test"]]

"""The floors of a sentiment table, beside the trained heads: the majority class of the train split, and TF-IDF
of word 1-2-grams + logistic regression (scikit-learn), C chosen on the dev split. Both are seed-independent
(counting, and lbfgs, draw nothing at random), except on a ``data.train_fraction`` subset, which is drawn per
seed exactly as a trained run's (:func:`tasks.common.subset.train_subset`)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from elmo_features.atomic import write_text_atomic
from elmo_features.errors import ElmoError

FILES = ("metrics.json", "predictions_test.tsv")  # all that a floor writes in its folder
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def _texts(split) -> list[str]:
    return [" ".join(tokens) for tokens in split.tokens]


def _splits(config_name: str, overrides: list[str]) -> dict[str, Any]:
    """The config's train (its ``data.train_fraction`` subset for its seed), validation and test splits."""
    from tasks.common.config import load_config
    from tasks.common.subset import train_subset
    from tasks.common.task import get_task

    config = load_config(config_name, overrides)
    task = get_task(config.task.name)
    splits = {name: task.read_split(config, name) for name in ("train", "validation", "test")}
    if any(split is None or not hasattr(split, "labels") for split in splits.values()):
        raise ElmoError(f"{config_name}: a floor needs a classification task with train, validation and test")
    splits["train"] = train_subset(splits["train"], config)
    return splits


def _write(folder: Path, test, predicted: list, metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics.json`` and ``predictions_test.tsv`` (the same columns as a trained run's) in ``folder``."""
    rows = ["gold\tpredicted\ttext"] + [
        f"{g}\t{p}\t{t}" for g, p, t in zip(test.labels, predicted, _texts(test), strict=True)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    metrics_file, predictions_file = FILES
    write_text_atomic(folder / predictions_file, "\n".join(rows) + "\n")
    write_text_atomic(folder / metrics_file, json.dumps(metrics, indent=1) + "\n")
    return metrics


def train_majority(config_name: str, overrides: list[str], folder: Path) -> dict[str, Any]:
    """Every item gets the train split's most frequent label (a tie: the smallest label)."""
    splits = _splits(config_name, overrides)
    counts = Counter(splits["train"].labels)
    label = min(counts, key=lambda k: (-counts[k], k))

    def accuracy(split) -> float:
        return 100.0 * sum(gold == label for gold in split.labels) / len(split.labels)

    metrics = {
        "dev": {"accuracy": accuracy(splits["validation"])},
        "test": {"accuracy": accuracy(splits["test"])},
        "scale": "percent",
        "baseline": "majority class of the train split",
        "label": label,
        "train_items": len(splits["train"].labels),
    }
    return _write(folder, splits["test"], [label] * len(splits["test"].labels), metrics)


def train_tfidf(config_name: str, overrides: list[str], folder: Path) -> dict[str, Any]:
    """Fit on train, pick C by dev accuracy, score dev and test."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    splits = _splits(config_name, overrides)

    def fit(c: float):
        pipeline = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"\S+", lowercase=True, sublinear_tf=True),
            LogisticRegression(C=c, max_iter=2000),
        )
        return pipeline.fit(_texts(splits["train"]), splits["train"].labels)

    def accuracy(model, split) -> float:
        return 100.0 * float(model.score(_texts(split), split.labels))

    grid = {c: accuracy(fit(c), splits["validation"]) for c in C_GRID}
    best_c = max(grid, key=lambda c: (grid[c], -c))  # ties: the stronger regularisation
    model = fit(best_c)
    predicted = model.predict(_texts(splits["test"])).tolist()
    metrics = {
        "dev": {"accuracy": grid[best_c]},
        "test": {"accuracy": accuracy(model, splits["test"])},
        "scale": "percent",
        "baseline": "tfidf word 1-2-grams + logistic regression",
        "C": best_c,
        "dev_accuracy_by_C": {str(c): round(v, 2) for c, v in grid.items()},
        "train_items": len(splits["train"].labels),
    }
    return _write(folder, splits["test"], predicted, metrics)


FLOORS: dict[str, Callable[[str, list[str], Path], dict[str, Any]]] = {
    "majority": train_majority,
    "tfidf": train_tfidf,
}

"""The bag-of-words floor of a sentiment table: TF-IDF of word 1-2-grams + logistic regression (scikit-learn),
C chosen on the dev split. Seed-independent (liblinear is deterministic): one value per task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from elmo_features.atomic import write_text_atomic
from elmo_features.errors import ElmoError

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def _texts(split) -> list[str]:
    return [" ".join(tokens) for tokens in split.tokens]


def train_tfidf(config_name: str, overrides: list[str], folder: Path) -> dict[str, Any]:
    """Fit on train, pick C by dev accuracy, score dev and test; ``metrics.json`` and ``predictions_test.tsv``
    (the same columns as a trained run's) in ``folder``. The config's data section names the splits."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from tasks.common.config import load_config
    from tasks.common.task import get_task

    config = load_config(config_name, overrides)
    task = get_task(config.task.name)
    splits = {name: task.read_split(config, name) for name in ("train", "validation", "test")}
    if any(split is None or not hasattr(split, "labels") for split in splits.values()):
        raise ElmoError(
            f"{config_name}: the tfidf baseline needs a classification task with train, validation and test"
        )

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
    rows = ["gold\tpredicted\ttext"] + [
        f"{g}\t{p}\t{t}" for g, p, t in zip(splits["test"].labels, predicted, _texts(splits["test"]), strict=True)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / "predictions_test.tsv", "\n".join(rows) + "\n")
    metrics = {
        "dev": {"accuracy": grid[best_c]},
        "test": {"accuracy": accuracy(model, splits["test"])},
        "scale": "percent",
        "baseline": "tfidf word 1-2-grams + logistic regression",
        "C": best_c,
        "dev_accuracy_by_C": {str(c): round(v, 2) for c, v in grid.items()},
        "train_items": len(splits["train"].labels),
    }
    write_text_atomic(folder / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    return metrics

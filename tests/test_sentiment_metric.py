"""Accuracy, macro-F1 and the confusion matrix on hand-computed inputs; the confusion PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.sentiment.metric import classification_scores, save_confusion_png

GOLD = [0, 0, 1, 1, 2, 2]
PREDICTED = [0, 1, 1, 1, 2, 0]
LABELS = ["neg", "neutral", "pos"]


def test_scores_match_hand_computed_values() -> None:
    scores = classification_scores(GOLD, PREDICTED, LABELS)
    assert scores["accuracy"] == pytest.approx(100 * 4 / 6)  # percent, as every task
    # F1 per class: neg P 1/2 R 1/2 -> 1/2; neutral P 2/3 R 1 -> 4/5; pos P 1 R 1/2 -> 2/3
    assert scores["per_class"] == pytest.approx({"neg": 50.0, "neutral": 80.0, "pos": 200 / 3})
    assert scores["macro_f1"] == pytest.approx((50 + 80 + 200 / 3) / 3)
    assert scores["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]  # rows gold, columns predicted
    assert scores["labels"] == LABELS and scores["count"] == 6
    assert json.loads(json.dumps(scores)) == scores  # JSON-able as is


def test_absent_class_counts_zero_in_macro_f1() -> None:
    scores = classification_scores([0, 1], [0, 1], ["a", "b", "c", "d"])
    assert scores["accuracy"] == 100.0 and scores["macro_f1"] == pytest.approx(50.0)
    assert scores["confusion"] == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_edge_cases() -> None:
    empty = classification_scores([], [], ["a", "b"])
    assert empty["accuracy"] == 0.0 and empty["confusion"] == [[0, 0], [0, 0]] and empty["count"] == 0
    with pytest.raises(ValueError, match="2 gold labels but 1 predictions"):
        classification_scores([0, 1], [0], ["a", "b"])


def test_confusion_png(tmp_path: Path) -> None:
    from matplotlib.image import imread

    scores = classification_scores(GOLD, PREDICTED, LABELS)
    path = save_confusion_png(scores["confusion"], LABELS, tmp_path / "confusion.png", title="dev")
    assert path == tmp_path / "confusion.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    five = ["very negative", "negative", "neutral", "positive", "very positive"]
    zeros = [[0] * 5 for _ in five]  # an empty row must not divide by zero
    assert save_confusion_png(zeros, five, tmp_path / "five.png").stat().st_size > 0

"""Sentence classification scores (scikit-learn) and the confusion-matrix picture."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


def classification_scores(gold: Sequence[int], predicted: Sequence[int], labels: Sequence[str]) -> dict:
    """``{"accuracy", "macro_f1", "per_class": {label: f1}, "confusion", "labels", "count"}``, scores in percent
    (0-100, as every task of this package reports them), for class ids
    ``0..len(labels)-1``. ``confusion[i][j]`` counts gold class i predicted as j; classes never seen nor
    predicted count 0 in macro-F1 (every class of ``labels`` is averaged, as in the SST literature)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    ids = list(range(len(labels)))
    if not gold:
        return {
            "accuracy": 0.0,
            "macro_f1": 0.0,
            "per_class": {label: 0.0 for label in labels},
            "confusion": [[0] * len(ids) for _ in ids],
            "labels": list(labels),
            "count": 0,
        }
    per_class = f1_score(gold, predicted, labels=ids, average=None, zero_division=0.0)
    return {
        "accuracy": 100.0 * float(accuracy_score(gold, predicted)),
        "macro_f1": 100.0 * float(per_class.mean()),
        "per_class": {label: 100.0 * float(f) for label, f in zip(labels, per_class, strict=True)},
        "confusion": confusion_matrix(gold, predicted, labels=ids).tolist(),
        "labels": list(labels),
        "count": len(gold),
    }


def save_confusion_png(
    confusion: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """Write the confusion matrix (rows gold, columns predicted; counts and row shares) as a PNG."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = np.asarray(confusion, dtype=float).reshape(len(labels), len(labels))
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    size = 1.2 + 1.1 * len(labels)
    figure = Figure(figsize=(size + 1.0, size))
    FigureCanvasAgg(figure)  # the Agg backend, without pyplot's global state
    axes = figure.subplots()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of gold row")
    axes.set_xticks(range(len(labels)), labels=labels, rotation=30, ha="right")
    axes.set_yticks(range(len(labels)), labels=labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    if title:
        axes.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            color = "white" if shares[i, j] > 0.5 else "black"
            axes.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", color=color, fontsize=9)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    return path

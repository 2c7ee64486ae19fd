"""What every finished run folder holds beside ``metrics.json``, the same for every task:

    predictions_<split>.*   the best model's predictions of the dev and test splits, in the task's own
                            format (NER: conlleval columns; sentiment: TSV; QA: the official JSON)
    scores.md               the scores of each split (percent), with the task's table per entity type,
                            class or question word
    curves.png              training loss and validation score per epoch (from logs/metrics.csv)
    train.log               what the run printed (see :mod:`tasks.common.progress`)

A :class:`~tasks.common.task.Task` supplies ``write_predictions(model, split, config, stem)`` and
``BREAKDOWN``, the key of its per-type table in the scores; ``write_report(run_dir, metrics)`` adds
task-only files (sentiment's confusion matrices; nothing by default).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from elmo_features.atomic import atomic_path, write_text_atomic
from tasks.common.task import Task

SPLITS = (("dev", "validation"), ("test", "test"))


def write_run_report(
    run_dir: Path, task: Task, built, config, metrics: dict[str, Any], monitor: str, log: Path
) -> None:
    """Predictions per split, ``scores.md``, ``curves.png`` and the task's own files into ``run_dir``."""
    for key, name in SPLITS:
        split = getattr(built, name)
        if split is not None:
            task.write_predictions(built.model, split, config, run_dir / f"predictions_{key}")
    write_text_atomic(run_dir / "scores.md", scores_markdown(metrics, task.BREAKDOWN))
    plot_curves(log, run_dir / "curves.png", monitor)
    task.write_report(run_dir, metrics)


def _number(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def scores_markdown(metrics: dict[str, Any], breakdown: str) -> str:
    """Each split's overall scores, then its ``breakdown`` table (rows of score dicts, or of one F1)."""
    lines = ["Scores in percent (counts are counts)."]
    for key, _ in SPLITS:
        scores = metrics.get(key)
        if not isinstance(scores, dict):
            continue
        overall = ", ".join(f"{k} {_number(v)}" for k, v in scores.items() if isinstance(v, (int, float)))
        lines += ["", f"## {key}", "", overall]
        table = scores.get(breakdown) or {}
        if table:
            rows = {name: row if isinstance(row, dict) else {"f1": row} for name, row in table.items()}
            columns = list(next(iter(rows.values())))
            lines += ["", f"| {breakdown.removeprefix('per_')} | " + " | ".join(columns) + " |"]
            lines.append("| --- " * (len(columns) + 1) + "|")
            lines += [f"| {n} | " + " | ".join(_number(r[c]) for c in columns) + " |" for n, r in rows.items()]
    return "\n".join(lines) + "\n"


def read_curves(log: Path, monitor: str) -> dict[str, dict[int, float]]:
    """``{"train_loss": {epoch: value}, monitor: {epoch: value}}`` from a CSVLogger file."""
    curves: dict[str, dict[int, float]] = {"train_loss": {}, monitor: {}}
    if log.is_file():
        with log.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                for name, values in curves.items():
                    if row.get(name) and row.get("epoch", "").isdigit():
                        values[int(row["epoch"])] = float(row[name])
    return curves


def plot_curves(log: Path, path: Path, monitor: str) -> None:
    """Training loss (left axis) and the validation score (right axis) per epoch, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curves = read_curves(log, monitor)
    figure = Figure(figsize=(6.0, 3.6))
    FigureCanvasAgg(figure)  # the Agg backend, without pyplot's global state
    loss_axes = figure.subplots()
    loss = curves["train_loss"]
    loss_axes.plot([e + 1 for e in loss], list(loss.values()), "o-", color="#4c72b0", label="train loss")
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel("train loss", color="#4c72b0")
    if curves[monitor]:
        score_axes = loss_axes.twinx()
        score = curves[monitor]
        score_axes.plot([e + 1 for e in score], list(score.values()), "s-", color="#dd8452")
        score_axes.set_ylabel(f"{monitor} (percent)", color="#dd8452")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, format="png")

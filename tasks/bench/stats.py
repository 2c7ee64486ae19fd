"""Is run B better than run A? A paired bootstrap over test items when every run's test predictions can be scored
item by item (NER ``.conll`` and sentiment ``.tsv`` hold the gold labels; QA ``.json`` is scored against the test
file its run's ``config.yaml`` names), else a paired t-test over seeds.

Bootstrap: the test items are resampled with replacement ``resamples`` times; each resample scores every seed
of both runs on the same items, and the statistic is mean(B over seeds) - mean(A over seeds). The p-value is
two-sided: twice the share of resamples on the far side of 0 (at least 1/resamples).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from elmo_features.errors import ElmoError


@dataclass
class Difference:
    diff: float  # mean(B) - mean(A), percentage points
    low: float | None  # 95% interval (bootstrap only)
    high: float | None
    p: float | None
    test: str  # what was done, for the table

    def text(self) -> str:
        interval = f", 95% CI [{self.low:+.2f}, {self.high:+.2f}]" if self.low is not None else ""
        p = f", p = {self.p:.3g}" if self.p is not None else ""
        return f"{self.diff:+.2f}{interval}{p} ({self.test})"


def item_counts(path: Path, metric: str) -> np.ndarray | None:
    """Per test item, the counts that ``metric`` sums: NER ``f1`` ``(true positive spans, predicted, gold)`` per
    sentence, sentiment ``accuracy`` ``(correct, 1)`` per sentence, QA ``f1`` or ``exact_match`` ``(score, 1)``
    per question; None when the file cannot give that metric."""
    if path.suffix == ".tsv" and metric == "accuracy":
        rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:] if line]
        return np.array([[float(r[0] == r[1]), 1.0] for r in rows])
    if path.suffix == ".conll" and metric == "f1":
        from seqeval.metrics.sequence_labeling import get_entities

        counts = []
        for block in path.read_text(encoding="utf-8").split("\n\n"):
            rows = [line.split(" ") for line in block.splitlines() if line]
            if not rows:
                continue
            gold, predicted = set(get_entities([r[-2] for r in rows])), set(get_entities([r[-1] for r in rows]))
            counts.append([len(gold & predicted), len(predicted), len(gold)])
        return np.array(counts, dtype=float)
    if path.suffix == ".json" and metric in ("f1", "exact_match"):
        from tasks.qa.metric import exact_match, f1, question_scores

        if (gold := _qa_gold(path.parent / "config.yaml")) is None:
            return None
        predictions = json.loads(path.read_text(encoding="utf-8"))
        scores = question_scores(gold, predictions, f1 if metric == "f1" else exact_match)
        return np.array([[score, 1.0] for score in scores])
    return None


def _qa_gold(config: Path) -> dict[str, list[str]] | None:
    """``{question_id: [gold answers]}`` of the test file that a QA run's ``config.yaml`` names; None without that
    file (a results folder read where the data is not)."""
    from tasks.common.config import expand_env, read_yaml

    try:
        return _gold_of(str(expand_env(read_yaml(config, str(config))["data"]["test"], str(config))))
    except (ElmoError, OSError, KeyError, TypeError):
        return None


@cache
def _gold_of(test: str) -> dict[str, list[str]]:  # one parse per test file, for every run and metric
    from tasks.qa.metric import gold_answers
    from tasks.qa.reader import read_squad_json

    return gold_answers(read_squad_json(test))


def score(sums: np.ndarray) -> np.ndarray:
    """Percent scores from summed counts (``..., k``): accuracy for k = 2, span F1 for k = 3."""
    if sums.shape[-1] == 2:
        return 100.0 * sums[..., 0] / np.maximum(sums[..., 1], 1)
    return 100.0 * 2 * sums[..., 0] / np.maximum(sums[..., 1] + sums[..., 2], 1)


def predictions_file(folder: Path) -> Path | None:
    found = sorted(folder.glob("predictions_test.*"))
    return found[0] if found else None


def bootstrap(a: list[np.ndarray], b: list[np.ndarray], resamples: int = 10_000, seed: int = 0) -> Difference:
    """Paired bootstrap of mean-over-seeds(B) - mean-over-seeds(A); every array is (items, k) in one item order."""
    rng = np.random.default_rng(seed)
    items = a[0].shape[0]
    observed = float(np.mean([score(x.sum(0)) for x in b]) - np.mean([score(x.sum(0)) for x in a]))
    diffs = []
    for start in range(0, resamples, 500):
        picks = rng.integers(0, items, size=(min(500, resamples - start), items))
        means = [np.mean([score(x[picks].sum(1)) for x in run], axis=0) for run in (a, b)]
        diffs.append(means[1] - means[0])
    d = np.concatenate(diffs)
    p = min(1.0, 2 * max(min(float(np.mean(d <= 0)), float(np.mean(d >= 0))), 1 / resamples))
    low, high = np.percentile(d, [2.5, 97.5])
    test = f"paired bootstrap over {items} test items, {resamples} resamples, {len(a)}+{len(b)} seeds averaged"
    return Difference(observed, float(low), float(high), p, test)


def paired_t(a: dict[int, float], b: dict[int, float]) -> Difference:
    """Paired t-test over the seeds both runs finished (scipy)."""
    seeds = sorted(set(a) & set(b))
    diff = float(np.mean([b[s] - a[s] for s in seeds])) if seeds else float("nan")
    if len(seeds) < 2:
        return Difference(diff, None, None, None, f"{len(seeds)} paired seed(s): no test")
    from scipy.stats import ttest_rel

    p = float(ttest_rel([b[s] for s in seeds], [a[s] for s in seeds]).pvalue)
    return Difference(diff, None, None, None if np.isnan(p) else p, f"paired t-test over {len(seeds)} seeds")


def compare(
    a: dict[int, Path], b: dict[int, Path], a_scores: dict[int, float], b_scores: dict[int, float], metric: str
) -> Difference:
    """B - A in ``metric``: bootstrap over test items when every seed's test predictions can be scored item by item
    (:func:`item_counts`), else paired t."""
    loaded = [[item_counts(p, metric) for p in run.values() if p is not None] for run in (a, b)]
    usable = all(loaded) and all(c is not None for run in loaded for c in run)
    every_seed = len(loaded[0]) == len(a) and len(loaded[1]) == len(b)  # else the means differ from the table's
    if usable and every_seed and len({c.shape for run in loaded for c in run}) == 1:
        return bootstrap(*loaded)
    return paired_t(a_scores, b_scores)

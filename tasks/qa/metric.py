"""SQuAD v1.1 exact match and F1, as the official ``evaluate-v1.1.py`` computes them.

Answers are normalised (lowercase, punctuation removed, articles a/an/the removed, whitespace
collapsed); a prediction scores the maximum over the gold answers; totals are percentages over
every question of the dataset (an unanswered question scores 0, and is reported).
"""

from __future__ import annotations

import logging
import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from elmo_features.errors import ElmoError

log = logging.getLogger(__name__)

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lowercase, drop punctuation, drop articles, collapse whitespace (the official order)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
    """Token-overlap F1 of the normalised answers (0 when nothing is shared)."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_over_gold(metric, prediction: str, golds: Sequence[str]) -> float:
    """The best score of ``prediction`` against any gold answer."""
    return max(metric(prediction, g) for g in golds)


def squad_scores(golds: Sequence[Sequence[str]], predictions: Sequence[str]) -> dict[str, float]:
    """``{"exact_match", "f1"}`` in percent (0-100) over aligned lists; questions without gold answers
    are not scorable and raise ValueError."""
    if len(golds) != len(predictions):
        raise ValueError(f"{len(golds)} gold answer lists but {len(predictions)} predictions")
    if not golds:
        return {"exact_match": 0.0, "f1": 0.0, "total": 0}
    em = f = 0.0
    for i, (gold, prediction) in enumerate(zip(golds, predictions, strict=True)):
        if not gold:
            raise ValueError(f"question {i} has no gold answers")
        em += best_over_gold(exact_match, prediction, gold)
        f += best_over_gold(f1, prediction, gold)
    return {"exact_match": 100.0 * em / len(golds), "f1": 100.0 * f / len(golds), "total": len(golds)}


def gold_answers(dataset_json: Any) -> dict[str, list[str]]:
    """``{question_id: [gold answer texts]}`` of parsed SQuAD JSON."""
    try:
        return {
            qa["id"]: [a["text"] for a in qa["answers"]]
            for article in dataset_json["data"]
            for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]
        }
    except (KeyError, TypeError) as err:
        raise ElmoError(f"dataset is not SQuAD JSON (missing or wrong key near {err})") from None


def question_scores(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str], metric) -> list[float]:
    """Per answerable question of ``gold`` (``{question_id: [answers]}``), in its order, the best ``metric`` of its
    prediction against any gold answer; 0 without a prediction."""
    return [
        best_over_gold(metric, predictions[q], answers) if q in predictions else 0.0
        for q, answers in gold.items()
        if answers
    ]


def evaluate_predictions(dataset_json: Any, predictions: Mapping[str, str]) -> dict[str, Any]:
    """Official EM/F1 of ``{question_id: answer_text}`` on parsed SQuAD JSON. Ids the dataset lacks are
    an error; dataset questions without a prediction score 0 and are counted in ``missing``."""
    if not isinstance(predictions, Mapping) or not all(isinstance(v, str) for v in predictions.values()):
        raise ElmoError("predictions are not a JSON object of question id -> answer text")
    gold = gold_answers(dataset_json)
    unknown = [qid for qid in predictions if qid not in gold]
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        raise ElmoError(f"predictions hold {len(unknown)} question ids the dataset does not have: {shown}")
    missing = [qid for qid in gold if qid not in predictions]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        log.warning("%d of %d questions have no prediction (scored 0): %s", len(missing), len(gold), shown)
    em, f = (question_scores(gold, predictions, metric) for metric in (exact_match, f1))
    total = len(em)
    return {
        "exact_match": 100.0 * sum(em) / total if total else 0.0,
        "f1": 100.0 * sum(f) / total if total else 0.0,
        "total": total,
        "missing": len(missing),
    }

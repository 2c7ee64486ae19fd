"""Span-level precision / recall / F1 (conlleval's convention, computed by seqeval).

An entity counts as correct only when both its boundaries and its type match. Tags are
BIOUL (as the reader and the tagger give them); each sequence is turned into IOB2 with the
same chunks (an invalid one repaired as conlleval does, see :mod:`tasks.ner.tags`) and
scored by seqeval's default, conlleval-compatible mode. Scores with no predicted (or no
gold) entities are 0, as in conlleval. Scores are percentages (0-100), as conlleval prints them and
as every task of this package reports them.
"""

from __future__ import annotations

from collections.abc import Sequence

from seqeval.metrics.sequence_labeling import get_entities, precision_recall_fscore_support

from tasks.ner.tags import bioul_to_iob2


def span_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict:
    """``{"precision", "recall", "f1", "support", "per_type": {TYPE: {same keys}}}`` in percent; micro-averaged
    overall, support = number of gold entities."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")
    y_true = [bioul_to_iob2(tags) for tags in gold]
    y_pred = [bioul_to_iob2(tags) for tags in predicted]
    types = sorted({chunk[0] for tags in (y_true, y_pred) for chunk in get_entities(tags)})
    per_type = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    overall = precision_recall_fscore_support(y_true, y_pred, average="micro", zero_division=0)
    result = _scores(*overall)
    result["per_type"] = {type_: _scores(*row) for type_, *row in zip(types, *per_type, strict=True)}
    return result


def _scores(precision, recall, f1, support) -> dict:
    return {
        "precision": 100.0 * float(precision),
        "recall": 100.0 * float(recall),
        "f1": 100.0 * float(f1),
        "support": int(support),
    }

"""Span F1 on hand-made cases whose scores are worked out by hand."""

from __future__ import annotations

import random
import warnings

import pytest
from seqeval.metrics import f1_score

from tasks.ner.metric import span_f1


def test_two_gold_two_predicted_one_correct() -> None:
    gold = [["B-PER", "L-PER", "O", "U-LOC"]]
    predicted = [["B-PER", "L-PER", "O", "U-ORG"]]
    result = span_f1(gold, predicted)
    assert (result["precision"], result["recall"], result["f1"], result["support"]) == (
        50.0,
        50.0,
        50.0,
        2,
    )  # percent, as every task
    assert result["per_type"] == {
        "LOC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "ORG": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
        "PER": {"precision": 100.0, "recall": 100.0, "f1": 100.0, "support": 1},
    }


def test_per_type_and_micro_average() -> None:
    gold = [
        ["B-PER", "L-PER", "O", "U-LOC"],
        ["U-ORG", "O", "B-MISC", "L-MISC"],
        ["O", "O"],
    ]
    predicted = [
        ["B-PER", "L-PER", "O", "U-ORG"],  # PER right; ORG wrong (gold LOC missed)
        ["U-ORG", "O", "U-MISC", "O"],  # ORG right; MISC has the wrong end
        ["U-PER", "O"],  # spurious PER
    ]
    # gold 4 entities, predicted 5, correct 2: P = 2/5, R = 2/4, F1 = 2PR / (P + R) = 4/9
    result = span_f1(gold, predicted)
    assert result["precision"] == pytest.approx(40.0)
    assert result["recall"] == pytest.approx(50.0)
    assert result["f1"] == pytest.approx(400 / 9)
    assert result["support"] == 4
    per_type = result["per_type"]
    assert list(per_type) == ["LOC", "MISC", "ORG", "PER"]
    assert per_type["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert per_type["MISC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    # ORG: 2 predicted, 1 correct, 1 gold; PER: the same
    for name in ("ORG", "PER"):
        assert per_type[name]["precision"] == pytest.approx(50.0)
        assert per_type[name]["recall"] == pytest.approx(100.0)
        assert per_type[name]["f1"] == pytest.approx(200 / 3)
        assert per_type[name]["support"] == 1


def test_invalid_predictions_are_repaired_as_conlleval_does() -> None:
    gold = [["O", "B-PER", "L-PER", "O", "B-LOC", "I-LOC", "L-LOC"]]
    # I- after O starts a chunk, a missing L- is closed by O / the sentence end: both spans are right
    predicted = [["O", "I-PER", "L-PER", "O", "B-LOC", "I-LOC", "I-LOC"]]
    assert span_f1(gold, predicted)["f1"] == 100.0
    # chunks never run across sentences
    assert span_f1([["O", "U-PER"], ["U-PER", "O"]], [["O", "B-PER"], ["I-PER", "O"]])["f1"] == 100.0


def test_matches_seqeval_on_the_same_chunks_in_iobes() -> None:
    rng = random.Random(1)
    vocabulary = ["O", *(f"{p}-{t}" for p in "BILU" for t in ("A", "B"))]
    gold = [rng.choices(vocabulary, k=rng.randint(1, 8)) for _ in range(300)]
    predicted = [rng.choices(vocabulary, k=len(tags)) for tags in gold]
    iobes = str.maketrans("LU", "ES")
    expected = f1_score(
        [[t.translate(iobes) for t in s] for s in gold], [[t.translate(iobes) for t in s] for s in predicted]
    )
    assert span_f1(gold, predicted)["f1"] == pytest.approx(100 * expected)


def test_no_entities_scores_zero_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = span_f1([["O", "O"]], [["O", "O"]])
    assert result == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "per_type": {}}


def test_length_mismatch() -> None:
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        span_f1([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 1: 1 gold tags but 2 predicted"):
        span_f1([["O"], ["O"]], [["O"], ["O", "O"]])

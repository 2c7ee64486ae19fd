"""SQuAD v1.1 EM/F1: each normalisation rule, max over gold answers, prediction-file checks."""

from __future__ import annotations

import pytest

from elmo_features.errors import ElmoError
from tasks.qa.metric import evaluate_predictions, exact_match, f1, normalize_answer, squad_scores


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("Denver BRONCOS", "denver broncos"),  # lowercase
        ("Super-Bowl 50!", "superbowl 50"),  # punctuation removed (not replaced by a space)
        ("the Broncos", "broncos"),  # articles
        ("A cat and an owl", "cat and owl"),
        ("theater another", "theater another"),  # only whole words are articles
        ("  lots   of\tspace\n", "lots of space"),  # whitespace collapsed
        ("The, end.", "end"),  # punctuation goes before articles
    ],
)
def test_normalisation_rules(text, normal):
    assert normalize_answer(text) == normal


def test_exact_match_and_f1():
    assert exact_match("The Denver Broncos!", "denver broncos") == 1.0
    assert exact_match("Denver", "denver broncos") == 0.0
    assert f1("Denver", "denver broncos") == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert f1("the", "a") == 0.0  # both normalise to nothing
    assert f1("Broncos Broncos", "Broncos") == pytest.approx(2 * 0.5 * 1.0 / 1.5)  # counts, not sets


def test_max_over_gold_answers():
    scores = squad_scores([["Denver Broncos", "Broncos", "the Broncos"], ["Carolina"]], ["Broncos", "Panthers"])
    assert scores == {"exact_match": 50.0, "f1": 50.0, "total": 2}


def dataset():
    qas = [
        {"id": "a", "question": "?", "answers": [{"text": "Broncos", "answer_start": 0}]},
        {"id": "b", "question": "?", "answers": [{"text": "Denver Broncos", "answer_start": 0}]},
    ]
    return {"data": [{"paragraphs": [{"context": "Denver Broncos", "qas": qas}]}]}


def test_evaluate_predictions(caplog):
    assert evaluate_predictions(dataset(), {"a": "the broncos", "b": "Denver"}) == pytest.approx(
        {"exact_match": 50.0, "f1": 100 * (1 + 2 / 3) / 2, "total": 2, "missing": 0}
    )
    result = evaluate_predictions(dataset(), {"a": "Broncos"})
    assert result["missing"] == 1 and result["exact_match"] == 50.0
    assert "1 of 2 questions have no prediction" in caplog.text and "b" in caplog.text
    with pytest.raises(ElmoError, match="1 question ids the dataset does not have: 'zzz'"):
        evaluate_predictions(dataset(), {"a": "x", "zzz": "y"})
    with pytest.raises(ElmoError, match="not SQuAD JSON"):
        evaluate_predictions({"data": [{}]}, {})
    with pytest.raises(ElmoError, match="question id -> answer text"):
        evaluate_predictions(dataset(), {"a": 1})

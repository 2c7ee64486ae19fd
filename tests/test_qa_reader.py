"""SQuAD reader: offsets, answer alignment (counted, snapped), training truncation, bad input."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from elmo_features.errors import ElmoError
from elmo_features.tokenizer import tokenize_with_offsets
from tasks.qa.reader import char_to_token_span, load_split, read_squad, truncate_for_training

CONTEXT = "The Normans gave their name to Normandy in the 10th century."


def squad(paragraphs: list[dict]) -> dict:
    return {"version": "1.1", "data": [{"title": "T", "paragraphs": paragraphs}]}


def qa(qid: str, question: str, *answers: tuple[str, int]) -> dict:
    return {"id": qid, "question": question, "answers": [{"text": t, "answer_start": s} for t, s in answers]}


def write(tmp_path: Path, data, name: str = "train-v1.1.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_tokenize_keeps_offsets():
    text = "Hello, world's  end.\n3.5% don't"
    tokens = tokenize_with_offsets(text)
    assert [t for t, _, _ in tokens] == ["Hello", ",", "world", "'s", "end", ".", "3.5", "%", "do", "n't"]
    assert all(text[s:e] == t for t, s, e in tokens)


def test_char_to_token_span():
    offsets = [(s, e) for _, s, e in tokenize_with_offsets(CONTEXT)]
    start = CONTEXT.index("Normandy")
    assert char_to_token_span(offsets, start, start + len("Normandy")) == ((6, 6), True)
    start = CONTEXT.index("10th")
    assert char_to_token_span(offsets, start, start + 2) == ((9, 9), False)  # "10" inside "10th": snapped
    start = CONTEXT.index("ormans")
    assert char_to_token_span(offsets, start, start + len("ormans gave")) == ((1, 2), False)
    assert char_to_token_span(offsets, 3, 4) is None  # a space


def test_read_aligns_counts_and_keeps_all_answers(tmp_path, caplog):
    data = squad(
        [
            {
                "context": CONTEXT,
                "qas": [
                    qa("q1", "Where?", ("Normandy", CONTEXT.index("Normandy")), ("to Normandy", 28)),
                    qa("q2", "Which century?", ("10", CONTEXT.index("10th"))),
                ],
            }
        ]
    )
    with caplog.at_level(logging.WARNING):
        split = read_squad(write(tmp_path, data))
    first, second = split.examples
    assert first.answers == ["Normandy", "to Normandy"] and first.span == (6, 6)
    assert first.text(*first.span) == "Normandy" and first.question == ["Where", "?"]
    assert second.span == (9, 9) and second.text(*second.span) == "10th"
    assert (split.answers, split.misaligned) == (3, 1)
    assert "1 not on token boundaries" in caplog.text


def test_truncate_for_training_counts_skipped():
    offsets = [(s, e) for _, s, e in tokenize_with_offsets(CONTEXT)]
    from tasks.qa.reader import QaExample

    tokens = [t for t, _, _ in tokenize_with_offsets(CONTEXT)]
    early = QaExample("a", ["q"], CONTEXT, tokens, offsets, ["The"], (0, 0))
    late = QaExample("b", ["q"], CONTEXT, tokens, offsets, ["century"], (10, 10))
    kept, skipped = truncate_for_training([early, late], 5)
    assert skipped == 1 and [e.id for e in kept] == ["a"] and len(kept[0].tokens) == 5
    assert truncate_for_training([early, late], None) == ([early, late], 0)


def test_load_split_folder_and_dev_alias(tmp_path):
    write(tmp_path, squad([{"context": "a b", "qas": [qa("x", "q?", ("b", 2))]}]), "dev-v1.1.json")
    assert load_split(tmp_path, "validation").examples[0].id == "x"
    with pytest.raises(ElmoError, match="not found"):
        load_split(tmp_path / "missing.json", "train")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (squad([{"context": "a b", "qas": [qa("x", "q?", ("a", 0)), qa("x", "q?", ("b", 2))]}]), "'x' is repeated"),
        (squad([{"context": "a b", "qas": [qa("x", "q?", ("a", 9))]}]), "outside the context"),
        (squad([{"context": "a b", "qas": [qa("x", "q?", ("b", 0))]}]), "does not match the context"),
        (squad([{"context": " ... ", "qas": [qa("x", "q?")]}]), None),  # punctuation is a token: fine
        (squad([{"context": "   ", "qas": [qa("x", "q?")]}]), "the context has no tokens"),
        ({"version": "1.1"}, "not SQuAD JSON"),
        ([1, 2], "not SQuAD JSON"),
        ("{not json", "not SQuAD JSON"),
    ],
)
def test_bad_input_is_one_line_error(tmp_path, data, message):
    path = write(tmp_path, data)
    if message is None:
        assert read_squad(path).examples[0].tokens == ["..."]
        return
    with pytest.raises(ElmoError, match=message) as info:
        read_squad(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_hub_rows_become_examples(monkeypatch):
    import datasets

    import tasks.qa.reader as reader

    rows = {
        "id": ["h1", "h2"],
        "title": ["T", "T"],
        "context": [CONTEXT, CONTEXT],
        "question": ["Where?", "When?"],
        "answers": [
            {"text": ["Normandy"], "answer_start": [CONTEXT.index("Normandy")]},
            {"text": ["10th century", "10th"], "answer_start": [CONTEXT.index("10th")] * 2},
        ],
    }
    seen = {}

    def fake_hub(name, split, hint):
        seen.update(name=name, split=split)
        return datasets.Dataset.from_dict(rows)

    monkeypatch.setattr(reader, "load_hub_split", fake_hub)
    split = load_split("hub:squad", "validation")
    assert seen == {"name": "squad", "split": "validation"}
    assert [e.span for e in split.examples] == [(6, 6), (9, 10)]
    assert split.examples[1].answers == ["10th century", "10th"] and split.source == "squad[validation]"

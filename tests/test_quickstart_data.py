"""The generated quickstart data: deterministic, readable by the project's readers, and ambiguous
where it says it is (a word's NER type, a sentence's polarity, a QA answer depend on context)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tasks import quickstart_data as qd
from tasks.ner.reader import load_split as load_ner
from tasks.ner.tags import to_bioul
from tasks.sentiment.reader import load_split as load_sentiment

CORPUS = 2000  # corpus sentences in the written test folder (the default is larger)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return qd.write_task_files(tmp_path_factory.mktemp("qs") / "data", seed=7, corpus_sentences=CORPUS)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_files(written: dict[str, Path], tmp_path: Path) -> None:
    again = qd.write_task_files(tmp_path / "again", seed=7, corpus_sentences=CORPUS)
    first, second = _files(written["corpus"].parent), _files(again["corpus"].parent)
    assert first == second
    assert set(first) == {
        "corpus.txt",
        "ambiguous.json",
        *(f"ner/{s}.txt" for s in qd.SIZES["ner"]),
        *(f"sentiment/{s}.tsv" for s in qd.SIZES["sentiment"]),
        *(f"qa/{s}.json" for s in qd.SIZES["qa"]),
    }
    other = qd.write_task_files(tmp_path / "other", seed=8, corpus_sentences=CORPUS)
    assert _files(other["corpus"].parent)["ner/train.txt"] != first["ner/train.txt"]
    assert qd.generate_corpus(50, 1) == qd.generate_corpus(50, 1)
    assert qd.generate_qa(20, 1) == qd.generate_qa(20, 1)


def test_rewrite_replaces_the_folder_atomically(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "stale.txt").write_text("old")
    paths = qd.write_task_files(folder, seed=1, corpus_sentences=10)
    assert not (folder / "stale.txt").exists()
    assert paths["corpus"].read_text().count("\n") == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no temporary folders left


def test_corpus(written: dict[str, Path]) -> None:
    lines = written["corpus"].read_text(encoding="utf-8").splitlines()
    assert len(lines) == CORPUS and all(line.split() for line in lines)
    corpus = qd.generate_corpus(5000, 3)
    words = Counter(w for s in corpus for w in s)
    assert 300 <= len(words) <= 2000
    assert 8 <= sum(words.values()) / len(corpus) <= 14
    for word in ("bank", "play", "Jordan", "Paris", "not", "but", "predictable"):
        assert words[word] > 0, word


def test_ner_files_parse(written: dict[str, Path]) -> None:
    ambiguous = json.loads(written["ambiguous"].read_text())["ner"]
    for split, n in qd.SIZES["ner"].items():
        data = load_ner(written["ner"], split, scheme="IOB2", labels=[f"{p}-{t}" for p in "BI" for t in qd.NER_TYPES])
        assert len(data) == n
        generated = qd.generate_ner(n, qd.split_seed(7, "ner", split), labelled=split != "test")
        assert data["tokens"] == [s.tokens for s in generated]
        assert data["tags"] == [to_bioul(s.tags, "IOB2") for s in generated]
        marked = {tuple(pair) for pair in ambiguous[split]}
        found = {(i, j) for i, s in enumerate(generated) for j, t in enumerate(s.tokens) if t in qd.AMBIGUOUS_NER}
        assert marked == found and len(found) > n / 2


def test_labelled_splits_hold_out_some_templates() -> None:
    """Train/valid never show every UNSEEN_EVERY-th template; the test split and the corpus do."""

    def cues(sentences) -> set[tuple[str, ...]]:  # the words around the entities: the template
        return {tuple(t for t, g in zip(s.tokens, s.tags, strict=True) if g == "O") for s in sentences}

    held_out = [
        t for ts in qd._NER_TEMPLATES.values() for i, t in enumerate(ts) if i % qd.UNSEEN_EVERY == qd.UNSEEN_EVERY - 1
    ]
    pattern = {
        tuple(w for w in t.split() if not w.startswith("{")) for t in held_out if "{" not in t.replace("{X}", "")
    }
    assert pattern, "some held-out templates have no filler slot"
    assert not pattern & cues(qd.generate_ner(2000, 3, labelled=True))
    assert pattern <= cues(qd.generate_ner(2000, 3))


def test_ambiguous_words_take_every_reading() -> None:
    sentences = qd.generate_ner(1500, 11)
    readings: dict[str, Counter] = defaultdict(Counter)
    for s in sentences:
        for j in s.ambiguous:
            readings[s.tokens[j]][s.tags[j][2:]] += 1
    assert set(readings) == set(qd.AMBIGUOUS_NER)
    for word, counts in readings.items():
        assert set(counts) == set(qd.AMBIGUOUS_NER[word]), word
        assert min(counts.values()) >= 0.25 * sum(counts.values()), (word, counts)  # the word alone does not decide


def test_sentiment_files_parse(written: dict[str, Path]) -> None:
    marks = json.loads(written["ambiguous"].read_text())
    for split, n in qd.SIZES["sentiment"].items():
        data = load_sentiment(written["sentiment"], split, classes=2)
        generated = qd.generate_sentiment(n, qd.split_seed(7, "sentiment", split))
        assert data["tokens"] == [e.tokens for e in generated]
        assert data["label"] == [e.label for e in generated]
        assert abs(sum(data["label"]) - n / 2) <= 1
        assert marks["sentiment"][split] == [i for i, e in enumerate(generated) if e.kind != "plain"]
        kinds = marks["sentiment_kinds"][split]
        assert sorted(i for indices in kinds.values() for i in indices) == marks["sentiment"][split]


def _polarity(word: str) -> int | None:
    return 1 if word in qd.POSITIVE_WORDS else 0 if word in qd.NEGATIVE_WORDS else None


def test_negation_and_contrast_flip_labels() -> None:
    examples = qd.generate_sentiment(1500, 5)
    labels_by_word: dict[tuple[str, str], set[int]] = defaultdict(set)
    for e in examples:
        polar = [(i, _polarity(w)) for i, w in enumerate(e.tokens) if _polarity(w) is not None]
        if e.kind == "plain" and polar:
            assert e.label == polar[-1][1], e
        elif e.kind == "negation" and polar:
            i, polarity = polar[-1]
            assert set(e.tokens[:i]) & {"not", "never", "hardly", "from", "nothing"}, e
            assert e.label == 1 - polarity, e  # the negation flips the word
            labels_by_word[(e.tokens[i], "negated")].add(e.label)
        elif e.kind == "contrast":
            assert len(polar) == 2 and polar[0][1] != polar[1][1], e
            assert e.label == polar[1][1], e  # the clause after "but" / "yet" / the comma decides
        elif e.kind == "context":
            word = next(w for w in e.tokens if w in qd.CONTEXT_WORDS)
            labels_by_word[(word, "context")].add(e.label)
    # the same word gives both labels in plain vs negated sentences
    plain = {w: e.label for e in examples if e.kind == "plain" for w in e.tokens if _polarity(w) is not None}
    flipped = [w for (w, how), labels in labels_by_word.items() if how == "negated" and plain.get(w) not in labels]
    assert len(flipped) >= 10
    both = [w for (w, how), labels in labels_by_word.items() if how == "context" and labels == {0, 1}]
    assert len(both) >= 4  # a context word is positive or negative depending on what it describes
    assert "not" in {w for e in examples for w in e.tokens}


def test_qa_offsets_and_ambiguous_ids(written: dict[str, Path]) -> None:
    marks = json.loads(written["ambiguous"].read_text())["qa"]
    for split, n in qd.SIZES["qa"].items():
        squad = json.loads(written[f"qa/{split}"].read_text())
        assert squad["version"] == "1.1"
        qas = [(p["context"], qa) for article in squad["data"] for p in article["paragraphs"] for qa in p["qas"]]
        assert len(qas) == n and len({qa["id"] for _, qa in qas}) == n
        repeated = 0
        for context, qa in qas:
            (answer,) = qa["answers"]
            start = answer["answer_start"]
            assert context[start : start + len(answer["text"])] == answer["text"], qa
            assert start == 0 or context[start - 1] == " "
            repeated += context.count(answer["text"]) > 1
        assert repeated > n / 10  # the answer word also occurs elsewhere in the passage (another role)
        ambiguous = [qa["id"] for _, qa in qas if qa["answers"][0]["text"] in qd.AMBIGUOUS_NER]
        assert marks[split] == ambiguous and len(ambiguous) > n / 4


def test_qa_files_parse(written: dict[str, Path]) -> None:
    reader = pytest.importorskip("tasks.qa.reader")
    for split, n in qd.SIZES["qa"].items():
        data = reader.load_split(written["qa"], split)
        assert len(data.examples) == n and data.misaligned == 0
        for example in data.examples:
            assert example.span is not None and example.text(*example.span) == example.answers[0]

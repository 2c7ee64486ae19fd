"""`elmo-tasks corpus prepare`: tokenised sentences, drops counted, held-out by document, bad input, atomic output."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

import elmo_features.corpus_prepare as cp
from elmo_features.corpus_prepare import clean, in_heldout, prepare
from tasks.cli import main

DOCS = [
    "The film was great.<br /><br />I didn't like the end &amp; the music.",
    "",
    "Shr 1.20 vs 1.10. Net profit rose 12 pct. 7/10",
    "The film was great. A second review of a bad movie.",
    "Reuters said <IBM> shares rose. " + "word " * 30 + ".",
    "Stocks fell in Tokyo. Traders were nervous.",
    "Another day, another dollar. Rain is expected tomorrow.",
    "She flew to Oslo on Monday. Jordan stayed home.",
]


def write_docs(path: Path, docs: list[str], gz: bool = False) -> Path:
    data = ("\n".join(docs) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_clean_html_and_keeps_other_angle_brackets():
    assert clean("a<br />b <i>c</i> &quot;d&quot; &#233;") == ('a b  c  "d" é', True)
    assert clean("shares of <IBM> and <sighs>") == ("shares of <IBM> and <sighs>", False)


def test_prepare_counts_drops_and_splits_by_document(tmp_path, capsys):
    docs = [write_docs(tmp_path / "a.txt.gz", DOCS[:4], gz=True), write_docs(tmp_path / "b.txt", DOCS[4:])]
    out = tmp_path / "out"
    stats = prepare(docs, out, heldout=0.3, max_tokens=25)
    train = (out / "train.txt").read_text(encoding="utf-8").splitlines()
    heldout = (out / "heldout.txt").read_text(encoding="utf-8").splitlines()
    assert "The film was great ." in train + heldout
    assert "I did n't like the end & the music ." in train + heldout  # HTML gone, entity decoded, PTB clitic
    assert all(line == " ".join(line.split()) for line in train + heldout)  # single spaces
    assert stats.dropped_lines == {"blank": 1, "no_usable_sentence": 0}
    assert stats.dropped_sentences == {"not_text": 1, "too_long": 1, "duplicate": 1}  # 7/10, 30 words, "The film..."
    assert stats.html_cleaned == 1 and stats.lines == 8
    for name, lines in (("train", train), ("heldout", heldout)):
        part = getattr(stats, name)
        assert part.sentences == len(lines) > 0 and part.tokens == sum(len(line.split()) for line in lines)
    held_docs = [d for d in DOCS if d and in_heldout(d, 0.3)]
    assert stats.heldout.documents == len(held_docs)
    assert json.loads((out / "stats.json").read_text())["train"] == {
        "documents": stats.train.documents,
        "sentences": stats.train.sentences,
        "tokens": stats.train.tokens,
    }
    err = capsys.readouterr().err
    assert "tok/s" in err and "done in" in err and "\r" not in err  # plain progress lines off a terminal
    again = tmp_path / "again"
    prepare(list(reversed(docs)), again, heldout=0.3, max_tokens=25, progress=False)
    assert sorted((again / "heldout.txt").read_text().splitlines()) == sorted(heldout)  # by document, not order


def test_cli_reports_counts(tmp_path, capsys):
    src = write_docs(tmp_path / "docs.txt", DOCS)
    assert main(["corpus", "prepare", str(src), "-o", str(tmp_path / "out"), "--heldout", "0.3"]) == 0
    err = capsys.readouterr().err
    assert "dropped sentences: not_text 1" in err and "heldout:" in err
    assert "corpus prepare: 7/7 doc (100%)" in err  # the final progress line (stderr is not a terminal)
    assert main(["corpus", "prepare", str(src), "-o", str(tmp_path / "quiet"), "--heldout", "0.3", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "heldout:" in err and "corpus prepare:" not in err


def _truncated_gzip(path: Path) -> Path:
    data = gzip.compress(("\n".join(DOCS) + "\n").encode() * 20)
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda p: write_docs(p, ["12 34", "", "---"]), [], "no usable sentence"),
        (lambda p: p.write_bytes(b"good text here.\nsome\x00binary\n") and p, [], "NUL byte"),
        (lambda p: p.write_bytes(b"caf\xe9 au lait.\n") and p, [], "not valid UTF-8"),
        (_truncated_gzip, [], "cannot read"),
        (lambda p: write_docs(p, ["Just one document here."]), ["--heldout", "0.0001"], "heldout slice is empty"),
        (lambda p: write_docs(p, ["A text."]), ["--heldout", "0"], "between 0 and 1"),
        (lambda p: p.with_name("missing.txt"), [], "not found"),
    ],
)
def test_bad_input_one_line_nothing_written(tmp_path, capsys, make, args, message):
    src = make(tmp_path / "docs.txt")
    out = tmp_path / "out"
    out.mkdir()
    (out / "train.txt").write_text("earlier\n")
    assert main(["corpus", "prepare", str(src), "-o", str(out), *args]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if not line.startswith("corpus prepare:")]  # progress lines aside
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["train.txt"]  # no temporary or half-written file
    assert (out / "train.txt").read_text() == "earlier\n"


def test_interrupt_leaves_nothing(tmp_path, monkeypatch, capsys):
    src = write_docs(tmp_path / "docs.txt", DOCS)

    def interrupted(items, batch_size):
        for _ in items:
            raise KeyboardInterrupt
        yield  # pragma: no cover

    monkeypatch.setattr(cp, "split_sentences", interrupted)
    out = tmp_path / "out"
    assert main(["corpus", "prepare", str(src), "-o", str(out)]) == 130
    assert list(out.iterdir()) == []


def test_documents_of_several_sources_come_out_mixed(tmp_path):
    """pretrain shuffles only within a buffer: sources given one after another must not stay in blocks."""
    films = write_docs(tmp_path / "films.txt", [f"Film number {i} was great." for i in range(40)])
    news = write_docs(tmp_path / "news.txt", [f"Stocks fell {i} points." for i in range(40)])

    def order(seed: int | None, name: str) -> list[str]:
        prepare([films, news], tmp_path / name, heldout=0.05, seed=seed, progress=False)
        return (tmp_path / name / "train.txt").read_text(encoding="utf-8").splitlines()

    mixed = order(0, "s0")
    assert mixed == order(0, "s0again")  # the same seed, the same file
    assert mixed != order(1, "s1") and sorted(mixed) == sorted(order(1, "s1"))
    first_half = mixed[: len(mixed) // 2]
    assert 5 < sum(line.startswith("Film") for line in first_half) < len(first_half) - 5
    kept = order(None, "file_order")
    assert kept == sorted(kept, key=lambda line: not line.startswith("Film"))  # all films first: input order

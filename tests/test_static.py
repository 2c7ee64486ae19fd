"""Static vectors: every file format, vocabulary filtering, the OOV matrix, errors, word2vec, the CLI."""

from __future__ import annotations

import argparse
import bz2
import gzip
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from elmo_features.errors import ElmoError
from elmo_features.static import StaticVectors, build_matrix, load_vectors, train_word2vec
from tasks.commands.vectors import add_parser

WORDS = ["the", "The", "paris", "bank", "river", "zebra"]
VECTORS = np.arange(len(WORDS) * 3, dtype=np.float32).reshape(-1, 3) / 4 - 1  # exact in text


def _lines(header: bool, trailing: str = "") -> str:
    rows = [f"{w} {' '.join(str(x) for x in v)}{trailing}" for w, v in zip(WORDS, VECTORS, strict=True)]
    return "\n".join(([f"{len(WORDS)} 3"] if header else []) + rows) + "\n"


def _binary(path: Path) -> Path:
    kv = KeyedVectors(3)
    kv.add_vectors(WORDS, VECTORS)
    kv.save_word2vec_format(str(path), binary=True)
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, explicit format) of the same six vectors in every supported layout."""
    glove, w2v, vec = tmp_path / "g.txt", tmp_path / "w.txt", tmp_path / "f.vec"
    glove.write_text(_lines(header=False))
    w2v.write_text(_lines(header=True))
    vec.write_text(_lines(header=True, trailing=" "))  # fastText .vec lines end with a space
    gz = tmp_path / "g.txt.gz"
    gz.write_bytes(gzip.compress(glove.read_bytes()))
    renamed_gz = tmp_path / "g.data"  # compression is recognised by its bytes, not the name
    renamed_gz.write_bytes(gz.read_bytes())
    bz = tmp_path / "w.txt.bz2"
    bz.write_bytes(bz2.compress(w2v.read_bytes()))
    zipped = tmp_path / "g.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        z.write(glove, "inner/glove.txt")
    binary = _binary(tmp_path / "w.bin")
    binary_gz = tmp_path / "w.bin.gz"
    binary_gz.write_bytes(gzip.compress(binary.read_bytes()))
    return {
        "glove": (glove, "glove"),
        "word2vec": (w2v, "word2vec"),
        "fasttext": (vec, "fasttext"),
        "gz": (gz, "glove"),
        "renamed-gz": (renamed_gz, "glove"),
        "bz2": (bz, "word2vec"),
        "zip": (zipped, "glove"),
        "binary": (binary, "word2vec-binary"),
        "binary-gz": (binary_gz, "word2vec-binary"),
    }


ALL = ["glove", "word2vec", "fasttext", "gz", "renamed-gz", "bz2", "zip", "binary", "binary-gz"]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("explicit", [False, True])
def test_every_format_loads_whole(files, name, explicit):
    path, fmt = files[name]
    vectors = load_vectors(path, format=fmt if explicit else "auto")
    assert vectors.words == WORDS and vectors.dim == 3
    assert vectors.vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors.vectors, VECTORS)


@pytest.mark.parametrize("name", ALL)
def test_vocabulary_keeps_only_needed_rows_with_case_fallback(files, name):
    vectors = load_vectors(files[name][0], vocabulary=["The", "PARIS", "River", "unseen"])
    # "The" exactly and "the" as its lower case; "paris" and "river" only lower-cased
    assert vectors.words == ["the", "The", "paris", "river"]
    np.testing.assert_array_equal(vectors.vectors, VECTORS[[0, 1, 2, 4]])
    assert vectors.lookup("The") == 1  # exact first
    assert vectors.lookup("THE") == 0  # then lower-cased
    assert vectors.lookup("PARIS") == 2
    assert vectors.lookup("bank") is None  # not needed, not kept
    assert load_vectors(files[name][0], vocabulary=[]).words == []


def test_filtered_load_streams_and_whole_load_uses_gensim(files, monkeypatch):
    calls = []
    real = KeyedVectors.load_word2vec_format

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(KeyedVectors, "load_word2vec_format", spy)
    load_vectors(files["glove"][0], vocabulary=["bank"])
    load_vectors(files["zip"][0])  # gensim cannot open zip members
    assert calls == []
    load_vectors(files["glove"][0])
    load_vectors(files["binary"][0])
    assert calls == [{"binary": False, "no_header": True}, {"binary": True, "no_header": False}]


def test_zip_member_by_path_and_ambiguous_zip(tmp_path, files):
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(files["glove"][0], "glove.50d.txt")
        z.write(files["word2vec"][0], "glove.300d.txt")
    assert load_vectors(archive / "glove.300d.txt", vocabulary=["bank"]).words == ["bank"]
    with pytest.raises(ElmoError, match=r"two.zip holds 2 files \(glove.50d.txt, glove.300d.txt\); name one as"):
        load_vectors(archive)
    with pytest.raises(ElmoError, match=r"has no member 'nope.txt'"):
        load_vectors(archive / "nope.txt")


def test_glove_840b_words_with_spaces(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("the 1 2 3\n. . . 4 5 6\nat name@domain.com 7 8 9\n")
    for vocabulary in (None, ["the"]):
        vectors = load_vectors(path, vocabulary=vocabulary)
        assert vectors.words == (["the", ". . .", "at name@domain.com"] if vocabulary is None else ["the"])
    np.testing.assert_array_equal(load_vectors(path).vectors[2], [7, 8, 9])


@pytest.mark.parametrize("vocabulary", [None, ["the"]])
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("the 1 2 3\nbank 1 2\n", r"g.txt:2: 2 values where line 1 has 3 \(inconsistent dimensions\)"),
        ("the 1 2 3\n\nbank 1 2 3\nriver 1 2 3 4\n", r"g.txt:4: 4 values where line 1 has 3"),
        ("2 3\nthe 1 2 3\nbank 1 2 3 4\n", r"g.txt:3: 4 values where the header has 3"),
        ("2 3\nthe 1 2\nbank 1 2 3\n", r"g.txt:2: 2 values where the header has 3"),
        ("3 3\nthe 1 2 3\nbank 1 2 3\n", r"g.txt: the header promises 3 vectors but the file ends after 2"),
        ("bank 1 2 3\nthe 1 x 3\n", r"g.txt:2: 'x' is not a number"),  # kept rows are parsed
        ("the\n", r"g.txt:1: a word without a vector"),
        ("", r"g.txt is empty: no vectors"),
        ("\n  \n", r"g.txt is empty: no vectors"),
    ],
)
def test_bad_text_files_are_one_line_errors(tmp_path, text, message, vocabulary):
    path = tmp_path / "g.txt"
    path.write_text(text)
    with pytest.raises(ElmoError, match=message) as err:
        load_vectors(path, vocabulary=vocabulary)
    assert "\n" not in str(err.value)


def test_binary_given_as_text(tmp_path, files):
    binary = files["binary"][0]
    for fmt in ("word2vec", "fasttext", "glove"):
        with pytest.raises(ElmoError, match=r"w.bin is binary, not \w+ text; use format 'word2vec-binary'"):
            load_vectors(binary, format=fmt)
    raw = b"\x0a\x00\x00\x3f\x00\x00\x80\x3e"  # float32 bytes that start with a newline
    newline_first = tmp_path / "nl.bin"
    newline_first.write_bytes(b"1 2\nw " + raw)
    np.testing.assert_array_equal(load_vectors(newline_first).vectors, np.frombuffer(raw, "<f4")[None])
    noise = tmp_path / "noise.txt"
    noise.write_bytes(b"the 1 2 3\nbank 1 \x00\xff 3\n")
    with pytest.raises(ElmoError, match=r"noise.txt:2: binary data \(byte 0x00\) in a text vectors file"):
        load_vectors(noise)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("the 1 2\ncaf\u00e9 1 2\n".encode("latin-1"))
    with pytest.raises(ElmoError, match=r"latin.txt:2: binary data \(byte 0xe9\)"):
        load_vectors(latin, vocabulary=["the"])


def test_wrong_explicit_format_and_other_bad_inputs(tmp_path, files):
    with pytest.raises(ElmoError, match=r"g.txt:1: no 'count dim' header line, so not word2vec"):
        load_vectors(files["glove"][0], format="word2vec")
    with pytest.raises(ElmoError, match=r"w.txt:1: a 'count dim' header, so word2vec/fastText text, not glove"):
        load_vectors(files["word2vec"][0], format="glove")
    with pytest.raises(ElmoError, match=r"w.txt is text, not word2vec binary"):
        load_vectors(files["word2vec"][0], format="word2vec-binary")
    with pytest.raises(ElmoError, match=r"unknown vectors format 'word2vec-bin' \(valid: auto, glove"):
        load_vectors(files["glove"][0], format="word2vec-bin")
    with pytest.raises(ElmoError, match=r"vectors file not found: .*missing\.txt"):
        load_vectors(tmp_path / "missing.txt")
    with pytest.raises(ElmoError, match="vectors file is a directory"):
        load_vectors(tmp_path)
    fasttext_bin = tmp_path / "cc.en.300.bin"
    fasttext_bin.write_bytes(b"\xba\x16\x4f\x2f\x0c\x00\x00\x00" + bytes(100))
    with pytest.raises(ElmoError, match=r"is a fastText binary model; give its .vec text file"):
        load_vectors(fasttext_bin)
    truncated = tmp_path / "t.bin"
    truncated.write_bytes(files["binary"][0].read_bytes()[:-5])
    with pytest.raises(ElmoError, match=r"t.bin: the header promises 6 vectors but the file ends after 5"):
        load_vectors(truncated)
    broken_gz = tmp_path / "b.txt.gz"
    broken_gz.write_bytes(files["gz"][0].read_bytes()[:-12])
    with pytest.raises(ElmoError, match=r"b.txt.gz: cannot read \(gzip\)"):
        load_vectors(broken_gz, vocabulary=["the"])


def test_save_text_round_trip_and_atomic(tmp_path):
    rng = np.random.default_rng(0)
    vectors = StaticVectors(["a", "B", "\u00e9t\u00e9"], rng.normal(size=(3, 5)).astype(np.float32))
    for header in (True, False):
        path = tmp_path / f"v{header}.txt"
        vectors.save_text(path, header=header)
        assert path.read_text(encoding="utf-8").startswith("3 5\n" if header else "a ")
        loaded = load_vectors(path, format="word2vec" if header else "glove")
        assert loaded.words == vectors.words
        np.testing.assert_array_equal(loaded.vectors, vectors.vectors)  # float32 round-trips exactly
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "vTrue.txt"))  # gensim reads it unaided
    np.testing.assert_array_equal(kv["B"], vectors.vectors[1])

    target = tmp_path / "vTrue.txt"
    before = target.read_bytes()
    bad = StaticVectors(["a", "b", "two words"], np.zeros((3, 5), np.float32))
    with pytest.raises(ElmoError, match="cannot write word 'two words'"):
        bad.save_text(target)
    assert target.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vFalse.txt", "vTrue.txt"]  # no temp file left
    with pytest.raises(ElmoError, match="does not exist"):
        vectors.save_text(tmp_path / "no" / "v.txt")


def test_build_matrix_oov_policy():
    vectors = StaticVectors(["the", "The", "paris"], np.array([[1, 1], [2, 2], [3, 3]], np.float32))
    vocabulary = ["@@PADDING@@", "@@UNKNOWN@@", "The", "THE", "Paris", "zebra"]
    matrix, hits = build_matrix(vectors, vocabulary, dim=2, seed=3)
    assert matrix.shape == (6, 2) and matrix.dtype == np.float32 and hits == 3
    np.testing.assert_array_equal(matrix[0], [0, 0])  # padding
    np.testing.assert_array_equal(matrix[2:5], [[2, 2], [1, 1], [3, 3]])  # exact, lower, lower
    again, _ = build_matrix(vectors, vocabulary, dim=2, seed=3)
    np.testing.assert_array_equal(matrix, again)
    other, _ = build_matrix(vectors, vocabulary, dim=2, seed=4)
    assert not np.array_equal(matrix[[1, 5]], other[[1, 5]])  # UNK and OOV rows are seeded random
    # random rows are scaled to the vectors' std, and do not depend on which words were found
    random_only, hits = build_matrix(None, vocabulary, dim=2, seed=3)
    assert hits == 0
    np.testing.assert_allclose(matrix[5], random_only[5] * vectors.vectors.std(), rtol=1e-6)
    big, _ = build_matrix(None, ["<pad>", "<unk>"] + [str(i) for i in range(5000)], dim=4, seed=0)
    assert abs(big[2:].std() - 1.0) < 0.02
    with pytest.raises(ElmoError, match="embedding dim 3 does not match the vectors' dim 2"):
        build_matrix(vectors, vocabulary, dim=3)


CORPUS = "\n".join(
    " ".join(f"w{(i * 7 + j * 3) % 40}" for j in range(12)) + (" rare" if i == 0 else "") for i in range(200)
)


def test_word2vec_deterministic_per_seed_and_written_as_text(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS + "\n")
    settings = {"dim": 8, "epochs": 2, "min_count": 2, "progress": False}
    first = train_word2vec(corpus, tmp_path / "a.txt", seed=1, **settings)
    second = train_word2vec(corpus, tmp_path / "b.txt", seed=1, **settings)
    other = train_word2vec(corpus, tmp_path / "c.txt", seed=2, **settings)
    cbow = train_word2vec(corpus, tmp_path / "d.txt", seed=1, sg=False, **settings)
    assert (tmp_path / "a.txt").read_bytes() == (tmp_path / "b.txt").read_bytes()
    np.testing.assert_array_equal(first.vectors, second.vectors)
    assert not np.allclose(first.vectors, other.vectors)
    assert not np.allclose(first.vectors, cbow.vectors)
    assert len(first) == 40 and "rare" not in first.index and first.dim == 8
    loaded = load_vectors(tmp_path / "a.txt", format="word2vec")
    assert loaded.words == first.words
    np.testing.assert_array_equal(loaded.vectors, first.vectors)


def test_word2vec_bad_corpus_leaves_nothing(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(CORPUS.encode() + b"\nbad \xff byte\n")
    output = tmp_path / "out.txt"
    with pytest.raises(ElmoError, match=r"corpus.txt:201: not valid UTF-8 \(byte 0xff\)"):
        train_word2vec(corpus, output, dim=4, epochs=1, progress=False)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(ElmoError, match=r"empty.txt is empty: no words to train on"):
        train_word2vec(empty, output, progress=False)
    corpus.write_text("a b c\n")
    with pytest.raises(ElmoError, match="no word occurs 2 times or more; lower --min-count"):
        train_word2vec(corpus, output, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt", "empty.txt"]


def _cli(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="elmo-tasks")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.func(args)


@pytest.mark.parametrize("method", ["glove", "word2vec"])
def test_cli_train_and_inspect(tmp_path, capsys, method):
    corpus = tmp_path / "corpus.txt.gz"
    corpus.write_bytes(gzip.compress(CORPUS.encode()))
    output = tmp_path / f"{method}.txt"
    _cli(["vectors", "train", "--method", method, str(corpus), "-o", str(output), "--dim", "6", "--epochs", "2"])
    assert capsys.readouterr().out == f"wrote 40 vectors of dimension 6 to {output}\n"
    assert output.read_text().startswith("40 6\n")
    _cli(["vectors", "inspect", str(output), "w1", "-k", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{output}: 40 vectors of dimension 6" and lines[1].startswith("w1: w")
    assert len(lines[1].split(", ")) == 2


def test_cli_rejects_word2vec_options_for_glove(tmp_path):
    with pytest.raises(ElmoError, match="--sg/--cbow choose the word2vec architecture"):
        _cli(["vectors", "train", "--method", "glove", "c.txt", "-o", str(tmp_path / "o"), "--cbow"])
    with pytest.raises(ElmoError, match="epochs must be positive, got 0"):
        _cli(["vectors", "train", "--method", "word2vec", "c.txt", "-o", str(tmp_path / "o"), "--epochs", "0"])

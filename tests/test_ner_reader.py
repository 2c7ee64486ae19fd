"""Tag schemes (IOB1 / IOB2 / BIOUL), the CoNLL reader and the hub fallback (mocked, no network)."""

from __future__ import annotations

import random
from pathlib import Path

import datasets
import pytest
from seqeval.metrics.sequence_labeling import get_entities

from elmo_features.errors import ElmoError
from tasks.ner import reader
from tasks.ner.reader import load_split, read_conll
from tasks.ner.tags import bioul_to_iob2, from_spans, is_valid, spans, to_bioul

# --- tags -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "tags", "bioul"),
    [
        # CoNLL-2003's original IOB1: I- starts a chunk, B- only splits adjacent chunks of one type
        ("IOB1", "I-ORG O I-PER I-PER O I-LOC B-LOC I-LOC", "U-ORG O B-PER L-PER O U-LOC B-LOC L-LOC"),
        ("IOB1", "I-PER I-LOC I-LOC", "U-PER B-LOC L-LOC"),
        ("IOB1", "B-PER I-PER", "B-PER L-PER"),  # B- after O: still one chunk (conlleval)
        ("IOB2", "B-PER I-PER B-PER O B-LOC", "B-PER L-PER U-PER O U-LOC"),
        ("IOB2", "O I-PER I-PER", "O B-PER L-PER"),  # repaired: I- after O starts a chunk
        ("IOB2", "B-PER I-LOC O", "U-PER U-LOC O"),  # repaired: a type change starts a chunk
        ("BIOUL", "U-PER O B-ORG I-ORG L-ORG", "U-PER O B-ORG I-ORG L-ORG"),
        ("BIOUL", "S-PER B-LOC E-LOC", "U-PER B-LOC L-LOC"),  # BIOES spelling
        ("BIOUL", "B-PER O", "U-PER O"),  # repaired: O closes an open chunk
        ("BIOUL", "B-PER I-PER", "B-PER L-PER"),
        ("BIOUL", "L-PER I-PER", "U-PER U-PER"),  # L closes, so the I- starts a new chunk
        ("BIOUL", "U-PER L-PER", "U-PER U-PER"),
        ("BIOUL", "O O", "O O"),
    ],
)
def test_to_bioul(scheme: str, tags: str, bioul: str) -> None:
    assert to_bioul(tags.split(), scheme) == bioul.split()


def test_spans_are_end_exclusive() -> None:
    assert spans(["U-ORG", "O", "B-PER", "L-PER", "O", "U-LOC", "B-LOC", "L-LOC"]) == [
        ("ORG", 0, 1),
        ("PER", 2, 4),
        ("LOC", 5, 6),
        ("LOC", 6, 8),
    ]
    assert spans([]) == []


@pytest.mark.parametrize(
    ("scheme", "tags"),
    [
        ("IOB1", "I-ORG O I-PER I-PER O I-LOC B-LOC I-LOC I-MISC"),
        ("IOB2", "B-ORG O B-PER I-PER O B-LOC B-LOC I-LOC B-MISC"),
        ("BIOUL", "U-ORG O B-PER L-PER O U-LOC B-LOC L-LOC U-MISC"),
    ],
)
def test_round_trip(scheme: str, tags: str) -> None:
    tags = tags.split()
    bioul = to_bioul(tags, scheme)
    assert from_spans(spans(bioul), len(tags), scheme) == tags
    assert to_bioul(bioul_to_iob2(bioul), "IOB2") == bioul


@pytest.mark.parametrize("scheme", ["IOB1", "IOB2", "BIOUL"])
def test_chunks_agree_with_seqeval_conlleval_mode(scheme: str) -> None:
    """Random (mostly invalid) sequences: our chunks are seqeval's default-mode chunks."""
    prefixes = {"IOB1": "BI", "IOB2": "BI", "BIOUL": "BILU"}[scheme]
    vocabulary = ["O", *(f"{p}-{t}" for p in prefixes for t in ("A", "B"))]
    to_seqeval = str.maketrans("LU", "ES")  # BIOUL is seqeval's IOBES with other letters
    rng = random.Random(0)
    for _ in range(2000):
        tags = rng.choices(vocabulary, k=rng.randint(0, 7))
        expected = [(t, s, e + 1) for t, s, e in get_entities([tag.translate(to_seqeval) for tag in tags])]
        assert spans(to_bioul(tags, scheme)) == expected, tags


def test_is_valid() -> None:
    assert is_valid("O", "IOB2") and is_valid("B-PER", "IOB1") and is_valid("I-B-X", "IOB2")
    assert is_valid("U-PER", "BIOUL") and is_valid("E-PER", "BIOUL")
    for tag in ("L-PER", "U-PER", "B-", "PER", "B_PER", "X-PER", "BI-PER", "o", ""):
        assert not is_valid(tag, "IOB2"), tag
    with pytest.raises(ValueError, match="unknown tag scheme 'BIO'"):
        is_valid("O", "BIO")
    with pytest.raises(ValueError, match="unknown IOB2 tag 'L-PER'"):
        to_bioul(["L-PER"], "IOB2")


def test_from_spans_rejects_overlaps() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        from_spans([("A", 0, 2), ("B", 1, 3)], 3)


# --- CoNLL files ------------------------------------------------------------------------

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O
. . O O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER


-DOCSTART- -X- -X- O
BRUSSELS NNP B-NP I-LOC
"""


def write(tmp_path: Path, text: str | bytes, name: str = "data.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_reads_conll2003_columns_iob1(tmp_path: Path) -> None:
    data = read_conll(write(tmp_path, CONLL), scheme="IOB1")
    assert isinstance(data, datasets.Dataset)
    assert data.column_names == ["tokens", "tags", "line"]
    assert data["tokens"] == [["EU", "rejects", "German", "call", "."], ["Peter", "Blackburn"], ["BRUSSELS"]]
    assert data["tags"] == [["U-ORG", "O", "U-MISC", "O", "O"], ["B-PER", "L-PER"], ["U-LOC"]]
    assert data["line"] == [3, 9, 14]


def test_reads_tab_separated_two_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "@paul\tB-person\nNew York\tB-location\n!\tO\r\n\nhi\tO\n", "wnut.tsv")
    data = read_conll(path, separator="\t")
    assert data["tokens"] == [["@paul", "New York", "!"], ["hi"]]
    assert data["tags"] == [["U-person", "U-location", "O"], ["O"]]
    assert data["line"] == [1, 5]


def test_columns_bioul_input_and_labels(tmp_path: Path) -> None:
    path = write(tmp_path, "B-PER x Ann\nL-PER x Lee\nO x ran\n")
    data = read_conll(path, token_column=2, tag_column=0, scheme="BIOUL", labels=["B-PER", "L-PER"])
    assert data["tokens"] == [["Ann", "Lee", "ran"]] and data["tags"] == [["B-PER", "L-PER", "O"]]


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("a B-PER\nb\n", {}, "data.txt:2: 1 columns, expected 2, in 'b'"),
        ("a x B-PER\n\nb O\n", {}, "data.txt:3: 2 columns, expected 3, in 'b O'"),
        ("a B-PER\nb\u00a0O\n", {"separator": " "}, "data.txt:2: 1 columns, expected 2, in 'b\\xa0O'"),
        ("a O\nb X-PER\n", {}, "data.txt:2: unknown tag 'X-PER' (IOB2 tags are O or B/I-TYPE)"),
        ("a O\nb L-PER\n", {}, "data.txt:2: unknown tag 'L-PER' (IOB2 tags are O or B/I-TYPE)"),
        (
            "a B-PER\nb I-LOC\n",
            {"labels": ["B-PER", "I-PER"]},
            "data.txt:2: unknown tag 'I-LOC' (not in the given labels)",
        ),
        ("a O\n", {"tag_column": 3}, "data.txt:1: 2 columns, no column 3 in 'a O'"),
        ("", {}, "data.txt: no sentences"),
        ("-DOCSTART- O\n\n\n", {}, "data.txt: no sentences"),
        (b"a O\n\xe9t\xe9 O\n", {}, "data.txt:2: not valid UTF-8 (byte 0xe9)"),
        ("a O\n", {"scheme": "BIO"}, "unknown tag scheme 'BIO'; expected one of IOB1, IOB2, BIOUL"),
    ],
)
def test_bad_input_is_one_line_error(tmp_path: Path, text: str, kwargs: dict, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ElmoError) as error:
        read_conll(path, **kwargs)
    assert str(error.value) == (message if message.startswith("unknown tag scheme") else f"{tmp_path}/{message}")


def test_strip_prefix_and_the_warning_when_most_tokens_share_one(tmp_path: Path, caplog) -> None:
    path = write(tmp_path, "en:Ann B-PER\nen:ran O\n.\tO\n\nen:Bo B-PER\n")
    with caplog.at_level("WARNING"):
        assert read_conll(path)["tokens"] == [["en:Ann", "en:ran", "."], ["en:Bo"]]
    assert "3 of 4 tokens start with 'en:'" in caplog.text and "data.strip_prefix: 'en:'" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert read_conll(path, strip_prefix="en:")["tokens"] == [["Ann", "ran", "."], ["Bo"]]
        read_conll(write(tmp_path, "Ann B-PER\nhttp://x O\n", "few.txt"))  # half the tokens: no warning
    assert caplog.text == ""


@pytest.mark.parametrize(("separator", "fields"), [("tab", ["a b", "O"]), ("\\t", ["a b", "O"])])
def test_separator_names_and_empty_separator(tmp_path: Path, separator: str, fields: list[str]) -> None:
    path = write(tmp_path, "a b\tO\n")
    assert read_conll(path, separator=separator)["tokens"] == [[fields[0]]]
    with pytest.raises(ElmoError, match=r"data\.txt: separator '': an empty separator cannot split columns"):
        read_conll(path, separator="")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ElmoError, match=r"CoNLL file not found: .*nope\.txt"):
        read_conll(tmp_path / "nope.txt")
    with pytest.raises(ElmoError, match="is a directory"):
        read_conll(tmp_path)


# --- load_split -------------------------------------------------------------------------


@pytest.fixture
def no_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list:
    """DATA_DIR points at an empty folder; a hub call is recorded and fails as offline."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    calls: list = []

    def offline(*args, **kwargs):
        calls.append((args, kwargs))
        raise ConnectionError("Couldn't reach 'conll2003' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(reader.datasets, "load_dataset", offline)
    return calls


def test_load_split_reads_file_folder_and_data_dir(tmp_path: Path, no_hub: list) -> None:
    folder = tmp_path / "data" / "mini"
    folder.mkdir(parents=True)
    write(folder, "a B-PER\n", "valid.txt")
    write(folder, "b B-LOC\n", "train.txt")
    assert load_split(folder / "train.txt", "ignored")["tags"] == [["U-LOC"]]
    assert load_split(str(folder), "validation")["tags"] == [["U-PER"]]  # hub split name -> valid.txt
    assert load_split("mini", "train")["tokens"] == [["b"]]  # found under DATA_DIR
    with pytest.raises(ElmoError, match=r"mini: no file for split 'test' \(looked for test.txt, test\)"):
        load_split("mini", "test")
    with pytest.raises(ElmoError, match=r"CoNLL file not found: missing/train\.txt "):
        load_split("missing/train.txt", "train")
    with pytest.raises(ElmoError, match=r"^CoNLL file not found: conll2003 .*named hub:NAME\)$"):
        load_split("conll2003", "train")  # a typo or a missing folder is a missing file, never a hub download
    assert no_hub == []


def test_load_split_offline_hub_is_one_line_error(no_hub: list) -> None:
    with pytest.raises(ElmoError) as error:
        load_split("hub:conll2003", "validation")
    message = str(error.value)
    assert "\n" not in message and message.startswith("cannot load 'conll2003' split 'validation'")
    assert message.endswith("pass a local CoNLL file path, or set DATA_DIR to the folder that holds it")
    assert no_hub == [(("conll2003",), {"split": "validation"})]  # never trust_remote_code


def test_load_split_converts_hub_class_labels(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names)),
        }
    )
    hub = datasets.Dataset.from_dict(
        {"id": ["0", "1"], "tokens": [["Ann", "Lee", "in", "Rome"], ["ok"]], "ner_tags": [[1, 2, 0, 3], [0]]},
        features=features,
    )
    calls: list = []
    monkeypatch.setattr(reader.datasets, "load_dataset", lambda *a, **k: calls.append((a, k)) or hub)
    data = load_split("hub:someone/ner-set", "train")
    assert calls == [(("someone/ner-set",), {"split": "train"})]
    assert data.column_names == ["tokens", "tags", "line"]
    assert data["tags"] == [["B-PER", "L-PER", "O", "U-LOC"], ["O"]] and data["line"] == [1, 2]
    with pytest.raises(ElmoError, match=r"someone/ner-set\[train\] row 1: unknown tag 'B-PER' \(not in"):
        load_split("hub:someone/ner-set", "train", labels=["B-LOC"])
    monkeypatch.setattr(reader.datasets, "load_dataset", lambda *a, **k: hub.select([]))
    with pytest.raises(ElmoError, match=r"^someone/ner-set\[test\]: no sentences$"):
        load_split("hub:someone/ner-set", "test")

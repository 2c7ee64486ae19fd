"""SST tree parser and reader, the TSV reader, load_split and the hub fallback (mocked, no network)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import datasets
import pytest

from elmo_features.errors import ElmoError
from tasks.sentiment import reader
from tasks.sentiment.reader import Node, load_split, parse_tree, read_sst, read_tsv

# (3 (2 It) (4 (2 's) (4 (2 a) (4 (3 lovely) (2 film))))): 5 leaves, 9 nodes
LOVELY = "(3 (2 It) (4 (2 's) (4 (2 a) (4 (3 lovely) (2 film)))))"
ESCAPES = "(1 (2 -LRB-) (1 (0 bad) (2 (2 -RRB-) (2 1\\/2\\*))))"
NEUTRAL = "(2 (2 Just) (2 okay))"
NEGATIVE = "(0 (1 not) (3 good))"


def write(tmp_path: Path, text: str | bytes, name: str = "data.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# --- parse_tree ---------------------------------------------------------------------------


def test_parse_nested_tree() -> None:
    root = parse_tree(LOVELY)
    assert root.label == 3 and root.word is None and len(root.children) == 2
    assert root.children[0] == Node(2, (), "It")
    assert root.leaves() == ["It", "'s", "a", "lovely", "film"]
    assert [node.label for node in root.nodes()] == [3, 2, 4, 2, 4, 2, 4, 3, 2]  # pre-order, root first
    assert [node.leaves() for node in root.nodes()][4] == ["a", "lovely", "film"]
    assert parse_tree("(4 great)") == Node(4, (), "great")
    assert parse_tree("  (1\t(2 a)\n(0 b) )  ").leaves() == ["a", "b"]


def test_parse_undoes_ptb_escapes() -> None:
    assert parse_tree(ESCAPES).leaves() == ["(", "bad", ")", "1/2*"]
    assert parse_tree("(2 8\xa01\\/2)").word == "8\xa01/2"  # a non-breaking space is part of the word (SST train)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("(3 (2 a) (2 b)", "unbalanced parentheses: missing 1 ')'"),
        ("(3 (2 a) (2 b", "unbalanced parentheses: missing 2 ')'"),
        ("(3 (2 a)) (2 b))", "unbalanced parentheses: text after the tree closed ('(')"),
        ("(3 (2 a)))", "unbalanced parentheses: text after the tree closed (')')"),
        ("(3 (2 a) (5 b))", "label '5' is not 0-4"),
        ("(-1 a)", "label '-1' is not 0-4"),
        ("(pos a)", "label 'pos' is not 0-4"),
        ("((2 a))", "'(' without a label (found '(')"),
        ("(3)", "node labelled 3 has no word and no subtrees"),
        ("(3 a b)", "unexpected word 'b' (a leaf holds one word, an inner node only subtrees)"),
        ("(3 a (2 b))", "node has both a word ('a') and subtrees"),
        ("a (2 b)", "expected '(' at the start of the tree, found 'a'"),
        ("   ", "empty tree"),
        ("(3", "unbalanced parentheses: missing 1 ')'"),
        ("(3 (2 a) (", "unbalanced parentheses: missing 2 ')'"),
    ],
)
def test_parse_errors(line: str, message: str) -> None:
    with pytest.raises(ElmoError) as error:
        parse_tree(line)
    assert str(error.value) == message


# --- read_sst -----------------------------------------------------------------------------


def test_read_sst_roots(tmp_path: Path) -> None:
    data = read_sst(write(tmp_path, f"{LOVELY}\n\n{ESCAPES}\r\n{NEUTRAL}\n{NEGATIVE}\n"))
    assert isinstance(data, datasets.Dataset) and data.column_names == ["tokens", "label", "line"]
    assert data["tokens"] == [
        ["It", "'s", "a", "lovely", "film"],
        ["(", "bad", ")", "1/2*"],
        ["Just", "okay"],
        ["not", "good"],
    ]
    assert data["label"] == [3, 1, 2, 0] and data["line"] == [1, 3, 4, 5]


def test_read_sst_phrases(tmp_path: Path) -> None:
    data = read_sst(write(tmp_path, f"{LOVELY}\n{NEUTRAL}\n"), phrases=True)
    assert len(data) == 9 + 3  # every node, duplicates kept
    assert data["line"] == [1] * 9 + [2] * 3
    assert data["tokens"][0] == ["It", "'s", "a", "lovely", "film"] and data["tokens"][9] == ["Just", "okay"]
    assert Counter(map(tuple, data["tokens"]))[("a", "lovely", "film")] == 1
    assert data["label"] == [3, 2, 4, 2, 4, 2, 4, 3, 2, 2, 2, 2]


def test_read_sst2_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, f"{LOVELY}\n{NEUTRAL}\n{ESCAPES}\n{NEGATIVE}\n")
    roots = read_sst(path, classes=2)
    assert roots["label"] == [1, 0, 0] and roots["line"] == [1, 3, 4]  # neutral root dropped
    phrases = read_sst(path, classes=2, phrases=True)
    # LOVELY: 3 4 4 4 3 -> 1; ESCAPES: 1 1 0 -> 0; NEGATIVE: 0 1 -> 0, 3 -> 1; every 2 dropped
    assert phrases["label"] == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    assert phrases["tokens"][5:7] == [["(", "bad", ")", "1/2*"], ["bad", ")", "1/2*"]]


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        (f"{LOVELY}\n(3 (2 a) (2 b)\n", {}, "data.txt:2: unbalanced parentheses: missing 1 ')'"),
        (f"{LOVELY}\n\n(3 (2 a)) (2 b))\n", {}, "data.txt:3: unbalanced parentheses: text after the tree closed ('(')"),
        (f"{NEUTRAL}\n(3 (2 a) (7 b))\n", {}, "data.txt:2: label '7' is not 0-4"),
        (f"{NEUTRAL}\n", {"classes": 2}, "data.txt: no examples"),
        ("\n\n", {}, "data.txt: no examples"),
        (b"(2 \xe9t\xe9)\n", {}, "data.txt:1: not valid UTF-8 (byte 0xe9)"),
    ],
)
def test_read_sst_errors_name_file_and_line(tmp_path: Path, text: str, kwargs: dict, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ElmoError) as error:
        read_sst(path, **kwargs)
    assert str(error.value) == f"{tmp_path}/{message}"


def test_read_sst_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ElmoError, match=r"^SST tree file not found: .*nope\.txt$"):
        read_sst(tmp_path / "nope.txt")
    with pytest.raises(ElmoError, match="is a directory"):
        read_sst(tmp_path)
    with pytest.raises(ElmoError, match=r"^classes must be 5 \(SST-5\) or 2 \(SST-2\), not 3$"):
        read_sst(write(tmp_path, NEUTRAL), classes=3)


# --- read_tsv -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "1\tit 's a lovely film\n0\tbad ,  bad\tmovie\n",  # no header: label<TAB>text, tabs in the text kept
        "label\ttext\n1\tit 's a lovely film\n0\tbad ,  bad\tmovie\n",
        "sentence\tlabel\nit 's a lovely film \t1\nbad ,  bad\tmovie\t0\n",  # GLUE SST-2 order
        "Text\tLabel\r\nit 's a lovely film\t1\r\n\r\nbad ,  bad\tmovie\t0\r\n",
    ],
)
def test_read_tsv_layouts(tmp_path: Path, text: str) -> None:
    data = read_tsv(write(tmp_path, text, "data.tsv"))
    assert data.column_names == ["tokens", "label", "line"]
    assert data["tokens"] == [["it", "'s", "a", "lovely", "film"], ["bad", ",", "bad", "movie"]]
    assert data["label"] == [1, 0]
    assert data["line"] == ([1, 2] if text.startswith("1") else [2, 3] if "\r" not in text else [2, 4])


def test_read_tsv_five_classes(tmp_path: Path) -> None:
    assert read_tsv(write(tmp_path, "4\tsuperb\n2\tfine\n", "data.tsv"), classes=5)["label"] == [4, 2]


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("1\tgood\njust text\n", {}, "data.tsv:2: no label (expected label<TAB>text)"),
        ("sentence\tlabel\ngood\t1\njust text\n", {}, "data.tsv:3: no label (expected text<TAB>label)"),
        ("sentence\tlabel\ngood\t \n", {}, "data.tsv:2: no label (expected text<TAB>label)"),
        ("1\tgood\n\tno label\n", {}, "data.tsv:2: no label (expected label<TAB>text)"),
        ("1\tgood\n0\t  \n", {}, "data.tsv:2: empty text"),
        ("label\ttext\n1\t\n", {}, "data.tsv:2: empty text"),
        ("1\tgood\n3\tgreat\n", {}, "data.tsv:2: label '3' is not 0-1"),
        ("5\tgreat\n", {"classes": 5}, "data.tsv:1: label '5' is not 0-4"),
        ("pos\tgreat\n", {}, "data.tsv:1: label 'pos' is not 0-1"),
        ("\u00b2\tgreat\n", {"classes": 5}, "data.tsv:1: label '\u00b2' is not 0-4"),  # isdigit(), but no int
        ("\u0663\tgreat\n", {"classes": 5}, "data.tsv:1: label '\u0663' is not 0-4"),  # Arabic-Indic 3
        ("label\ttext\n", {}, "data.tsv: no examples"),
    ],
)
def test_read_tsv_errors(tmp_path: Path, text: str, kwargs: dict, message: str) -> None:
    path = write(tmp_path, text, "data.tsv")
    with pytest.raises(ElmoError) as error:
        read_tsv(path, **kwargs)
    assert str(error.value) == f"{tmp_path}/{message}"


# --- load_split ---------------------------------------------------------------------------


@pytest.fixture
def no_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list:
    """DATA_DIR points at tmp_path/data; a hub call is recorded and fails as offline."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    calls: list = []

    def offline(*args, **kwargs):
        calls.append((args, kwargs))
        raise ConnectionError("Couldn't reach 'sst2' on the Hub (LocalEntryNotFoundError)\nmore")

    monkeypatch.setattr(reader.datasets, "load_dataset", offline)
    return calls


def test_load_split_file_folder_and_data_dir(tmp_path: Path, no_hub: list) -> None:
    folder = tmp_path / "data" / "sst"
    folder.mkdir(parents=True)
    write(folder, f"{LOVELY}\n{NEUTRAL}\n", "train.txt")
    write(folder, f"{NEGATIVE}\n", "dev.txt")
    write(tmp_path, "sentence\tlabel\nfine\t1\n", "glue.tsv")
    assert load_split()["label"] == [3, 2]  # default: DATA_DIR/sst, train, SST-5 roots
    assert load_split("sst", "validation", classes=2)["label"] == [0]  # hub split name -> dev.txt
    assert len(load_split(folder, "train", phrases=True)) == 12
    assert load_split(folder / "dev.txt", "ignored")["tokens"] == [["not", "good"]]
    assert load_split(tmp_path / "glue.tsv", "train", classes=2)["tokens"] == [["fine"]]
    with pytest.raises(ElmoError, match=r"sst: no file for split 'test' \(looked for test.txt, test.tsv\)$"):
        load_split("sst", "test")
    with pytest.raises(ElmoError, match=r"glue.tsv: phrases=True needs SST tree files, not TSV$"):
        load_split(tmp_path / "glue.tsv", "train", phrases=True)
    with pytest.raises(ElmoError, match=r"^SST file not found: missing/train\.txt "):
        load_split("missing/train.txt", "train")
    with pytest.raises(ElmoError, match=r"^SST file not found: sst2 "):
        load_split("sst2", "train")
    assert no_hub == []


def test_load_split_offline_hub_is_one_line_error(no_hub: list) -> None:
    with pytest.raises(ElmoError) as error:
        load_split("hub:sst2", "dev", classes=2)
    message = str(error.value)
    assert "\n" not in message and message.startswith("cannot load 'sst2' split 'validation' from the Hugging Face")
    assert no_hub == [(("sst2",), {"split": "validation"})]  # never trust_remote_code
    with pytest.raises(ElmoError, match="phrases=True needs SST tree files"):
        load_split("hub:sst2", "train", phrases=True)


def test_load_split_converts_hub_datasets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    glue = datasets.Dataset.from_dict(
        {"idx": [0, 1], "sentence": ["a lovely film ", "dull"], "label": [1, 0]},
        features=datasets.Features(
            {
                "idx": datasets.Value("int32"),
                "sentence": datasets.Value("string"),
                "label": datasets.ClassLabel(names=["negative", "positive"]),
            }
        ),
    )
    sst5 = datasets.Dataset.from_dict(
        {"text": ["awful", "meh", "great", "good"], "label": [0, 2, 4, 3], "label_text": ["", "", "", ""]}
    )
    hub = {"stanfordnlp/sst2": glue, "SetFit/sst5": sst5}
    calls: list = []
    monkeypatch.setattr(reader.datasets, "load_dataset", lambda name, **k: calls.append((name, k)) or hub[name])
    data = load_split("hub:stanfordnlp/sst2", "train", classes=2)
    assert data.column_names == ["tokens", "label", "line"]
    assert data["tokens"] == [["a", "lovely", "film"], ["dull"]] and data["label"] == [1, 0] and data["line"] == [1, 2]
    five = load_split("hub:SetFit/sst5", "test")
    assert five["label"] == [0, 2, 4, 3]
    two = load_split("hub:SetFit/sst5", "test", classes=2)  # 0-4 labels mapped to SST-2, neutral dropped
    assert two["label"] == [0, 1, 1] and two["line"] == [1, 3, 4]
    assert calls[0] == ("stanfordnlp/sst2", {"split": "train"})
    hub["odd"] = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [1, 7]})
    for classes in (2, 5):
        with pytest.raises(ElmoError, match=r"^odd\[test\] row 2: label 7 is not 0-4$"):
            load_split("hub:odd", "test", classes=classes)
    hub["bad"] = sst5.remove_columns("text")
    with pytest.raises(ElmoError, match=r"^bad\[train\]: needs a 'label' and a 'text' or 'sentence' column \(has"):
        load_split("hub:bad", "train")
    hub["empty"] = sst5.map(lambda row: {"text": " " if row["label"] == 2 else row["text"]})
    with pytest.raises(ElmoError, match=r"^empty\[train\] row 2: empty text$"):
        load_split("hub:empty", "train")

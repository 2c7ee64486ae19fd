"""Every text input is decoded one way: UTF-8, a leading U+FEFF dropped on any line, bad bytes a one-line error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from elmo_features.embed_file import read_text_lines
from elmo_features.errors import ElmoError
from elmo_features.static import load_vectors
from tasks.ner.reader import read_conll

BOM = "\ufeff"


def test_embed_and_predict_input_drop_the_bom(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text(f"{BOM}I saw her .\n{BOM}\nShe left .\n", encoding="utf-8")
    assert read_text_lines(path) == ["I saw her .", "", "She left ."]


def test_a_line_holding_only_a_bom_is_blank_in_conll(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text(f"{BOM}Ann B-PER\nran O\n\n{BOM}\n", encoding="utf-8")
    data = read_conll(path)
    assert data["tokens"] == [["Ann", "ran"]]


@pytest.mark.parametrize("header", [False, True])
@pytest.mark.parametrize("filtered", [False, True])
def test_vectors_file_bom_does_not_rename_the_first_word(tmp_path: Path, header: bool, filtered: bool) -> None:
    path = tmp_path / "v.txt"
    path.write_text(BOM + ("2 2\n" if header else "") + "the 1 2\ncat 3 4\n", encoding="utf-8")
    vectors = load_vectors(path, vocabulary=["the", "cat"] if filtered else None)
    assert vectors.words == ["the", "cat"]
    np.testing.assert_array_equal(vectors.vectors, [[1, 2], [3, 4]])


def test_bad_byte_after_the_sniffed_part_of_a_vectors_file(tmp_path: Path) -> None:
    rows = [f"w{i} 0.5 0.25" for i in range(8000)]  # > 64 KiB, so the sniffer never sees the bad byte
    path = tmp_path / "v.txt"
    path.write_bytes(("\n".join(rows) + "\n").encode() + b"caf\xe9 1 2\n")
    with pytest.raises(ElmoError, match=r"^.*v\.txt:8001: not valid UTF-8 \(byte 0xe9\)$"):
        load_vectors(path)

"""`tasks.similar` and `elmo-tasks similar` on the tiny random biLM of conftest."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from elmo_features.bilm import BiLM
from elmo_features.errors import ElmoError
from tasks.commands.similar import add_parser
from tasks.similar import find_occurrences, nearest_in_context, pairwise_cosines, word_vectors


def words(text: str) -> list[str]:
    return text.split()


RIVER = words("He sat on the bank of the river .")
MONEY = words("The bank raised its interest rates .")
CORPUS = [
    words("the children play in the park"),
    words("we saw a play at the theatre"),
    words("He sat on the bank of the river ."),
    words("The bank raised its interest rates ."),
    "",
    words("rates rose"),
]


@pytest.fixture(params=["warm", "stateless"])
def bilm(tiny_files, request) -> BiLM:
    return BiLM.from_files(*tiny_files, state=request.param)


def run_cli(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    args.func(args)


def model_flags(tiny_files) -> list[str]:
    return ["--options-file", str(tiny_files[0]), "--weight-file", str(tiny_files[1])]


def test_layer0_is_static_and_context_moves_higher_layers(bilm):
    occurrences = word_vectors(bilm, "bank", [RIVER, MONEY])
    assert [o[:2] for o in occurrences] == [(0, 4), (1, 1)]
    assert occurrences[0].layers.shape == (3, 16)
    (row,) = pairwise_cosines(occurrences)
    assert row.first == (0, 4) and row.second == (1, 1) and row.static is None
    assert row.cosines[0] == pytest.approx(1.0, abs=1e-6)
    assert all(c < 1 - 1e-4 for c in row.cosines[1:])


def test_static_column_is_one(bilm):
    occurrences = word_vectors(bilm, "bank", [RIVER, MONEY, words("a bank")])
    rows = pairwise_cosines(occurrences, static=np.array([0.3, -1.2, 0.5], dtype=np.float32))
    assert len(rows) == 3
    assert all(row.static == pytest.approx(1.0, abs=1e-6) for row in rows)


def test_matching_punctuation_and_lowercase_fallback():
    sentences = [words("The river."), words("River and river"), words('"River" flows')]
    assert find_occurrences("river", sentences) == [(0, 1), (1, 2), (2, 0)]  # exact wins over the fallback in s2
    assert find_occurrences("River", sentences) == [(0, 1), (1, 0), (2, 0)]


def test_word_missing_names_the_sentence(bilm):
    with pytest.raises(ElmoError, match=r"'bank' is not in sentence 2: 'The cat sat'"):
        word_vectors(bilm, "bank", [RIVER, words("The cat sat")])


def test_neighbours_find_the_query_token_first(bilm):
    found = nearest_in_context(bilm, RIVER, 4, CORPUS, k=4, batch_size=2)
    assert (found[0].sentence, found[0].position) == (2, 4)
    assert found[0].cosine == pytest.approx(1.0, abs=1e-5)
    assert len(found) == 4
    assert [n.cosine for n in found] == sorted((n.cosine for n in found), reverse=True)
    # same answer whatever the batching (stateless and warm do not depend on the batch)
    again = nearest_in_context(bilm, RIVER, 4, CORPUS, k=4, batch_size=64)
    assert [n[1:] for n in again] == [n[1:] for n in found]
    np.testing.assert_allclose([n.cosine for n in again], [n.cosine for n in found], atol=1e-5)


def test_neighbours_layer0_ties_every_copy_of_the_string(bilm):
    found = nearest_in_context(bilm, words("a play"), 1, CORPUS, k=2, layer=0)
    assert [(n.sentence, n.position) for n in found] == [(0, 2), (1, 3)]  # both "play", corpus order
    assert all(n.cosine == pytest.approx(1.0, abs=1e-5) for n in found)
    assert len(nearest_in_context(bilm, RIVER, 0, CORPUS, k=1000)) == sum(len(s) for s in CORPUS)


def test_neighbours_errors(bilm, tiny_files):
    with pytest.raises(ElmoError, match="corpus is empty"):
        nearest_in_context(bilm, RIVER, 4, [[], []], k=3)
    with pytest.raises(ElmoError, match="layers 0 to 2"):
        nearest_in_context(bilm, RIVER, 4, CORPUS, layer=3)
    with pytest.raises(ElmoError, match="at least 1"):
        nearest_in_context(bilm, RIVER, 4, CORPUS, k=0)
    with pytest.raises(ElmoError, match="stateless or warm"):
        word_vectors(BiLM.from_files(*tiny_files, state="stateful"), "bank", [RIVER, MONEY])


def test_cli_prints_the_table_with_static_column(tiny_files, tmp_path: Path, capsys):
    glove = tmp_path / "glove.txt"
    glove.write_text("the 0.1 0.2 0.3\nbank 0.5 -0.1 0.7\nriver 0.0 1.0 0.0\n")
    run_cli(
        [
            *[
                "similar",
                "bank",
                "--sentence",
                "He sat on the bank of the river.",
                "--sentence",
                "The bank raised rates.",
            ],
            *["--vectors", str(glove), "--state", "stateless", *model_flags(tiny_files)],
        ]
    )
    out = capsys.readouterr().out
    assert "s1: He sat on the bank of the river." in out
    header = next(line for line in out.splitlines() if "layer0" in line).split()
    assert header == ["pair", "layer0", "layer1", "layer2", "static"]
    row = next(line for line in out.splitlines() if line.strip().startswith("s1:5-s2:2")).split()
    assert row[1] == "1.000" and row[-1] == "1.000" and len(row) == 5
    assert row[2] != "1.000" or row[3] != "1.000"
    # the char CNN reads case: "Bank" (matched by the lower-case fallback) has another layer-0 vector
    run_cli(["similar", "bank", "--sentence", "a bank", "--sentence", "Bank rates", *model_flags(tiny_files)])
    row = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("s1:2-s2:1"))
    assert row.split()[1] != "1.000"


def test_cli_neighbours(tiny_files, tmp_path: Path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(s) for s in CORPUS) + "\n")
    run_cli(
        [
            "similar",
            "play",
            "--sentence",
            "we saw a play at the theatre",
            "--neighbours",
            str(corpus),
            "-k",
            "2",
            *model_flags(tiny_files),
        ]
    )
    out = capsys.readouterr().out
    assert "nearest to s1:4" in out and "(layer 2, cosine)" in out
    lines = [line for line in out.splitlines() if "[" in line]
    assert len(lines) == 2
    assert lines[0].split() == ["1.000", "we", "saw", "a", "[play]", "at", "the", "theatre"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sentence", "a bank"], "two --sentence or more"),
        (["--sentence", "a bank", "--sentence", "the bank", "--layer", "1"], "apply to --neighbours"),
        (["--sentence", "a bank", "--sentence", "the cat"], "not in sentence 2: 'the cat'"),
        (["--sentence", "a bank", "--neighbours", "EMPTY"], "is empty: no sentences"),
        (["--sentence", "a bank", "--neighbours", "EMPTY", "-k", "0"], "at least 1"),
        (["--sentence", "a bank", "--sentence", "the bank", "--vectors", "GLOVE"], "'bank' is not in"),
    ],
)
def test_cli_errors(tiny_files, tmp_path: Path, argv, message):
    (tmp_path / "empty.txt").write_text("\n  \n")
    (tmp_path / "glove.txt").write_text("river 0.1 0.2\n")
    argv = [a.replace("EMPTY", str(tmp_path / "empty.txt")).replace("GLOVE", str(tmp_path / "glove.txt")) for a in argv]
    with pytest.raises(ElmoError, match=message):
        run_cli(["similar", "bank", *argv, *model_flags(tiny_files)])

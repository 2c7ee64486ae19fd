"""A run's first contact with new files: `predict --format` on CoNLL and text, pretrained vectors for words the
run never saw, vector coverage at the start of a run and in metrics.json, damaged run folders."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
import yaml

import tasks.cli as cli
from tasks.common.task import get_task, static_parts

pytest.importorskip("lightning")

TRAIN = [
    [("John", "B-PER"), ("lives", "O"), ("in", "O"), ("Paris", "B-LOC")],
    [("Mary", "B-PER"), ("works", "O"), ("at", "O"), ("Acme", "B-ORG")],
    [("He", "O"), ("visited", "O"), ("London", "B-LOC")],
]
VECTORS = {"john": [1, 0, 0], "paris": [0, 1, 0], "in": [0, 0, 1], "Madrid": [0.5, 0.25, -1], "madrid": [9, 9, 9]}


def _conll(path: Path, sentences) -> str:
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in sentences) + "\n", encoding="utf-8")
    return str(path)


def _config(folder: Path, vectors: dict[str, list[float]], **embedder) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vectors.txt").write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vectors.items()))
    config = {
        "name": "tiny",
        "task": {"name": "ner"},
        "data": {"train": _conll(folder / "train.txt", TRAIN), "separator": "tab"},
        "embedder": {"type": "glove", "path": str(folder / "vectors.txt"), "trainable": True, **embedder},
        "model": {"hidden": 4, "layers": 1, "dropout": 0.0, "char_cnn": False},
        "trainer": {"epochs": 1, "batch_size": 4, "seed": 0},
    }
    (folder / "tiny.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(folder / "tiny.yaml")


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ner")
    assert run("train", _config(folder, VECTORS), "-o", folder / "run") == 0
    return folder / "run"


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("elmo-tasks: error: ")
    return err[-1]


# ---------------------------------------------------------------------------- item 1: predict --format
def test_predict_on_a_labelled_conll_file_writes_token_gold_predicted(ner_run, tmp_path, capsys):
    data = _conll(tmp_path / "new.txt", [[("Ann", "B-PER"), ("saw", "O")], [("Rome", "B-LOC")]])
    for fmt in ("conll", None):  # auto reads it as CoNLL too: never as two-token sentences
        capsys.readouterr()
        assert run("predict", ner_run, data, *(["--format", fmt] if fmt else [])) == 0
        lines = capsys.readouterr().out.split("\n")
        assert [line.split("\t")[:2] for line in lines] == [["Ann", "B-PER"], ["saw", "O"], [""], ["Rome", "B-LOC"]] + [
            [""]
        ] * 2
        assert all(len(line.split("\t")) == 3 for line in lines if line)


def test_predict_text_format_and_auto_on_text(ner_run, tmp_path, capsys):
    text = tmp_path / "text.txt"
    text.write_text("Ann saw Rome\nJohn lives in Paris .\n", encoding="utf-8")
    for fmt in ("text", None):
        assert run("predict", ner_run, text, *(["--format", fmt] if fmt else [])) == 0
        records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [r["tokens"] for r in records] == [["Ann", "saw", "Rome"], ["John", "lives", "in", "Paris", "."]]
    text.write_text("Ann saw Rome\nBo met Al\n", encoding="utf-8")  # same width on every line, yet no tags
    assert run("predict", ner_run, text) == 0 and len(capsys.readouterr().out.splitlines()) == 2


def test_predict_format_errors(ner_run, tmp_path, capsys):
    damaged = _conll(tmp_path / "bad.txt", [[("Ann", "B-PER"), ("saw", "O"), ("it", "X-TAG")]])
    assert run("predict", ner_run, damaged) == 2  # looks like columns: the CoNLL error, not a text reading
    assert "bad.txt:3: unknown tag 'X-TAG'" in _error(capsys)
    assert run("predict", ner_run, damaged, "--format", "squad") == 2
    assert _error(capsys).endswith("--format squad: this run's task reads auto, conll, text")


def test_predict_help_lists_the_formats_of_every_registered_task(monkeypatch, capsys):
    import tasks.common.task as registry

    class Toy(registry.Task):
        name = "toy"
        PREDICT_FORMATS = ("lines", "grid")

    monkeypatch.setitem(registry.TASKS, "toy", Toy())
    with pytest.raises(SystemExit) as exit_:
        cli.main(["predict", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help
    assert {"ner", "pos", "qa", "sentiment", "toy"} <= set(registry.all_tasks())
    for name, task in registry.all_tasks().items():
        assert f"{name}: {', '.join(task.PREDICT_FORMATS)}" in text
    assert "toy: lines, grid" in text and "(the first is its default)" in text


# ---------------------------------------------------------------------------- item 2: new words' vectors
def test_new_words_get_their_pretrained_vectors_at_predict_time(ner_run, caplog):
    ner = get_task("ner")
    load_run, predict = ner.load_run, ner.tag

    vocab = json.loads((ner_run / "vocab.json").read_text())
    assert vocab["vectors"][0]["path"].endswith("vectors.txt") and vocab["vectors"][0]["fingerprint"]
    model, _, _ = load_run(ner_run)
    (table,) = static_parts(model)
    predict(model, [["Madrid", "is", "far"]])
    assert "Madrid" in table.index and "far" not in table.index and "is" not in table.index
    assert table.embedding.weight[table.index["Madrid"]].tolist() == [0.5, 0.25, -1]  # exact form first

    Path(vocab["vectors"][0]["path"]).write_text("other 1 2 3\n")  # the file changed since training
    model, _, _ = load_run(ner_run)
    (table,) = static_parts(model)
    with caplog.at_level(logging.WARNING):
        predict(model, [["Madrid"]])
    assert "Madrid" not in table.index and "gone or changed since training: 1 new words" in caplog.text
    Path(vocab["vectors"][0]["path"]).write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in VECTORS.items()))


def test_evaluate_on_a_new_file_gives_new_words_their_vectors(ner_run, tmp_path):
    ner = get_task("ner")
    load_run, evaluate, read_split = ner.load_run, ner.evaluate, ner.read_split

    model, _, config = load_run(ner_run)
    split = read_split(config, "test", _conll(tmp_path / "new.txt", [[("Madrid", "B-LOC"), ("far", "O")]]))
    assert "f1" in evaluate(model, split, config)
    (table,) = static_parts(model)
    assert "Madrid" in table.index and "far" not in table.index


# ---------------------------------------------------------------------------- item 3: coverage
def test_coverage_is_reported_and_kept_in_metrics(tmp_path, capsys):
    assert run("train", _config(tmp_path, VECTORS), "-o", tmp_path / "run") == 0
    (coverage,) = json.loads((tmp_path / "run" / "metrics.json").read_text())["vector_coverage"]
    assert coverage == {"path": str(tmp_path / "vectors.txt"), "words": 11, "exact": 1, "lower_cased": 2, "missing": 8}
    assert "vectors.txt: vectors for 27.3% of 11 words (1 exact, 2 lower-cased), 8 missing" in capsys.readouterr().err


def test_zero_coverage_is_refused_unless_asked(tmp_path, capsys, caplog):
    prefixed = {f"en:{w}": v for w, v in VECTORS.items()}
    assert run("train", _config(tmp_path / "a", prefixed), "-o", tmp_path / "a" / "run") == 2
    assert "0.0% of 11 words" in (message := _error(capsys)) and "allow_no_match: true" in message
    assert not (tmp_path / "a" / "run").exists()
    with caplog.at_level(logging.WARNING):
        assert run("train", _config(tmp_path / "b", prefixed, allow_no_match=True), "-o", tmp_path / "b" / "run") == 0
    assert "low coverage" in caplog.text


# ---------------------------------------------------------------------------- item 8: damaged run folders
@pytest.mark.parametrize("text", ['{"labels": [', "[1, 2]", b"\xff\xfe"])
def test_damaged_vocab_json_is_one_line(ner_run, tmp_path, capsys, text):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(ner_run, copy)
    (copy / "vocab.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    assert run("predict", copy, copy / "config.yaml") == 2
    assert "vocab.json is damaged" in _error(capsys)
    assert torch.load(copy / "model.pt", weights_only=True)  # the weights themselves were fine

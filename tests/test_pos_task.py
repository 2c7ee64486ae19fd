"""The POS task (tasks/pos, added in one folder): train, evaluate and predict through the CLI on a tiny
CoNLL-2003-style file (token POS chunk NER), the tag read from column 1."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

import tasks.cli as cli
from tasks.common.task import all_tasks

pytest.importorskip("lightning")

WORDS = {"DT": ["the", "a"], "NN": ["dog", "cat", "film"], "VBD": ["saw", "liked"], "JJ": ["big", "old"]}
PATTERN = ["DT", "JJ", "NN", "VBD", "DT", "NN"]


def conll(path: Path, count: int, seed: int) -> Path:
    rng = random.Random(seed)
    lines = ["-DOCSTART- -X- -X- O", ""]
    for _ in range(count):
        lines += [f"{rng.choice(WORDS[pos])} {pos} I-NP O" for pos in PATTERN] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def config_file(tmp_path: Path) -> Path:
    config = {
        "name": "tiny_pos",
        "task": {"name": "pos"},
        "data": {
            "train": str(conll(tmp_path / "train.txt", 30, 1)),
            "validation": str(conll(tmp_path / "valid.txt", 8, 2)),
            "test": str(conll(tmp_path / "test.txt", 8, 3)),
        },
        "embedder": {"type": "random", "dim": 8, "seed": 1},
        "model": {"hidden": 8, "dropout": 0.0},
        "trainer": {"epochs": 8, "batch_size": 5, "lr": 0.05, "patience": 20, "seed": 1},
    }
    path = tmp_path / "tiny_pos.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


def test_pos_is_registered_and_has_a_builtin_config() -> None:
    from tasks.common.config import builtin_configs, load_config

    assert "pos" in all_tasks()
    assert "pos/conll2003_glove" in builtin_configs()
    assert load_config("pos/conll2003_glove").data.tag_column == 1


def test_train_evaluate_predict(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert run("train", config_file(tmp_path), "-o", run_dir, "--quiet") == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] == 100.0 and metrics["test"]["tokens"] == 8 * 6  # the tag is the word's
    assert set(metrics["test"]["per_tag"]) == set(WORDS)
    assert json.loads((run_dir / "vocab.json").read_text())["labels"] == sorted(WORDS)
    assert "| tag | " in (run_dir / "scores.md").read_text() and (run_dir / "predictions_test.conll").is_file()

    capsys.readouterr()
    assert run("evaluate", run_dir, "--data", tmp_path / "test.txt") == 0
    assert json.loads(capsys.readouterr().out) == metrics["test"]

    text = tmp_path / "in.txt"
    text.write_text("the old cat liked a film\n", encoding="utf-8")
    assert run("predict", run_dir, text) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record == {"tokens": ["the", "old", "cat", "liked", "a", "film"], "tags": PATTERN}
    assert run("predict", run_dir, tmp_path / "test.txt", "--format", "conll") == 0
    first = capsys.readouterr().out.splitlines()[0].split()
    assert first[1] == first[2] == "DT"

    assert run("predict", run_dir, text, "--format", "squad") == 2  # not a format of this task
    assert "this run's task reads text, conll" in capsys.readouterr().err

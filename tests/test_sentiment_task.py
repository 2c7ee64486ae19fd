"""`elmo-tasks train / evaluate / predict` on tiny generated SST trees; the built-in configs; bad input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

import tasks.cli as cli
from elmo_features.errors import ElmoError
from tasks.common.config import builtin_configs, load_config
from tasks.common.task import get_task
from tasks.sentiment import task as sentiment

task = get_task("sentiment")

pytest.importorskip("lightning")

WORDS = ["awful", "bad", "okay", "good", "great"]  # the word that decides a sentence's 0-4 label
FILLERS = ["the", "film", "plot", "was", "really", "acting", "this", "a"]
FIVE = ["very negative", "negative", "neutral", "positive", "very positive"]


def tree(label: int, rng: random.Random) -> str:
    """``(label (2 filler) (label (label word) (2 filler)))`` with fillers drawn from ``rng``."""
    a, b = rng.choice(FILLERS), rng.choice(FILLERS)
    return f"({label} (2 {a}) ({label} ({label} {WORDS[label]}) (2 {b})))"


def write_trees(path: Path, count: int, seed: int) -> str:
    rng = random.Random(seed)
    path.write_text("".join(tree(i % 5, rng) + "\n" for i in range(count)), encoding="utf-8")
    return str(path)


def config_file(tmp_path: Path, embedder: dict | None = None, data: dict | None = None, **model) -> str:
    folder = tmp_path / "sst"
    folder.mkdir(exist_ok=True)
    config = {
        "name": "tiny_sst",
        "task": {"name": "sentiment"},
        "data": {
            "train": write_trees(folder / "train.txt", 20, 1),
            "validation": write_trees(folder / "dev.txt", 10, 2),
            "test": write_trees(folder / "test.txt", 10, 3),
            "classes": 5,
            **(data or {}),
        },
        "embedder": embedder or {"type": "random", "dim": 8},
        "model": {
            "feedforward": 8,
            "hidden": 8,
            "integrator_hidden": 8,
            "classifier_hidden": [8],
            "classifier_dropout": [0.0],
            "maxout_pool": 2,
            "dropout": 0.0,
            **model,
        },
        "trainer": {"epochs": 12, "batch_size": 5, "lr": 0.02, "patience": 20, "seed": 1},
    }
    path = tmp_path / "tiny_sst.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


def error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and lines[-1].startswith("elmo-tasks: error: ")
    return lines[-1]


def test_train_evaluate_predict(tmp_path: Path, capsys) -> None:
    config = config_file(tmp_path, data={"phrases": True})
    loaded = load_config(config)
    assert len(task.read_split(loaded, "train").tokens) == 20 * 5  # every node of the training trees
    assert len(task.read_split(loaded, "validation").tokens) == 10  # evaluation: roots only
    run_dir = tmp_path / "run"
    assert run("train", config, "-o", run_dir) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for split in ("dev", "test"):
        scores = metrics[split]
        assert {"accuracy", "macro_f1", "confusion", "per_class"} <= set(scores) and scores["labels"] == FIVE
        assert len(scores["confusion"]) == 5 and sum(map(sum, scores["confusion"])) == 10
        assert scores["accuracy"] >= 80.0  # the label is one word's: learnt in a few epochs
        assert (run_dir / f"confusion_{split}.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((run_dir / "vocab.json").read_text())["labels"] == FIVE

    capsys.readouterr()
    assert run("evaluate", run_dir) == 0
    assert json.loads(capsys.readouterr().out) == {k: metrics[k] for k in ("dev", "test")}
    assert run("evaluate", run_dir, "--data", tmp_path / "sst" / "test.txt") == 0
    assert json.loads(capsys.readouterr().out) == metrics["test"]

    source = tmp_path / "input.txt"
    source.write_text("the film was great\n  awful acting  \nunseenword okay\n", encoding="utf-8")
    assert run("predict", run_dir, source, "-o", tmp_path / "out.jsonl") == 0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == ["the film was great", "awful acting", "unseenword okay"]
    assert [r["label"] for r in rows] == ["very positive", "very negative", "neutral"]
    for r in rows:
        assert list(r["probabilities"]) == FIVE and sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert max(r["probabilities"], key=r["probabilities"].get) == r["label"]
    assert run("predict", run_dir, source) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == rows

    source.write_text("good\n\nbad\n", encoding="utf-8")
    assert run("predict", run_dir, source) == 2
    assert error(capsys).endswith("input.txt:2: empty text (one text per line)")

    # a labelled file as training reads it: trees (or label<TAB>text) give records with the gold label
    assert run("predict", run_dir, tmp_path / "sst" / "test.txt", "--format", "sst") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 10 and rows[0]["gold"] == "very negative" and rows[0]["text"].split()[1] == WORDS[0]
    assert 100 * sum(r["gold"] == r["label"] for r in rows) / 10 == pytest.approx(metrics["test"]["accuracy"])
    tsv = tmp_path / "labelled.tsv"
    tsv.write_text(f"4\tthe film was {WORDS[4]}\n", encoding="utf-8")
    assert run("predict", run_dir, tsv, "--format", "tsv") == 0
    assert json.loads(capsys.readouterr().out)["gold"] == "very positive"


def test_sst2_phrases_bilstm_attention(tmp_path: Path) -> None:
    """SST-2 (neutral dropped), every training phrase, the simpler head with an MLP classifier."""
    config = config_file(
        tmp_path, data={"classes": 2, "phrases": True}, head="bilstm_attention", classifier="mlp", pooling=["attention"]
    )
    loaded = load_config(config)
    train = task.read_split(loaded, "train")
    dev = task.read_split(loaded, "validation")
    assert len(dev.tokens) == 8 and all(len(t) == 3 for t in dev.tokens)  # roots only, neutral dropped
    assert len(train.tokens) == 16 * 3 and set(train.labels) == {0, 1}  # 3 non-neutral nodes per tree
    assert len(task.read_split(load_config(config, ["data.phrases=false"]), "train").tokens) == 16
    run_dir = tmp_path / "run"
    assert run("train", config, "-o", run_dir, "--set", "trainer.epochs=6") == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["labels"] == ["negative", "positive"] and metrics["test"]["count"] == 8
    assert metrics["test"]["accuracy"] >= 75.0
    assert (run_dir / "confusion_test.png").is_file()


def test_elmo_at_input_and_output(tmp_path: Path, tiny_files, capsys) -> None:
    options, weights = tiny_files
    elmo = {
        "type": "elmo",
        "options": str(options),
        "weights": str(weights),
        "outputs": 2,
        "l2": 0.001,
        "dropout": 0.0,
        "cache": True,
        "cache_dir": str(tmp_path / "cache"),
    }
    embedder = {"type": "concat", "parts": [{"type": "random", "dim": 8}, elmo]}
    config = config_file(tmp_path, embedder=embedder, elmo_output=True)
    run_dir = tmp_path / "run"
    assert run("train", config, "-o", run_dir, "--set", "trainer.epochs=3") == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["accuracy"] <= 100.0 and (run_dir / "confusion_dev.png").is_file()
    model, _, _ = task.load_run(run_dir)
    assert len(model.embedder.parts[1].elmo.mixes) == 2 and list(model.embedder.extra_dims) == [16]
    capsys.readouterr()
    assert run("evaluate", run_dir) == 0
    assert json.loads(capsys.readouterr().out)["test"] == metrics["test"]
    source = tmp_path / "input.txt"
    source.write_text("a great film\nnever seen words here\n", encoding="utf-8")
    assert run("predict", run_dir, source) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and all(r["label"] in FIVE for r in rows)

    no_output = config_file(tmp_path, embedder={**embedder, "parts": [{**elmo, "outputs": 1}]}, elmo_output=True)
    assert run("train", no_output, "-o", tmp_path / "bad") == 2
    assert "elmo_output needs an ELMo embedder with 'outputs: 2'" in error(capsys)


def test_bad_input_is_one_line_errors(tmp_path: Path, capsys) -> None:
    config = config_file(tmp_path)
    dev = tmp_path / "sst" / "dev.txt"
    dev.write_text("(3 (2 a) (3 good))\n(4 (2 a) (4 great)\n", encoding="utf-8")
    assert run("train", config, "-o", tmp_path / "a") == 2
    assert error(capsys) == f"elmo-tasks: error: {dev}:2: unbalanced parentheses: missing 1 ')'"
    dev.write_text("(3 (2 a) (7 good))\n", encoding="utf-8")
    assert run("train", config, "-o", tmp_path / "a") == 2
    assert error(capsys) == f"elmo-tasks: error: {dev}:1: label '7' is not 0-4"
    assert not (tmp_path / "a").exists()
    tsv = tmp_path / "sst" / "dev.tsv"
    tsv.write_text("1\tgood\njust text\n", encoding="utf-8")
    assert run("train", config, "-o", tmp_path / "a", "--set", f"data.validation={tsv}") == 2
    assert error(capsys).endswith("dev.tsv:2: no label (expected label<TAB>text)")
    tsv.write_text("1\tgood\n3\t \n", encoding="utf-8")
    assert run("train", config, "-o", tmp_path / "a", "--set", f"data.validation={tsv}") == 2
    assert error(capsys).endswith("dev.tsv:2: empty text")

    assert run("train", config, "-o", tmp_path / "a", "--set", "model.classifier_dropout=[0.1, 0.2]") == 2
    assert "classifier_dropout needs one value per classifier_hidden layer (1)" in error(capsys)
    assert run("train", config, "-o", tmp_path / "a", "--set", "data.classes=3") == 2
    assert "data.classes" in error(capsys)
    assert run("train", config, "-o", tmp_path / "a", "--set", "model.haed=bcn") == 2
    assert "did you mean 'head'?" in error(capsys)


def test_check_split_and_score() -> None:
    split = sentiment.Split("test", [["a"], ["b"]], [1, 4], [1, 2])
    task.check_split(split, {"labels": FIVE}, "here")
    with pytest.raises(ElmoError, match=r"^here: label 4 \(line 2\) is not one of the model's 2 classes$"):
        task.check_split(split, {"labels": ["negative", "positive"]}, "here")
    two = sentiment.score(["negative", "positive", "positive"], ["negative", "negative", "positive"])
    assert two["labels"] == ["negative", "positive"] and two["accuracy"] == pytest.approx(200 / 3)
    assert two["confusion"] == [[1, 0], [1, 1]]
    assert sentiment.score(["neutral"], ["negative"])["labels"] == FIVE


def test_builtin_configs_load() -> None:
    names = [n for n in builtin_configs() if n.startswith("sentiment/") and n.endswith("_paper")]
    assert sorted(names) == [
        f"sentiment/{s}_{e}_paper" for s in ("sst2", "sst5") for e in ("elmo", "glove", "word2vec")
    ]
    cpu = [n for n in builtin_configs() if n.startswith("sentiment/") and "_cpu_" in n]  # the benchmark's CPU sizes
    assert sorted(cpu) == [f"sentiment/{s}_cpu_{e}" for s in ("sst2", "sst5") for e in ("elmo", "glove6b")]
    for name in cpu:
        config = load_config(name)
        assert not config.data.phrases and config.model.head == "bilstm_attention" and config.trainer.patience >= 3
    for name in names:
        config = load_config(name)
        assert config.task.name == "sentiment" and config.data.phrases and config.model.head == "bcn"
        assert config.data.classes == (5 if "sst5" in name else 2)
        assert config.data.train.endswith("sst/train.txt") and config.data.validation.endswith("sst/dev.txt")
        elmo = name.endswith("_elmo_paper")
        assert config.model.elmo_output is elmo
        if elmo:
            glove, part = config.embedder.parts
            assert glove.type == "glove" and part.outputs == 2 and part.l2 == 0.001

"""QA end to end: `elmo-tasks train` on a tiny generated SQuAD file, then evaluate, predict, answer, squad-eval."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
import yaml

import tasks.cli as cli
from elmo_features.tokenizer import tokenize_with_offsets
from tasks.common.config import load_config
from tasks.common.task import get_task
from tasks.qa import task as qa_module

qa_task = get_task("qa")

pytest.importorskip("lightning")

FACTS = [
    ("Paris", "France"),
    ("Berlin", "Germany"),
    ("Rome", "Italy"),
    ("Madrid", "Spain"),
    ("Lisbon", "Portugal"),
    ("Vienna", "Austria"),
]


def paragraph(city: str, country: str, prefix: str) -> dict:
    context = f"{city} is the capital of {country}. It is a large city with many old buildings."
    return {
        "context": context,
        "qas": [
            {
                "id": f"{prefix}-{city}",
                "question": f"What is the capital of {country}?",
                "answers": [{"text": city, "answer_start": 0}, {"text": f"{city} ", "answer_start": 0}],
            },
            {
                "id": f"{prefix}-{city}-country",
                "question": f"{city} is the capital of which country?",
                "answers": [{"text": country, "answer_start": context.index(country)}],
            },
        ],
    }


def write_squad(path: Path, facts, prefix: str) -> str:
    data = {
        "version": "1.1",
        "data": [{"title": "Capitals", "paragraphs": [paragraph(c, k, prefix) for c, k in facts]}],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def make_config(tmp_path: Path, epochs: int = 2, **data) -> str:
    folder = tmp_path / "squad"
    folder.mkdir(exist_ok=True)
    config = {
        "name": "tiny_qa",
        "task": {"name": "qa"},
        "data": {
            "train": write_squad(folder / "train-v1.1.json", FACTS, "train"),
            "validation": write_squad(folder / "dev-v1.1.json", FACTS[:3], "dev"),
            **data,
        },
        "embedder": {"type": "random", "dim": 8},
        "model": {"hidden": 8, "dropout": 0.0, "char_dim": 4, "char_filters": 8, "char_width": 3},
        "trainer": {"epochs": epochs, "batch_size": 4, "lr": 0.01, "patience": 5, "seed": 1},
    }
    path = tmp_path / "tiny_qa.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def assert_span_of(answer: str, context: str) -> None:
    """A non-empty answer that is a span of the context's tokens (an empty answer is in every string)."""
    tokens = tokenize_with_offsets(context)
    spans = {context[s:e] for i, (_, s, _) in enumerate(tokens) for _, _, e in tokens[i:]}
    assert answer and answer in spans, (answer, context)


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


def last_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("elmo-tasks: error: ")
    return err[-1]


def test_train_evaluate_predict_answer(tmp_path, capsys):
    config = make_config(tmp_path)
    run_dir = tmp_path / "run"
    assert run("train", config, "-o", run_dir) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["dev"]) >= {"exact_match", "f1"} and 0 <= metrics["dev"]["f1"] <= 100
    assert metrics["dev"]["total"] == 6
    vocab = json.loads((run_dir / "vocab.json").read_text())
    assert {"Paris", "capital", "?"} <= set(vocab["words"]) and "P" in vocab["chars"]

    capsys.readouterr()
    assert run("evaluate", run_dir) == 0
    assert json.loads(capsys.readouterr().out) == {"dev": metrics["dev"]}

    dev = tmp_path / "squad" / "dev-v1.1.json"
    assert run("evaluate", run_dir, "--data", dev) == 0
    assert json.loads(capsys.readouterr().out) == metrics["dev"]

    predictions = tmp_path / "predictions.json"
    assert run("predict", run_dir, dev, "-o", predictions) == 0
    answers = json.loads(predictions.read_text())
    assert sorted(answers) == sorted(f"dev-{c}{s}" for c, _ in FACTS[:3] for s in ("", "-country"))
    contexts = {f"dev-{c}{s}": paragraph(c, k, "dev")["context"] for c, k in FACTS[:3] for s in ("", "-country")}
    for qid, answer in answers.items():
        assert_span_of(answer, contexts[qid])

    capsys.readouterr()
    assert run("squad-eval", dev, predictions) == 0
    official = json.loads(capsys.readouterr().out)
    assert official["f1"] == pytest.approx(metrics["dev"]["f1"]) and official["missing"] == 0

    assert run("answer", run_dir, "--question", "What is the capital of Spain?", "--context", "Madrid is big.") == 0
    assert_span_of(capsys.readouterr().out.strip(), "Madrid is big.")


def test_model_learns_tiny_squad(tmp_path):
    """Trained directly (no Lightning), the head fits the training questions."""
    config = load_config(make_config(tmp_path))
    built = qa_task.build(config)
    optimizer = torch.optim.Adam(built.model.parameters(), lr=0.02)
    for _ in range(40):
        for batch in built.train_loader:
            optimizer.zero_grad()
            built.model(*batch)["loss"].backward()
            optimizer.step()
    scores = qa_task.evaluate(built.model, built.train, config)
    assert scores["exact_match"] == 100.0
    context = paragraph("Madrid", "Spain", "x")["context"]
    assert qa_module.answer(built.model, "What is the capital of Spain?", context) == "Madrid"
    assert qa_module.answer(built.model, "Madrid is the capital of which country?", context) == "Spain"


def test_training_truncation_and_subset_are_counted(tmp_path, caplog):
    config = load_config(make_config(tmp_path), ["data.max_passage_tokens=6", "data.train_subset=4"])
    with caplog.at_level(logging.WARNING):
        built = qa_task.build(config)
    # subset: Paris and Berlin paragraphs; the country answers (token 5) fit in 6 tokens: nothing skipped
    assert [e.id for e in built.train.examples] == [
        "train-Paris",
        "train-Paris-country",
        "train-Berlin",
        "train-Berlin-country",
    ]
    assert all(len(e.tokens) == 6 for e in built.train.examples)
    assert all(len(e.tokens) > 6 for e in built.validation.examples)  # evaluation sees whole passages
    caplog.clear()
    config = load_config(make_config(tmp_path), ["data.max_passage_tokens=5"])
    with caplog.at_level(logging.WARNING):
        built = qa_task.build(config)
    assert len(built.train.examples) == 6 and "6 of 12 training questions skipped" in caplog.text


def test_refusals(tmp_path, capsys):
    config = make_config(tmp_path)
    (tmp_path / "squad" / "dev-v1.1.json").write_text('{"data": 3}', encoding="utf-8")
    assert run("train", config, "-o", tmp_path / "bad") == 2
    assert "not SQuAD JSON" in last_error(capsys)
    assert not (tmp_path / "bad").exists()

    make_config(tmp_path)  # a valid dev file again
    predictions = tmp_path / "p.json"
    predictions.write_text(json.dumps({"dev-Paris": "Paris", "nope": "x"}), encoding="utf-8")
    assert run("squad-eval", tmp_path / "squad" / "dev-v1.1.json", predictions) == 2
    assert "question ids the dataset does not have: 'nope'" in last_error(capsys)
    assert run("answer", tmp_path / "missing", "--question", "q", "--context", "c") == 2
    assert "not a finished run folder" in last_error(capsys)


@pytest.mark.parametrize("size", ["paper", "cpu"])
@pytest.mark.parametrize("vectors", ["glove", "word2vec", "elmo"])
def test_builtin_configs_validate(size, vectors, monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    config = load_config(f"qa/squad_{vectors}_paper" if size == "paper" else f"qa/squad_cpu_{vectors}")
    assert config.task.name == "qa" and config.data.train == f"{tmp_path}/squad/train-v1.1.json"
    assert config.data.train_subset == (10000 if size == "cpu" else None)
    assert config.model.elmo == ("both" if vectors == "elmo" else "input")


def test_bf16_on_cpu(tmp_path):
    """oneDNN's bf16 LSTM fails on equal-length packed batches: the head keeps its LSTMs in fp32."""
    config = make_config(tmp_path, epochs=1)
    assert run("train", config, "-o", tmp_path / "run", "--set", "trainer.precision=bf16") == 0
    assert 0 <= json.loads((tmp_path / "run" / "metrics.json").read_text())["dev"]["f1"] <= 100


def test_elmo_both_run_and_answer(tmp_path, tiny_files, capsys):
    options, weights = tiny_files
    config = yaml.safe_load(Path(make_config(tmp_path, epochs=1)).read_text())
    elmo = {"type": "elmo", "options": str(options), "weights": str(weights), "outputs": 2}
    config["embedder"] = {
        "type": "concat",
        "parts": [{"type": "random", "dim": 8}, {**elmo, "cache": True, "cache_dir": str(tmp_path / "cache")}],
    }
    config["model"]["elmo"] = "both"
    path = tmp_path / "elmo.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert run("train", path, "-o", tmp_path / "run") == 0
    capsys.readouterr()
    assert run("answer", tmp_path / "run", "--question", "Capital of Spain?", "--context", "Madrid is big.") == 0
    assert_span_of(capsys.readouterr().out.strip(), "Madrid is big.")

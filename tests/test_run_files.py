"""Run folders and files on first contact: unreadable inputs and bad outputs are one line, output is
checked before the work, files get the umask's mode, an unfinished run is refused."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from test_qa_task import make_config as qa_config
from test_qa_task import write_squad
from test_sentiment_task import config_file as sentiment_config
from test_train import _config, run

pytest.importorskip("lightning")


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("elmo-tasks: error: ") and "\n" not in err, err
    return err


@pytest.fixture
def ner_run(tmp_path) -> Path:
    run_dir = tmp_path / "run"
    assert run("train", _config(tmp_path, epochs=1), "-o", run_dir) == 0
    return run_dir


def test_unreadable_inputs_are_one_line(tmp_path, capsys, deny, ner_run, tiny_files):
    text = tmp_path / "sentences.txt"
    text.write_text("John lives in Paris .\n", encoding="utf-8")
    model = ["--options-file", tiny_files[0], "--weight-file", tiny_files[1]]
    squad = write_squad(tmp_path / "squad.json", [("Paris", "France")], "dev")
    config = _config(tmp_path, epochs=1)
    deny(text)
    deny(squad)
    deny(tmp_path / "data" / "train.txt")
    cases = {
        "train": ["train", config, "-o", tmp_path / "new"],
        "evaluate": ["evaluate", ner_run, "--data", text],
        "predict": ["predict", ner_run, text],
        "embed": ["embed", text, tmp_path / "out.hdf5", *model],
        "cache build": ["cache", "build", text, *model, "--cache-dir", tmp_path / "cache"],
        "vectors inspect": ["vectors", "inspect", text],
        "squad-eval": ["squad-eval", squad, squad],
    }
    capsys.readouterr()
    for name, argv in cases.items():
        assert run(*argv) == 2, name
        assert "Permission denied" in _one_line(capsys), name
    assert not (tmp_path / "new").exists() and not (tmp_path / "out.hdf5").exists()


def test_train_checks_its_output_folder_before_reading_data(tmp_path, capsys, deny):
    config = _config(tmp_path, epochs=1)
    deny(tmp_path / "data")  # were the data read first, the error would be about them
    (tmp_path / "file").write_text("")
    assert run("train", config, "-o", tmp_path / "file" / "run") == 2
    assert "file is a file" in _one_line(capsys)
    locked = tmp_path / "locked"
    locked.mkdir()
    deny(locked)
    assert run("train", config, "-o", locked / "run") == 2
    assert "Permission denied" in _one_line(capsys)
    assert list(locked.iterdir()) == []


def test_predict_checks_its_output_before_the_work(tmp_path, capsys, deny, ner_run, monkeypatch):
    from tasks.ner.task import NerTask

    text = tmp_path / "sentences.txt"
    text.write_text("John lives in Paris .\n", encoding="utf-8")
    monkeypatch.setattr(NerTask, "predict_file", lambda *a: pytest.fail("predicted before checking -o"))
    locked = tmp_path / "locked"
    locked.mkdir()
    deny(locked)
    for out, message in (
        (tmp_path / "missing" / "tags.jsonl", "does not exist"),
        (tmp_path, "it is a folder"),
        (locked / "tags.jsonl", "Permission denied"),
    ):
        capsys.readouterr()
        assert run("predict", ner_run, text, "-o", out) == 2
        assert message in _one_line(capsys)


def test_run_files_get_the_umask_mode(tmp_path):
    before = os.umask(0o022)
    try:
        run_dir = tmp_path / "run"
        assert run("train", _config(tmp_path, epochs=1), "-o", run_dir) == 0
        text = tmp_path / "sentences.txt"
        text.write_text("John lives in Paris .\n", encoding="utf-8")
        assert run("predict", run_dir, text, "-o", tmp_path / "tags.jsonl") == 0
    finally:
        os.umask(before)
    for path in [run_dir / n for n in ("config.yaml", "vocab.json", "metrics.json", "model.pt")] + [
        tmp_path / "tags.jsonl"
    ]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


def test_model_pt_is_never_half_written(tmp_path, monkeypatch):
    import torch

    real_save = torch.save

    def dies_midway(obj, path, *args, **kwargs):
        if isinstance(path, (str, Path)) and Path(path).name.startswith(".model.pt"):
            Path(path).write_bytes(b"PK\x03\x04 half")
            raise KeyboardInterrupt
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", dies_midway)
    run_dir = tmp_path / "run"
    assert run("train", _config(tmp_path, epochs=1), "-o", run_dir) == 130
    assert not (run_dir / "model.pt").exists() and not (run_dir / "metrics.json").exists()
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_predict_refuses_an_unfinished_run(tmp_path, capsys, ner_run):
    (ner_run / "metrics.json").unlink()
    text = tmp_path / "sentences.txt"
    text.write_text("John lives\n", encoding="utf-8")
    capsys.readouterr()
    assert run("predict", ner_run, text) == 2
    assert "not a finished run folder (no metrics.json)" in _one_line(capsys)


@pytest.mark.parametrize(
    ("task", "predictions", "table", "score"),
    [
        ("ner", ".conll", "| type | precision | recall | f1 | support |", "f1"),
        ("sentiment", ".tsv", "| class | f1 |", "accuracy"),
        ("qa", ".json", "| question | exact_match | f1 | total |", "f1"),
    ],
)
def test_every_task_writes_the_same_run_folder(tmp_path, task, predictions, table, score):
    config = {"ner": _config, "sentiment": sentiment_config, "qa": qa_config}[task](tmp_path)
    run_dir = tmp_path / "run"
    assert run("train", config, "-o", run_dir, "--set", "trainer.epochs=2") == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    splits = [k for k in ("dev", "test") if k in metrics]
    assert splits
    for split in splits:
        assert (run_dir / f"predictions_{split}{predictions}").stat().st_size > 0
        assert 0.0 <= metrics[split][score] <= 100.0
    assert metrics["scale"] == "percent"
    assert table in (run_dir / "scores.md").read_text()
    assert (run_dir / "curves.png").read_bytes().startswith(b"\x89PNG")
    log = (run_dir / "train.log").read_text()
    assert "epoch 2/2 done" in log and f"finished {run_dir} (at its epoch cap of 2)" in log
    assert {"cpu", "cpu_flags", "cpu_capability", "threads", "torch"} <= set(metrics["machine"])


def test_ner_predictions_are_conlleval_columns(tmp_path, ner_run):
    lines = (ner_run / "predictions_test.conll").read_text().splitlines()
    first = [line.split() for line in lines[: lines.index("")]]
    assert [row[:2] for row in first] == [
        ["John", "B-PER"],
        ["Smith", "I-PER"],
        ["lives", "O"],
        ["in", "O"],
        ["Paris", "B-LOC"],
        [".", "O"],
    ]
    assert all(len(row) == 3 for row in first)


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path, capsys, monkeypatch):
    import tasks.common.progress as progress

    monkeypatch.setattr(progress, "EVERY_S", 0.0)  # a line after every batch: no clock in the test
    monkeypatch.setattr(progress.ProgressLines.__init__, "__defaults__", (0.0,))
    assert run("train", _config(tmp_path, epochs=2), "-o", tmp_path / "run") == 0
    captured = capsys.readouterr()
    assert "epoch 1/2: batch 1/2 (50%)" in captured.err and "epoch 2/2 done" in captured.err
    assert "Epoch" not in captured.out and "batch" not in captured.out  # no bar, and nothing on stdout
    assert run("train", _config(tmp_path, epochs=1), "-o", tmp_path / "quiet", "--quiet") == 0
    assert "epoch" not in capsys.readouterr().err
    assert "epoch 1/1 done" in (tmp_path / "quiet" / "train.log").read_text()  # the log keeps it all

"""The benchmark harness after a kill: the run is resumed from its checkpoint (not restarted) and ends with the
weights of an uninterrupted run; finished runs are reused without training. The kill is a deterministic hook
(an exception at the start of epoch k), never a timer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

import tasks.common.trainer as trainer
from tasks.cli import main

SENTENCES = [
    "John B-PER\nlives O\nin O\nParis B-LOC",
    "Mary B-PER\nworks O\nat O\nAcme B-ORG",
    "Acme B-ORG\nhired O\nBob B-PER",
    "Anna B-PER\nflew O\nto O\nBerlin B-LOC",
]
EPOCHS, KILLED_AT = 4, 2


class Killed(Exception):
    """The simulated kill."""


def _suite(tmp_path: Path) -> Path:
    data = tmp_path / "train.txt"
    data.write_text("\n\n".join(SENTENCES) + "\n", encoding="utf-8")
    config = {
        "name": "tiny",
        "task": {"name": "ner"},
        "data": {"train": str(data), "validation": str(data), "test": str(data)},
        "embedder": {"type": "random", "dim": 4, "trainable": True},
        # with dropout: the checkpoint holds its RNG state, so the masks after a resume are the uninterrupted ones
        "model": {"hidden": 4, "layers": 1, "char_cnn": False, "dropout": 0.3},
        "trainer": {"epochs": EPOCHS, "batch_size": 2, "lr": 0.05, "patience": 100},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    runs = {"small": {"config": str(tmp_path / "tiny.yaml")}}
    spec = {"name": "tiny", "seeds": [0], "baseline": "small", "runs": runs}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "unit", "tasks": [spec]}), encoding="utf-8")
    return path


def _kill_at_epoch(monkeypatch, epoch: int) -> None:
    """The next training raises at the start of ``epoch`` (epochs before it are finished and checkpointed)."""
    build = trainer._lightning_module

    def with_kill(*args):
        module = build(*args)

        def on_train_epoch_start():
            if module.trainer.current_epoch == epoch:
                raise Killed

        module.on_train_epoch_start = on_train_epoch_start
        return module

    monkeypatch.setattr(trainer, "_lightning_module", with_kill)


def test_killed_run_is_resumed_from_its_checkpoint_and_finished_runs_are_reused(tmp_path, monkeypatch, capsys):
    suite, out = _suite(tmp_path), tmp_path / "out"
    folder = out / "runs" / "tiny" / "small" / "seed0"
    with monkeypatch.context() as patch:
        _kill_at_epoch(patch, KILLED_AT)
        with pytest.raises(Killed):
            main(["benchmark", str(suite), "-o", str(out)])
    assert not (folder / "metrics.json").exists()
    checkpoint = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == KILLED_AT - 1

    assert main(["benchmark", str(suite), "-o", str(out)]) == 0
    info = json.loads((folder / "bench.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    assert info["resumed"] is True and metrics["resumed_from"] == KILLED_AT  # continued, not restarted
    assert metrics["epochs"] == EPOCHS and info["wall_s"] >= 0

    straight = tmp_path / "straight"
    assert main(["benchmark", str(suite), "-o", str(straight)]) == 0
    uninterrupted = straight / "runs" / "tiny" / "small" / "seed0"
    assert json.loads((uninterrupted / "bench.json").read_text())["resumed"] is False
    resumed, expected = (torch.load(f / "model.pt", weights_only=True) for f in (folder, uninterrupted))
    assert resumed.keys() == expected.keys()
    assert all(torch.equal(resumed[k], expected[k]) for k in expected)

    # a second call reuses the finished run: nothing is trained, its files stay as they were
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    monkeypatch.setattr(trainer, "train", lambda *a, **k: pytest.fail("a finished run was trained again"))
    capsys.readouterr()
    assert main(["benchmark", str(suite), "-o", str(out)]) == 0
    assert "[1/" not in capsys.readouterr().err
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before

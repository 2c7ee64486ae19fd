"""`elmo-tasks train / evaluate / predict` on tiny CoNLL files: run folder, determinism, resume, errors."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import tasks.cli as cli
from tasks.ner.tags import is_valid

pytest.importorskip("lightning")

TRAIN = [
    [("John", "B-PER"), ("Smith", "I-PER"), ("lives", "O"), ("in", "O"), ("Paris", "B-LOC"), (".", "O")],
    [("Mary", "B-PER"), ("works", "O"), ("at", "O"), ("Acme", "B-ORG"), ("Corp", "I-ORG")],
    [("He", "O"), ("visited", "O"), ("London", "B-LOC"), ("and", "O"), ("Rome", "B-LOC")],
    [("Acme", "B-ORG"), ("hired", "O"), ("Bob", "B-PER"), ("Jones", "I-PER")],
    [("The", "O"), ("cat", "O"), ("sat", "O")],
    [("Anna", "B-PER"), ("flew", "O"), ("to", "O"), ("Berlin", "B-LOC")],
    [("Globex", "B-ORG"), ("Inc", "I-ORG"), ("is", "O"), ("big", "O")],
    [("Paris", "B-LOC"), ("is", "O"), ("nice", "O")],
]
DEV = [TRAIN[1], TRAIN[5], [("Bob", "B-PER"), ("lives", "O"), ("in", "O"), ("Rome", "B-LOC")]]
TEST = [TRAIN[0], [("Mary", "B-PER"), ("visited", "O"), ("Acme", "B-ORG")]]


def _write(path: Path, sentences) -> str:
    path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in s) for s in sentences) + "\n", encoding="utf-8")
    return str(path)


def _config(tmp_path: Path, epochs: int = 2, test=TEST, dev=DEV, **trainer) -> str:  # dev=None: no validation
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    config = {
        "name": "tiny",
        "task": {"name": "ner"},
        "data": {
            "train": _write(data / "train.txt", TRAIN),
            "validation": _write(data / "dev.txt", dev) if dev is not None else None,
            "test": _write(data / "test.txt", test),
        },
        "embedder": {"type": "random", "dim": 6},
        "model": {"hidden": 8, "layers": 1, "dropout": 0.1, "char_cnn": True},
        "trainer": {"epochs": epochs, "batch_size": 4, "lr": 0.01, "patience": 5, "seed": 1, **trainer},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def run(*argv: str) -> int:
    return cli.main([str(a) for a in argv])


def test_train_writes_run_folder_and_is_deterministic(tmp_path, capsys):
    config = _config(tmp_path)
    assert run("train", config, "-o", tmp_path / "a") == 0
    assert run("train", config, "-o", tmp_path / "b") == 0
    a, b = tmp_path / "a", tmp_path / "b"
    for name in (
        "config.yaml",
        "vocab.json",
        "model.pt",
        "logs/metrics.csv",
        "checkpoints/last.ckpt",
        "checkpoints/best.ckpt",
    ):
        assert (a / name).is_file(), name
    metrics = json.loads((a / "metrics.json").read_text())
    assert set(metrics["dev"]) >= {"f1", "precision", "recall", "per_type"} and "f1" in metrics["test"]
    assert metrics["epochs"] == 2 and 1 <= metrics["best_epoch"] <= 2
    assert (a / "metrics.json").read_text() == (b / "metrics.json").read_text()
    assert yaml.safe_load((a / "config.yaml").read_text())["trainer"]["epochs"] == 2
    vocab = json.loads((a / "vocab.json").read_text())
    assert vocab["labels"][0] == "O" and {"B-PER", "L-PER", "U-PER", "I-PER"} <= set(vocab["labels"])

    # evaluate reproduces metrics.json; predict writes one JSON line per input line
    capsys.readouterr()
    assert run("evaluate", a) == 0
    assert json.loads(capsys.readouterr().out) == {k: metrics[k] for k in ("dev", "test")}
    assert run("evaluate", a, "--data", config.replace("tiny.yaml", "data/test.txt")) == 0
    assert json.loads(capsys.readouterr().out) == metrics["test"]
    source = tmp_path / "input.txt"
    source.write_text("John lives in Paris\n\nMary doesn't work at Unseenword Corp .\n", encoding="utf-8")  # raw text
    assert run("predict", a, source, "-o", tmp_path / "out.jsonl") == 0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["tokens"] for r in rows] == [
        ["John", "lives", "in", "Paris"],
        [],
        ["Mary", "does", "n't", "work", "at", "Unseenword", "Corp", "."],
    ]
    for r in rows:
        assert len(r["tags"]) == len(r["tokens"]) and all(is_valid(t, "IOB2") for t in r["tags"])
    assert run("predict", a, source) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == rows


def _epochs_logged(run_dir: Path) -> list[int]:
    with open(run_dir / "logs" / "metrics.csv", newline="") as handle:
        return [int(r["epoch"]) for r in csv.DictReader(handle) if r.get("val_f1")]


def test_resume_continues_from_last_checkpoint(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run("train", _config(tmp_path, epochs=2), "-o", run_dir) == 0
    first = json.loads((run_dir / "metrics.json").read_text())
    assert first["epochs"] == 2
    assert run("train", _config(tmp_path, epochs=3), "-o", run_dir, "--resume") == 0
    second = json.loads((run_dir / "metrics.json").read_text())
    assert second["epochs"] == 3 and second["global_step"] == first["global_step"] * 3 // 2
    assert _epochs_logged(run_dir) == [0, 1, 2]  # epoch 2 appended, epochs 0-1 not trained again
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["trainer"]["epochs"] == 3
    capsys.readouterr()
    changed = _config(tmp_path, epochs=4)
    assert run("train", changed, "-o", run_dir, "--resume", "--set", "model.hidden=16") == 2
    assert "'model' section differs" in _error(capsys)


def test_last_checkpoint_holds_the_epochs_best_score(tmp_path):
    """--resume continues from last.ckpt: its best-checkpoint state must be the one after its own epoch, or a
    resumed run compares its next epochs with an older best and can keep a worse best.ckpt."""
    import torch

    run_dir = tmp_path / "run"
    assert run("train", _config(tmp_path, epochs=1), "-o", run_dir) == 0
    dev = json.loads((run_dir / "metrics.json").read_text())["dev"]["f1"]
    states = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["callbacks"]
    best = next(v for k, v in states.items() if k.startswith("ModelCheckpoint") and "'monitor': 'val_f1'" in k)
    early = next(v for k, v in states.items() if k.startswith("EarlyStopping"))
    assert best["best_model_score"] is not None and float(best["best_model_score"]) == pytest.approx(dev)
    assert float(early["best_score"]) == pytest.approx(dev) and early["wait_count"] == 0


def test_resume_takes_the_configured_patience(tmp_path):
    import torch

    run_dir = tmp_path / "run"
    assert run("train", _config(tmp_path, epochs=1, patience=2), "-o", run_dir) == 0
    assert run("train", _config(tmp_path, epochs=2, patience=7), "-o", run_dir, "--resume") == 0
    states = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["callbacks"]
    assert next(v for k, v in states.items() if k.startswith("EarlyStopping"))["patience"] == 7  # not the restored 2


def test_resuming_a_run_that_stopped_early_trains_no_further(tmp_path):
    """Its last checkpoint already counts its patience out (as when a run is killed after its last epoch, before
    its metrics are written): the resume ends where a straight run ends."""
    run_dir = tmp_path / "run"
    config = _config(tmp_path, epochs=40, patience=1)
    assert run("train", config, "-o", run_dir) == 0
    stopped = json.loads((run_dir / "metrics.json").read_text())
    assert stopped["stopped_early"] and stopped["epochs"] < 40
    assert run("train", config, "-o", run_dir, "--resume") == 0
    resumed = json.loads((run_dir / "metrics.json").read_text())
    assert resumed["epochs"] == stopped["epochs"] and resumed["stopped_early"]
    assert resumed["test"] == stopped["test"] and resumed["best_epoch"] == stopped["best_epoch"]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("elmo-tasks: error: ")
    return err[-1]


def test_refusals(tmp_path, capsys):
    config = _config(tmp_path)
    assert run("train", config, "-o", tmp_path / "fresh", "--resume") == 2
    assert "no checkpoint" in _error(capsys)
    assert not (tmp_path / "fresh").exists()

    unseen = _config(tmp_path, test=[[("Zed", "B-MISC"), ("ran", "O")]])
    assert run("train", unseen, "-o", tmp_path / "unseen") == 2
    assert "'MISC'" in _error(capsys)
    assert not (tmp_path / "unseen").exists()

    empty = _config(tmp_path)
    (tmp_path / "data" / "dev.txt").write_text("\n\n", encoding="utf-8")
    assert run("train", empty, "-o", tmp_path / "empty") == 2
    assert "no sentences" in _error(capsys)

    assert run("evaluate", tmp_path / "nothing") == 2
    assert "not a run folder" in _error(capsys)


def test_busy_run_dir_message(tmp_path, capsys):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("")
    assert run("train", _config(tmp_path), "-o", busy) == 2
    message = _error(capsys)
    assert "not empty" in message and "--resume" in message


def _interrupt_at_epoch(monkeypatch, epoch: int) -> None:
    """Ctrl-C as the given epoch starts, the epochs before it done and checkpointed (a deterministic kill)."""
    import lightning

    class CtrlC(lightning.Callback):
        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == epoch:
                raise KeyboardInterrupt

    class Trainer(lightning.Trainer):
        def __init__(self, *args, callbacks=(), **kwargs):
            super().__init__(*args, callbacks=[*callbacks, CtrlC()], **kwargs)

    monkeypatch.setattr(lightning, "Trainer", Trainer)


def _log(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "logs" / "metrics.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_ctrl_c_in_fit_is_130_and_resume_is_exact(tmp_path, monkeypatch, capsys):
    import torch

    config = _config(tmp_path, epochs=5, patience=100)  # dropout 0.1: the RNG state must be resumed
    assert run("train", config, "-o", tmp_path / "whole") == 0
    cut = tmp_path / "cut"
    with monkeypatch.context() as patch:
        _interrupt_at_epoch(patch, 3)
        capsys.readouterr()
        assert run("train", config, "-o", cut) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "elmo-tasks: interrupted; nothing half-written was kept"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Lightning left it ignored
    assert not (cut / "metrics.json").exists() and not (cut / "model.pt").exists()
    assert _epochs_logged(cut) == [0, 1, 2]
    assert run("train", config, "-o", cut, "--resume") == 0
    whole_state = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)
    cut_state = torch.load(cut / "model.pt", weights_only=True)
    assert whole_state.keys() == cut_state.keys()
    assert all(torch.equal(whole_state[k], cut_state[k]) for k in whole_state)
    assert _log(cut) == _log(tmp_path / "whole")  # the same losses and dev scores, epoch by epoch
    whole, resumed = (json.loads((d / "metrics.json").read_text()) for d in (tmp_path / "whole", cut))
    assert resumed.pop("resumed_from") == 3 and whole.pop("resumed_from") is None
    assert resumed == whole


@pytest.mark.slow
def test_a_run_killed_twice_keeps_every_epoch_of_its_log(tmp_path):
    """Killed without Lightning's teardown (SIGKILL, the end of a session), resumed, and killed again: the log
    still holds every epoch, so the finished run's log equals an uninterrupted run's. (Once, the history was
    written back only when a resumed fit finished, and a second kill lost the first attempt's epochs.)"""
    config = _config(tmp_path, epochs=5, patience=100)
    assert run("train", config, "-o", tmp_path / "whole") == 0
    cut = tmp_path / "cut"
    kill = (
        "import os, sys, lightning\n"
        "class Kill(lightning.Callback):\n"
        "    def on_train_epoch_start(self, trainer, module):\n"
        "        if trainer.current_epoch == int(os.environ['KILL_AT']):\n"
        "            os._exit(9)\n"
        "class Trainer(lightning.Trainer):\n"
        "    def __init__(self, *args, callbacks=(), **kwargs):\n"
        "        super().__init__(*args, callbacks=[*callbacks, Kill()], **kwargs)\n"
        "lightning.Trainer = Trainer\n"
        "from tasks.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    import torch

    threads = str(torch.get_num_threads())  # the in-process runs' thread count: the same rounding
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": threads}
    for epoch, resume in ((2, []), (4, ["--resume"])):
        argv = [sys.executable, "-c", kill, "train", config, "-o", str(cut), *resume]
        killed = subprocess.run(argv, env={**env, "KILL_AT": str(epoch)}, check=False, timeout=300)
        assert killed.returncode == 9
    assert not (cut / "metrics.json").exists()
    assert run("train", config, "-o", cut, "--resume") == 0
    assert _log(cut) == _log(tmp_path / "whole")


def test_ctrl_c_before_fit_is_130(tmp_path, monkeypatch, capsys):
    from tasks.ner.task import NerTask

    def interrupted(self, config):
        raise KeyboardInterrupt

    monkeypatch.setattr(NerTask, "build", interrupted)
    assert run("train", _config(tmp_path), "-o", tmp_path / "run") == 130
    assert capsys.readouterr().err.strip() == "elmo-tasks: interrupted; nothing half-written was kept"
    assert not (tmp_path / "run").exists()


def test_bf16_and_sgd(tmp_path):
    config = _config(tmp_path, epochs=1, precision="bf16", optimizer="sgd", grad_clip=None)
    assert run("train", config, "-o", tmp_path / "run") == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and 0.0 <= metrics["test"]["f1"] <= 100.0


def test_without_validation_split(tmp_path):
    assert run("train", _config(tmp_path, epochs=1, dev=None), "-o", tmp_path / "run") == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "dev" not in metrics and "f1" in metrics["test"] and metrics["best_epoch"] == 1


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path):
    """Lightning starts a second process (gloo); each rank steps through half the training batches,
    and the validation score gathered from both ranks equals the single-process dev score."""
    run_dir = tmp_path / "run"
    config = _config(tmp_path, epochs=3, batch_size=2, devices=2)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "tasks.cli", "train", config, "-o", str(run_dir)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["devices"] == 2 and metrics["epochs"] == 3
    assert metrics["global_step"] == 3 * 2  # 8 sentences in 4 batches of 2: 2 steps per rank per epoch
    with (run_dir / "logs" / "metrics.csv").open() as handle:
        logged = {int(r["epoch"]): float(r["val_f1"]) for r in csv.DictReader(handle) if r.get("val_f1")}
    assert logged[metrics["best_epoch"] - 1] == pytest.approx(metrics["dev"]["f1"])


def test_run_folder_from_an_incompatible_version_is_one_line(tmp_path, capsys):
    import torch

    run_dir = tmp_path / "run"
    assert run("train", _config(tmp_path, epochs=1), "-o", run_dir) == 0
    state = torch.load(run_dir / "model.pt", weights_only=True)
    state["projection.weight"] = state["projection.weight"][:, :3]  # as if the head had changed shape
    torch.save(state, run_dir / "model.pt")
    capsys.readouterr()
    assert run("evaluate", run_dir) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "comes from an incompatible version" in err


def test_last_checkpoint_follows_every_epoch_not_only_improvements(tmp_path):
    import torch

    run_dir = tmp_path / "run"
    assert run("train", _config(tmp_path, epochs=3, lr=1e-12, patience=10), "-o", run_dir) == 0  # dev F1 never moves
    metrics = json.loads((run_dir / "metrics.json").read_text())
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert metrics["best_epoch"] == 1 and last["epoch"] == 2  # --resume after a kill loses at most one epoch

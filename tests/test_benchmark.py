"""`elmo-tasks benchmark`: suite validation, runs reused on a second call, tables with mean/sd and error reduction."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest
import torch
import yaml

from tasks.bench.report import mix_weights, reduction
from tasks.bench.suite import load_suite
from tasks.cli import main

SENTENCES = [
    "John B-PER\nlives O\nin O\nParis B-LOC",
    "Mary B-PER\nworks O\nat O\nAcme B-ORG",
    "Acme B-ORG\nhired O\nBob B-PER",
    "Anna B-PER\nflew O\nto O\nBerlin B-LOC",
]


def _suite(tmp_path: Path, **task) -> Path:
    data = tmp_path / "train.txt"
    data.write_text("\n\n".join(SENTENCES) + "\n", encoding="utf-8")
    config = {
        "name": "tiny",
        "task": {"name": "ner"},
        "data": {"train": str(data), "validation": str(data), "test": str(data)},
        "embedder": {"type": "random", "dim": 4},
        "model": {"hidden": 4, "layers": 1, "char_cnn": False},
        "trainer": {"epochs": 30, "batch_size": 2, "lr": 0.1, "patience": 1},  # stops early: every run is done
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    spec = {
        "name": "tiny",
        "seeds": [0, 1],
        "baseline": "small",
        "paper": {"small": 90.15},
        "runs": {
            "small": {"config": str(tmp_path / "tiny.yaml")},
            "wide": {"config": str(tmp_path / "tiny.yaml"), "set": ["embedder.dim=8"]},
        },
        **task,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "unit", "tasks": [spec]}), encoding="utf-8")
    return path


def test_benchmark_runs_reuses_and_reports(tmp_path, capsys):
    suite, out = _suite(tmp_path), tmp_path / "out"
    assert main(["benchmark", str(suite), "-o", str(out)]) == 0
    scores = {
        run: [
            json.loads((out / "runs" / "tiny" / run / f"seed{s}" / "metrics.json").read_text())["test"]["f1"]
            for s in (0, 1)
        ]
        for run in ("small", "wide")
    }
    with (out / "tiny.csv").open() as handle:
        table = {r["run"]: r for r in csv.DictReader(handle)}
    assert float(table["small"]["mean"]) == pytest.approx(statistics.fmean(scores["small"]), abs=0.01)
    assert float(table["wide"]["sd"]) == pytest.approx(statistics.stdev(scores["wide"]), abs=0.01)
    increase = statistics.fmean(scores["wide"]) - statistics.fmean(scores["small"])
    assert float(table["wide"]["increase"]) == pytest.approx(increase, abs=0.02)
    assert table["small"]["paper"] == "90.15" and table["small"]["increase"] == ""
    info = json.loads((out / "runs" / "tiny" / "wide" / "seed1" / "bench.json").read_text())
    assert info["overrides"] == ["embedder.dim=8", "trainer.seed=1"] and info["git"]
    assert isinstance(info["wall_s"], float) and info["wall_s"] >= 0  # rounded to 0.1 s: 0.0 on a fast machine
    assert {"cpu_flags", "cpu_capability", "threads"} <= set(info["machine"])
    assert (out / "tiny_bars.png").stat().st_size > 0 and "tiny" in (out / "README.md").read_text()
    capsys.readouterr()
    assert main(["benchmark", str(suite), "-o", str(out), "--dry-run"]) == 0
    assert "0 runs missing" in capsys.readouterr().err
    assert main(["benchmark", str(suite), "-o", str(out), "--report-only"]) == 0


def test_unfinished_run_without_checkpoint_is_restarted(tmp_path, capsys):
    suite, out = _suite(tmp_path, seeds=[0], runs={"small": {"config": str(tmp_path / "tiny.yaml")}}), tmp_path / "o"
    (out / "runs" / "tiny" / "small" / "seed0").mkdir(parents=True)
    (out / "runs" / "tiny" / "small" / "seed0" / "config.yaml").write_text("half")
    assert main(["benchmark", str(suite), "-o", str(out), "--only", "tiny"]) == 0
    assert (out / "runs" / "tiny" / "small" / "seed0" / "metrics.json").is_file()


def test_suite_errors_are_one_line(tmp_path, capsys):
    path = _suite(tmp_path, baseline="glove")
    assert main(["benchmark", str(path), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "baseline 'glove' is not one of the runs (small, wide)" in err
    assert main(["benchmark", str(_suite(tmp_path)), "-o", str(tmp_path / "o"), "--only", "sst"]) == 2
    assert "no task 'sst' in suite 'unit' (tasks: tiny)" in capsys.readouterr().err
    assert main(["benchmark", str(_suite(tmp_path)), "-o", str(tmp_path / "o"), "--run", "elmo"]) == 2
    assert "no run 'elmo' in suite 'unit' (runs: small, wide)" in capsys.readouterr().err


def test_error_reduction_is_relative_to_the_baseline_error():
    assert reduction(90.0, 92.0) == pytest.approx(20.0)  # error 10 -> 8
    assert reduction(51.4, 54.7) == pytest.approx(6.79, abs=0.01)


def test_mix_weights_are_softmaxed_per_mix(tmp_path):
    state = {
        "embedder.parts.1.elmo.mixes.0.scalars": torch.tensor([0.0, 0.0, 0.0]),
        "embedder.parts.1.elmo.mixes.1.scalars": torch.tensor([0.0, 0.0, 100.0]),
        "encoder.weight": torch.zeros(2),
    }
    torch.save(state, tmp_path / "model.pt")
    weights = mix_weights(tmp_path / "model.pt")
    assert weights[0] == pytest.approx([1 / 3] * 3) and weights[1] == pytest.approx([0, 0, 1], abs=1e-6)
    assert mix_weights(tmp_path / "absent.pt") == [] and load_suite  # imported API

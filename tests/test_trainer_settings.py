"""The trainer settings the README promises do what they say: each test fails if its setting is ignored.

Runs are the tiny NER task of test_train.py; one optimizer step is one epoch with the whole train split in a
batch, and a learning rate of 1e-30 leaves the seed's initial weights unchanged (for the comparisons)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from test_train import TRAIN, _config

import elmo_features.bilm as bilm_module
import tasks.cli as cli

pytest.importorskip("lightning")

ONE_STEP = {"epochs": 1, "batch_size": len(TRAIN), "optimizer": "sgd", "grad_clip": None}


def _run(tmp_path: Path, name: str, **trainer) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    out = folder / "run"
    assert cli.main(["train", _config(folder, **trainer), "-o", str(out)]) == 0
    return out


def _weights(run: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if v.is_floating_point()}


def _step(tmp_path: Path, name: str, **trainer) -> torch.Tensor:
    """Every weight's change in one step from the seed's initial weights, flattened."""
    start = _weights(_run(tmp_path, f"{name}-start", **{**ONE_STEP, "lr": 1e-30}))
    after = _weights(_run(tmp_path, name, **{**ONE_STEP, **trainer}))
    return torch.cat([(after[k] - start[k]).flatten() for k in start])


def test_gradient_clipping_bounds_the_step(tmp_path: Path) -> None:
    clipped = _step(tmp_path, "clipped", lr=1.0, grad_clip=1e-4)
    assert 0 < clipped.norm() <= 1e-4 * 1.001  # SGD, lr 1: the step is the clipped gradient
    free = _step(tmp_path, "free", lr=1.0)
    assert free.norm() > 100 * clipped.norm()


def test_optimizer_choice_is_used(tmp_path: Path) -> None:
    """Adam's first step moves every weight by about lr (g / |g|); SGD's by lr * |g|, which varies."""

    def near_lr(step: torch.Tensor, lr: float) -> float:
        moved = step[step.abs() > 1e-9].abs()
        return float(((moved - lr).abs() < 0.02 * lr).float().mean())

    assert near_lr(_step(tmp_path, "adam", lr=1e-3, optimizer="adam"), 1e-3) > 0.8
    assert near_lr(_step(tmp_path, "sgd", lr=1e-3, optimizer="sgd"), 1e-3) < 0.2


def test_bf16_changes_the_arithmetic(tmp_path: Path) -> None:
    fp32 = _weights(_run(tmp_path, "fp32", epochs=2, precision="32"))
    bf16 = _weights(_run(tmp_path, "bf16", epochs=2, precision="bf16"))
    assert all(torch.isfinite(t).all() for t in bf16.values())
    assert max(float((fp32[k] - bf16[k]).abs().max()) for k in fp32) > 1e-5


def test_early_stopping_after_patience_epochs_without_improvement(tmp_path: Path) -> None:
    run = _run(tmp_path, "flat", epochs=30, patience=2, optimizer="sgd", lr=1e-30)  # the dev score never moves
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["best_epoch"] == 1
    with (run / "logs" / "metrics.csv").open(newline="") as handle:
        validated = [row for row in csv.DictReader(handle) if row.get("val_f1")]
    assert len(validated) == 3  # the best epoch and `patience` more


class _Payload:
    """Unpickling this runs code: what a run folder from somebody else could hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def test_a_run_folder_never_executes_code(tmp_path: Path, capsys) -> None:
    run = _run(tmp_path, "run", epochs=1)
    marker = tmp_path / "executed"
    torch.save({"weights": _Payload(marker)}, run / "model.pt")
    source = tmp_path / "input.txt"
    source.write_text("John lives in Paris\n", encoding="utf-8")
    capsys.readouterr()
    for argv in (["evaluate", str(run)], ["predict", str(run), str(source)]):
        assert cli.main(argv) != 0
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "cannot load weights safely" in lines[0], lines
    torch.save({"state_dict": _Payload(marker), "epoch": 0}, run / "checkpoints" / "last.ckpt")
    assert cli.main(["train", str(run / "config.yaml"), "-o", str(run), "--resume"]) != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "cannot load weights safely" in lines[-1], lines
    assert not marker.exists()


def test_feature_cache_runs_the_bilm_only_before_the_first_epoch(tmp_path: Path, tiny_files, monkeypatch) -> None:
    """With the cache on, more epochs cost no biLM call; with it off, every epoch runs the biLM."""
    options, weights = tiny_files
    calls = [0]
    forward = bilm_module.BiLM.forward

    def counting(self, *args, **kwargs):
        calls[0] += 1
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(bilm_module.BiLM, "forward", counting)

    def bilm_calls(name: str, epochs: int, cache: bool) -> int:
        folder = tmp_path / name
        folder.mkdir()
        config = Path(_config(folder, epochs=epochs))
        text = config.read_text().replace(
            "embedder:\n  dim: 6\n  type: random",
            f"embedder:\n  type: elmo\n  options: {options}\n  weights: {weights}\n  cache: {str(cache).lower()}\n"
            f"  cache_dir: {folder / 'cache'}",
        )
        assert "type: elmo" in text
        config.write_text(text)
        calls[0] = 0
        assert cli.main(["train", str(config), "-o", str(folder / "run")]) == 0
        return calls[0]

    assert bilm_calls("cached1", 1, True) == bilm_calls("cached3", 3, True) > 0
    assert bilm_calls("live3", 3, False) > bilm_calls("live1", 1, False) > 0


def test_adam_runs_fused_except_under_bf16() -> None:
    """Fused Adam (one pass per tensor) steps as the plain one does, up to rounding; bf16-mixed keeps it unfused
    (Lightning will not clip a fused optimizer's gradients: test_bf16_changes_the_arithmetic clips)."""
    from elmo_features.embedders import build_embedder
    from tasks.common.config import TrainerConfig
    from tasks.common.trainer import make_optimizer

    def model() -> torch.nn.Module:
        torch.manual_seed(0)
        head = torch.nn.Linear(4, 3)
        head.embedder = build_embedder({"type": "random", "dim": 4}, ["a", "b"])
        return head

    fused, plain = model(), model()
    optimizers = [make_optimizer(fused, TrainerConfig()), torch.optim.Adam(plain.parameters(), lr=1e-3)]
    assert (
        optimizers[0].defaults["fused"] and not make_optimizer(plain, TrainerConfig(precision="bf16")).defaults["fused"]
    )
    for _ in range(3):
        for net, optimizer in zip((fused, plain), optimizers, strict=True):
            net(net.embedder.embedding.weight).pow(2).sum().backward()
            optimizer.step()
            optimizer.zero_grad()
    for a, b in zip(fused.parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert not torch.equal(fused.weight, model().weight)  # the steps moved it

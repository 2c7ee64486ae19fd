"""Same seed, same run, for every task: identical weights (tensor for tensor) and logged losses; another seed
gives other weights. (On one machine and library build: float kernels differ between CPUs.)"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from test_qa_task import make_config as qa_config
from test_sentiment_task import config_file as sentiment_config
from test_train import _config as ner_config

import tasks.cli as cli

pytest.importorskip("lightning")

CONFIGS = {
    "ner": lambda tmp: ner_config(tmp, epochs=2),
    "sentiment": lambda tmp: sentiment_config(tmp, dropout=0.2),  # 12 epochs
    "qa": lambda tmp: qa_config(tmp, epochs=2),
}


def _train(config: str, out: Path, seed: int) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The last epoch's weights and the logged training losses of one run."""
    assert cli.main(["train", config, "-o", str(out), "--set", f"trainer.seed={seed}"]) == 0
    state = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    with (out / "logs" / "metrics.csv").open(newline="", encoding="utf-8") as handle:
        losses = [row["train_loss"] for row in csv.DictReader(handle) if row.get("train_loss")]
    assert losses
    return state, losses


@pytest.mark.parametrize("task", sorted(CONFIGS))
def test_same_seed_same_weights_and_losses_other_seed_differs(task: str, tmp_path: Path) -> None:
    config = CONFIGS[task](tmp_path)
    first, first_losses = _train(config, tmp_path / "a", seed=3)
    again, again_losses = _train(config, tmp_path / "b", seed=3)
    other, other_losses = _train(config, tmp_path / "c", seed=4)
    assert first.keys() == again.keys() == other.keys()
    for name, tensor in first.items():
        assert torch.equal(tensor, again[name]), name
    assert first_losses == again_losses
    assert any(not torch.equal(tensor, other[name]) for name, tensor in first.items() if tensor.is_floating_point())
    assert first_losses != other_losses

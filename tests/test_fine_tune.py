"""Fine-tuning the biLM with a task (``embedder: {type: elmo, trainable: true}``): gradients, the optimizer
group, the frozen warm-up, the cache refusal, and the export of the fine-tuned biLM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import tasks.cli as cli
from elmo_features.bilm import BiLM
from elmo_features.embedders import TokenBatch, build_embedder, parse_config
from elmo_features.errors import ElmoError
from elmo_features.options import BiLMOptions
from elmo_features.pretrain.export import to_official
from elmo_features.weights import random_weights

pytest.importorskip("lightning")

SENTENCES = [["The", "bank", "rose", "."], ["a", "river"]]
TRAIN = [
    [("John", "B-PER"), ("lives", "O"), ("in", "O"), ("Paris", "B-LOC")],
    [("Mary", "B-PER"), ("works", "O"), ("at", "O"), ("Acme", "B-ORG")],
    [("He", "O"), ("visited", "O"), ("London", "B-LOC")],
    [("Acme", "B-ORG"), ("hired", "O"), ("Bob", "B-PER")],
]


def _elmo(tiny_files, **extra) -> dict:
    return {"type": "elmo", "options": str(tiny_files[0]), "weights": str(tiny_files[1]), "dropout": 0.0, **extra}


def _bilm_grads(tiny_files, **extra) -> tuple[dict, dict]:
    embedder = build_embedder(_elmo(tiny_files, **extra), [])
    embedder(TokenBatch.from_tokens(SENTENCES)).pow(2).sum().backward()
    return (
        {n: p.grad for n, p in embedder.elmo.bilm.named_parameters()},
        {n: p.grad for n, p in embedder.elmo.mixes.named_parameters()},
    )


def test_gradients_reach_the_bilm_only_when_trainable(tiny_files):
    bilm, mixes = _bilm_grads(tiny_files, trainable=True)
    assert len(bilm) == 19
    for name, grad in bilm.items():
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    assert all(g is not None for g in mixes.values())
    bilm, mixes = _bilm_grads(tiny_files, cache=False)
    assert all(g is None for g in bilm.values())
    assert all(g is not None for g in mixes.values())


@pytest.mark.parametrize("state", ["warm", "stateless"])
def test_bilm_gradient_matches_finite_differences(tiny_files, state):
    """The warm start state depends on the weights: its path is part of the gradient."""
    bilm = BiLM.from_files(*tiny_files, state=state).requires_grad_(True)
    weights = torch.randn(3, 2, 4, 16, generator=torch.Generator().manual_seed(0))

    def loss() -> torch.Tensor:
        return (bilm(SENTENCES)[0] * weights).sum()

    loss().backward()
    for param, index in ((bilm.char_cnn.projection.weight, (1, 1)), (bilm.w_state[0], (0, 3, 2))):
        eps = 1e-2
        with torch.no_grad():
            param[index] += eps
            up = loss().item()
            param[index] -= 2 * eps
            down = loss().item()
            param[index] += eps
        assert (up - down) / (2 * eps) == pytest.approx(param.grad[index].item(), rel=0.02, abs=1e-3)


def test_bilm_exports_the_official_arrays_it_loaded(tiny_files):
    """to_official of a BiLM is the inverse of its loader (which adds 1 to the forget-gate bias)."""
    options = BiLMOptions.load(tiny_files[0])
    arrays = to_official(BiLM.from_files(*tiny_files))
    for name, array in random_weights(options, seed=1).items():
        np.testing.assert_allclose(arrays[name], array, atol=1e-6, err_msg=name)


def test_cache_true_with_trainable_is_refused_and_the_default_cache_is_off():
    with pytest.raises(ElmoError, match=r"^embedder: trainable: true cannot use cache: true"):
        parse_config({"type": "elmo", "trainable": True, "cache": True})
    config = parse_config({"type": "elmo", "trainable": True})
    assert config.cache is False and parse_config(config.model_dump()).cache is False


def _config(tmp_path: Path, tiny_files, dev: bool = True, **extra) -> str:
    data = tmp_path / "train.txt"
    data.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in s) for s in TRAIN) + "\n", encoding="utf-8")
    config = {
        "name": "tiny_finetune",
        "task": {"name": "ner"},
        "data": {"train": str(data), "validation": str(data) if dev else None},
        "embedder": _elmo(tiny_files, trainable=True, **extra),
        "model": {"hidden": 8, "layers": 1, "dropout": 0.0, "char_cnn": False},
        "trainer": {"epochs": 1, "batch_size": 2, "lr": 0.01, "seed": 1},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def test_lr_scale_reaches_the_optimizer(tmp_path, tiny_files):
    from tasks.common.config import load_config
    from tasks.common.task import get_task
    from tasks.common.trainer import _lightning_module

    config = load_config(_config(tmp_path, tiny_files, lr_scale=0.25))
    task = get_task("ner")
    model = task.build(config).model
    groups = _lightning_module(model, task, config).configure_optimizers().param_groups
    assert [g["lr"] for g in groups] == [0.01, 0.0025]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.embedder.elmo.bilm.parameters()}
    assert not {id(p) for p in groups[0]["params"]} & {id(p) for p in groups[1]["params"]}


def _bilm_state(checkpoint: Path) -> dict[str, torch.Tensor]:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    prefix = "model.embedder.elmo.bilm."
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}


def test_frozen_warm_up_then_fine_tuned_biLM_is_saved_and_exported(tmp_path, tiny_files, capsys):
    run = tmp_path / "run"
    # no dev split: model.pt is the last epoch's (with one, the best dev epoch's, which may be the frozen first)
    config = _config(tmp_path, tiny_files, dev=False, frozen_epochs=1)
    assert cli.main(["train", config, "-o", str(run)]) == 0
    err = capsys.readouterr().err
    assert "fine-tuning the biLM" in err and "frozen for the first 1 epoch(s)); no feature cache" in err
    original = BiLM.from_files(*tiny_files).state_dict()
    after_one = _bilm_state(run / "checkpoints" / "last.ckpt")
    assert all(torch.equal(after_one[k], original[k]) for k in original), "epoch 1 must leave the biLM frozen"

    assert cli.main(["train", config, "-o", str(run), "--resume", "--set", "trainer.epochs=2"]) == 0
    after_two = _bilm_state(run / "checkpoints" / "last.ckpt")
    changed = [k for k in original if not torch.equal(after_two[k], original[k])]
    assert len(changed) == len(original), "epoch 2 trains every biLM weight"

    from tasks.common.task import get_task

    model, _, _ = get_task("ner").load_run(run)
    tuned = model.embedder.elmo.bilm
    assert not torch.equal(tuned.w_state[0], original["w_state.0"])  # model.pt holds a fine-tuned biLM
    assert cli.main(["export", str(run), "-o", str(tmp_path / "bilm")]) == 0
    exported = BiLM.from_files(tmp_path / "bilm" / "options.json", tmp_path / "bilm" / "weights.hdf5")
    with torch.no_grad():
        ours, mask = tuned(SENTENCES)
        theirs, their_mask = exported(SENTENCES)
    assert torch.equal(mask, their_mask)
    torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=0)


def test_export_refuses_a_run_without_a_bilm(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert cli.main(["export", str(tmp_path / "run"), "-o", str(tmp_path / "out")]) != 0
    assert "is not a run folder" in capsys.readouterr().err


def test_changed_weights_drop_the_token_cache_and_warm_state(tiny_files):
    """An optimizer step changes the weights in place: the next forward must not serve old vectors."""
    bilm = BiLM.from_files(*tiny_files)
    bilm(SENTENCES)  # fills the token cache and the warm state
    with torch.no_grad():
        bilm.char_cnn.projection.bias.add_(0.5)
        bilm.w_state[0].mul_(1.5)
    fresh = BiLM.from_files(*tiny_files)
    fresh.load_state_dict(bilm.state_dict())
    torch.testing.assert_close(bilm(SENTENCES)[0], fresh(SENTENCES)[0], atol=1e-6, rtol=0)


def test_weights_loaded_by_assignment_drop_the_token_cache_and_warm_state(tiny_files):
    """``load_state_dict(assign=True)`` swaps in new tensors, whose version counters start again at 0: two such
    loads in a row leave every counter as it was."""
    bilm = BiLM.from_files(*tiny_files)
    original = bilm.state_dict()
    bilm.load_state_dict({k: v * 1.5 for k, v in original.items()}, assign=True)
    bilm(SENTENCES)  # fills the token cache and the warm state
    changed = {k: v * 2.0 for k, v in original.items()}
    bilm.load_state_dict(changed, assign=True)
    expected = BiLM.from_files(*tiny_files)
    expected.load_state_dict(changed)
    torch.testing.assert_close(bilm(SENTENCES)[0], expected(SENTENCES)[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("fused", [True, False])
def test_an_optimizer_step_drops_the_token_cache_and_warm_state(tiny_files, fused):
    """A fused Adam step (the trainer's optimizer) leaves the weights' version counters as they were: validation
    between steps of a fine-tuned biLM must still see features of the current weights, not cached old ones."""
    bilm = BiLM.from_files(*tiny_files).requires_grad_(True)
    with torch.no_grad():
        bilm(SENTENCES)  # fills the token cache and the warm state, as a validation pass does
    optimizer = torch.optim.Adam(bilm.parameters(), lr=0.05, fused=fused)
    bilm(SENTENCES)[0].pow(2).sum().backward()
    optimizer.step()
    fresh = BiLM.from_files(*tiny_files)
    fresh.load_state_dict(bilm.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(bilm(SENTENCES)[0], fresh(SENTENCES)[0], atol=1e-6, rtol=0)

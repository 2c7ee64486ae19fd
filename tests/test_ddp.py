"""Data parallelism: rank sharding of the task batch sampler and of the pretraining corpus stream (plain unit
tests, no processes), and ``pretrain --devices 2`` without torchrun: it starts its own two gloo processes, and
their one step is the step on the mean of the two ranks' gradients."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
import torch

import tasks.common.batching as batching
from elmo_features.pretrain.corpus import Batcher, sentence_stream
from elmo_features.pretrain.lm import BidirectionalLM
from elmo_features.pretrain.sizes import size_options
from elmo_features.pretrain.train import CHECKPOINT, PretrainConfig, make_optimizer, prepare
from tasks.cli import main

LENGTHS = [random.Random(0).randint(1, 30) for _ in range(103)]


def _per_rank(monkeypatch, sampler: batching.BucketBatchSampler, size: int) -> list[list[list[int]]]:
    out = []
    for rank in range(size):
        monkeypatch.setattr(batching, "world", lambda rank=rank: (rank, size))
        batches = list(sampler)
        assert len(sampler) == len(batches)  # what Lightning counts as the epoch's steps
        out.append(batches)
    return out


@pytest.mark.parametrize("size", [2, 3, 4])
@pytest.mark.parametrize("epoch", [0, 1])
def test_training_sampler_gives_each_rank_its_own_batches_and_equal_steps(monkeypatch, size, epoch):
    sampler = batching.BucketBatchSampler(LENGTHS, batch_size=4, shuffle=True, seed=7)
    sampler.set_epoch(epoch)
    whole = list(sampler)  # outside a process group: every batch once
    ranks = _per_rank(monkeypatch, sampler, size)
    assert len({len(b) for b in ranks}) == 1  # the same number of steps on every rank (no DDP hang)
    steps = len(ranks[0])
    assert steps == -(-len(whole) // size)
    # round-robin over the one shuffled order, which is the same on every rank
    dealt = [ranks[k % size][k // size] for k in range(steps * size)]
    assert dealt == (whole * size)[: steps * size]
    # so every example is seen, and only the padding batches (the first few, repeated) are seen twice
    seen = Counter(i for batches in ranks for batch in batches for i in batch)
    assert set(seen) == set(range(len(LENGTHS)))
    repeated = {i for batch in whole[: steps * size - len(whole)] for i in batch}
    assert {i for i, n in seen.items() if n > 1} == repeated
    assert all(n <= 2 for n in seen.values())


def test_epochs_reshuffle_the_same_way_on_every_rank(monkeypatch):
    sampler = batching.BucketBatchSampler(LENGTHS, batch_size=4, shuffle=True, seed=7)
    first = _per_rank(monkeypatch, sampler, 2)
    sampler.set_epoch(1)
    assert _per_rank(monkeypatch, sampler, 2) != first


@pytest.mark.parametrize("size", [2, 3])
def test_validation_sampler_splits_the_data_without_repeats(monkeypatch, size):
    sampler = batching.BucketBatchSampler(LENGTHS, batch_size=4, shuffle=False)
    whole = list(sampler)
    ranks = _per_rank(monkeypatch, sampler, size)
    assert sorted(b for batches in ranks for b in batches) == sorted(whole)  # disjoint, covering, nothing twice
    assert all(len(batches) >= len(whole) // size for batches in ranks)


def test_unsharded_sampler_ignores_the_process_group(monkeypatch):
    sampler = batching.BucketBatchSampler(LENGTHS, batch_size=4, shuffle=True, seed=7, shard=False)
    whole = list(sampler)
    assert _per_rank(monkeypatch, sampler, 2) == [whole, whole]


@pytest.mark.parametrize("seed", [None, 5])
def test_corpus_stream_gives_each_rank_its_own_lines(tmp_path, seed):
    lines = [f"s{i} " + "w " * (i % 7) for i in range(41)]
    lines[10] = "far " * 30  # longer than max_tokens: skipped before the lines are dealt
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    usable = [line.split() for k, line in enumerate(lines) if k != 10]
    shards = [
        list(sentence_stream([path], 20, seed=seed, rank=r, world=3, buffer_size=4, repeat=False)) for r in range(3)
    ]
    for rank, shard in enumerate(shards):
        mine = usable[rank::3]  # usable line i goes to rank i % world
        assert shard == mine if seed is None else sorted(shard) == sorted(mine)
    assert sorted(s for shard in shards for s in shard) == sorted(usable)


# ---------------------------------------------------------------------------- pretrain with two processes
PRETRAIN = {"batch_size": 4, "unroll": 5, "optimizer": "adagrad", "lr": 0.5, "dropout": 0.1, "n_samples": 8, "seed": 3}


def _flags() -> list[str]:
    return [f for k, v in PRETRAIN.items() for f in (f"--{k.replace('_', '-')}", str(v))]


def _one_step(cfg, grads_of) -> dict[str, torch.Tensor]:
    """The weights after one step of ``cfg``'s optimiser on the gradient ``grads_of(per_rank_grads)``."""
    options, vocab, _, _ = prepare(cfg)
    torch.manual_seed(cfg.seed)
    model = BidirectionalLM(options, len(vocab), cfg.dropout, cfg.n_samples).train()
    params = list(model.parameters())
    per_rank = []
    for rank in range(2):  # what each process computes on its own shard, with its own RNG stream
        torch.manual_seed(cfg.seed * 1000 + rank + 1)
        stream = sentence_stream(cfg.texts, cfg.max_tokens, cfg.tokenize, f"{cfg.seed}/0", rank, 2, cfg.buffer_size)
        batch = next(Batcher(stream, vocab, cfg.batch_size, cfg.unroll))
        loss_f, loss_b, _ = model(batch, model.zero_state(cfg.batch_size))
        loss = 0.5 * (loss_f + loss_b) / batch.n_tokens
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        per_rank.append([torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)])
    optimizer = make_optimizer(model, cfg)
    for p, g in zip(params, grads_of(per_rank), strict=True):
        p.grad = g
    assert float(torch.nn.utils.clip_grad_norm_(params, cfg.clip_norm)) < cfg.clip_norm  # no clipping to hide scale
    optimizer.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.slow
def test_pretrain_devices_2_without_torchrun_steps_on_the_mean_gradient(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    rng = random.Random(0)
    words = ["the", "a", "cat", "dog", "sat", "ran", "on", "in", "mat", "park", "my", "friend", "likes", "green", "tea"]
    corpus = tmp_path / "train.txt"
    corpus.write_text("\n".join(" ".join(rng.choices(words, k=rng.randint(3, 8))) for _ in range(60)) + "\n")
    out = tmp_path / "ddp"
    flags = ["--size", "tiny", "--devices", "2", "--max-steps", "1", "--no-progress", *_flags()]
    assert main(["pretrain", str(corpus), "-o", str(out), *flags]) == 0  # starts its own two processes
    checkpoint = torch.load(out / CHECKPOINT, weights_only=True)
    assert checkpoint["step"] == 1 and len(checkpoint["ranks"]) == 2

    options = size_options("tiny")
    cfg = PretrainConfig([str(corpus)], str(tmp_path / "check"), options, devices=2, max_steps=1, **PRETRAIN)
    mean = _one_step(cfg, lambda g: [(a + b) / 2 for a, b in zip(*g, strict=True)])
    for name, expected in mean.items():
        torch.testing.assert_close(checkpoint["model"][name], expected, rtol=1e-5, atol=1e-6, msg=name)
    # and the check can tell: the sum, or one rank's gradient alone, gives other weights
    for other in (lambda g: [a + b for a, b in zip(*g, strict=True)], lambda g: g[0]):
        changed = _one_step(cfg, other)
        assert any(not torch.allclose(changed[k], mean[k], rtol=1e-4, atol=1e-5) for k in mean)
    assert (Path(out) / "weights.hdf5").is_file()

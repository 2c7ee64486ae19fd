"""BiDAF: best-span decoding against brute force, shapes, masking, overfitting 4 examples."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from elmo_features.embedders import ConcatEmbedder, StaticEmbedder, TokenBatch
from elmo_features.errors import ElmoError
from tasks.qa.config import QaModel
from tasks.qa.model import Bidaf, best_span


def brute_force(start, end, length, max_length):
    ls, le = torch.log_softmax(start[:length], -1), torch.log_softmax(end[:length], -1)
    best, where = -float("inf"), None
    for i, j in itertools.product(range(length), repeat=2):
        if i <= j and (max_length is None or j - i < max_length) and ls[i] + le[j] > best:
            best, where = ls[i] + le[j], (i, j)
    return where


@pytest.mark.parametrize("max_length", [None, 1, 3])
def test_best_span_matches_brute_force(max_length):
    generator = torch.Generator().manual_seed(0)
    start, end = torch.randn(20, 9, generator=generator), torch.randn(20, 9, generator=generator)
    lengths = torch.randint(1, 10, (20,), generator=generator)
    mask = torch.arange(9) < lengths.unsqueeze(1)
    spans = best_span(start, end, mask, max_length)
    for b in range(20):
        assert tuple(spans[b].tolist()) == brute_force(start[b], end[b], int(lengths[b]), max_length)


def static(words, dim=8, seed=0):
    rows = ["@@PADDING@@", "@@UNKNOWN@@", *words]
    matrix = np.random.default_rng(seed).normal(size=(len(rows), dim)).astype(np.float32)
    return StaticEmbedder(rows, matrix, trainable=True)


RAW = [
    ("who sat on the mat ?", "the cat sat on the mat today", (1, 1)),
    ("where did the dog run ?", "a dog ran to the park quickly", (3, 5)),
    ("when did it rain ?", "it rained on monday", (3, 3)),
    ("what is red ?", "the big apple is red and round , yes", (1, 2)),
]
EXAMPLES = [(q.split(" "), p.split(" "), span) for q, p, span in RAW]


def assert_useful(grad) -> None:
    """A gradient that reaches the parameter: present, finite and not all zero."""
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def batches():
    question = TokenBatch.from_tokens([q for q, _, _ in EXAMPLES])
    passage = TokenBatch.from_tokens([p for _, p, _ in EXAMPLES])
    return question, passage, torch.tensor([s for _, _, s in EXAMPLES])


def test_forward_shapes_and_padding_invariance():
    words = sorted({w for q, p, _ in EXAMPLES for w in q + p})
    torch.manual_seed(0)
    model = Bidaf(static(words), sorted(set("".join(words))), QaModel(hidden=6, dropout=0.0)).eval()
    question, passage, spans = batches()
    out = model(question, passage, spans)
    assert out["span_start_logits"].shape == (4, 9) and out["best_span"].shape == (4, 2)
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    alone = model(TokenBatch.from_tokens([EXAMPLES[2][0]]), TokenBatch.from_tokens([EXAMPLES[2][1]]))
    assert torch.allclose(alone["span_start_logits"][0], out["span_start_logits"][2, :4], atol=1e-5)
    assert (out["best_span"][:, 1] < passage.mask.sum(1)).all()


def test_overfits_four_examples():
    words = sorted({w for q, p, _ in EXAMPLES for w in q + p})
    torch.manual_seed(0)
    model = Bidaf(static(words), sorted(set("".join(words))), QaModel(hidden=16, dropout=0.0))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    question, passage, spans = batches()
    for _ in range(60):
        optimizer.zero_grad()
        loss = model(question, passage, spans)["loss"]
        loss.backward()
        optimizer.step()
    model.eval()
    assert loss.item() < 0.1
    assert model(question, passage)["best_span"].tolist() == spans.tolist()


class WithExtras(StaticEmbedder):
    """A stand-in for an ELMo embedder with ``outputs: 2``: one extra (B, T, 4) mix."""

    extra_dims = (4,)

    def with_extras(self, batch):
        vectors = self(batch)
        return vectors, [vectors[..., :4] * 2]


def test_elmo_placements():
    words = sorted({w for q, p, _ in EXAMPLES for w in q + p})
    question, passage, spans = batches()
    embedder = WithExtras(["@@PADDING@@", "@@UNKNOWN@@", *words], np.ones((len(words) + 2, 8), np.float32))
    both = Bidaf(embedder, [], QaModel(hidden=5, elmo="both"))
    assert both.attention.output_dim == 4 * (10 + 4)
    assert torch.isfinite(both(question, passage, spans)["loss"])
    with pytest.raises(ElmoError, match="outputs: 2"):
        Bidaf(static(words), [], QaModel(hidden=5, elmo="both"))
    with pytest.raises(ElmoError, match="concat embedder"):
        Bidaf(ConcatEmbedder([static(words)]), [], QaModel(hidden=5, elmo="output"))


def test_elmo_at_output_only(tiny_files):
    from elmo_features.embedders import build_embedder

    options, weights = tiny_files
    words = sorted({w for q, p, _ in EXAMPLES for w in q + p})
    block = {
        "type": "concat",
        "parts": [
            {"type": "random", "dim": 6},
            {"type": "elmo", "options": str(options), "weights": str(weights), "cache": False, "state": "stateless"},
        ],
    }
    model = Bidaf(build_embedder(block, words), [], QaModel(hidden=5, elmo="output"))
    assert model.highway.layers[0].in_features == 6 + 100  # random part + char CNN; ELMo (16) at the output
    assert model.attention.output_dim == 4 * (10 + 16)
    question, passage, spans = batches()
    loss = model(question, passage, spans)["loss"]
    loss.backward()
    assert_useful(model.embedder.parts[1].elmo.mixes[0].scalars.grad)


def test_elmo_at_input_and_output(tiny_files):
    from elmo_features.embedders import build_embedder

    options, weights = tiny_files
    words = sorted({w for q, p, _ in EXAMPLES for w in q + p})
    block = {"type": "elmo", "options": str(options), "weights": str(weights), "cache": False, "outputs": 2}
    model = Bidaf(build_embedder(block, words), [], QaModel(hidden=5, elmo="both"))
    assert model.highway.layers[0].in_features == 16 + 100 and model.attention.output_dim == 4 * (10 + 16)
    question, passage, spans = batches()
    model(question, passage, spans)["loss"].backward()
    mixes = model.embedder.elmo.mixes
    assert_useful(mixes[0].scalars.grad)
    assert_useful(mixes[1].scalars.grad)

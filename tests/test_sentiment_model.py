"""Sentiment heads: shapes, padding invariance, overfitting a tiny set, ELMo at the output, errors."""

from __future__ import annotations

import pytest
import torch

from elmo_features.embedders import TokenBatch, build_embedder
from elmo_features.errors import ElmoError
from tasks.common.layers import masked_softmax
from tasks.sentiment.config import SentimentModel
from tasks.sentiment.model import Maxout, SentimentClassifier

WORDS = ["good", "great", "bad", "awful", "the", "film", "was", "plot", "really", "not"]
SMALL = {
    "feedforward": 8,
    "hidden": 6,
    "integrator_hidden": 6,
    "classifier_hidden": (8,),
    "classifier_dropout": (0.0,),
    "maxout_pool": 2,
}


def embedder(dim: int = 8):
    torch.manual_seed(0)
    return build_embedder({"type": "random", "dim": dim}, WORDS)


def model(head: str = "bcn", **kwargs) -> SentimentClassifier:
    torch.manual_seed(0)
    options = {**SMALL, "dropout": 0.0, "feedforward_dropout": 0.0, "integrator_dropout": 0.0, **kwargs}
    return SentimentClassifier(embedder(), ["neg", "pos"], SentimentModel(head=head, **options))


@pytest.mark.parametrize("head", ["bcn", "bilstm_attention"])
@pytest.mark.parametrize("classifier_type", ["maxout", "mlp"])
def test_shapes_and_padding_do_not_change_logits(head: str, classifier_type: str) -> None:
    net = model(head, classifier=classifier_type).eval()
    short = ["the", "film", "was", "good"]
    long = ["the", "plot", "was", "really", "not", "great", "film", "bad"]
    batch = TokenBatch.from_tokens([short, long, ["bad"]])
    out = net(batch, torch.tensor([1, 0, 0]))
    assert out["logits"].shape == (3, 2) and out["probabilities"].shape == (3, 2)
    assert torch.allclose(out["probabilities"].sum(-1), torch.ones(3))
    assert out["loss"].ndim == 0 and out["loss"].item() > 0
    alone = net(TokenBatch.from_tokens([short]))["logits"]
    assert torch.allclose(out["logits"][0], alone[0], atol=1e-5)
    assert torch.allclose(out["logits"][2], net(TokenBatch.from_tokens([["bad"]]))["logits"][0], atol=1e-5)
    assert torch.equal(net.predict(batch), out["probabilities"])


@pytest.mark.parametrize("pooling", [["max"], ["mean"], ["min"], ["attention"], ["max", "mean", "min", "attention"]])
def test_each_pooling_ignores_padding(pooling: list[str]) -> None:
    net = model("bcn", pooling=pooling).eval()
    short = ["good", "film"]
    both = net(TokenBatch.from_tokens([short, ["the", "plot", "was", "not", "good"]]))["logits"]
    assert torch.allclose(both[0], net(TokenBatch.from_tokens([short]))["logits"][0], atol=1e-5)


def test_masked_softmax_and_maxout() -> None:
    weights = masked_softmax(torch.tensor([[1.0, 2.0, 30.0]]), torch.tensor([[True, True, False]]))
    assert torch.allclose(weights, torch.tensor([[1.0, torch.e, 0.0]]) / (1 + torch.e))
    maxout = Maxout(3, [2], pool=2, dropouts=[0.0])
    x = torch.randn(4, 3)
    assert torch.equal(maxout(x), maxout.layers[0](x).view(4, 2, 2).amax(-1))


def test_the_one_masked_softmax_equals_both_former_copies() -> None:
    """The sentiment copy filled masked logits with -1e7, the QA copy with the dtype's lowest value (the
    one kept): on every row with an unmasked position they give the same weights, to the bit; the
    all-masked row gives zeros; only in fp16, which cannot hold -1e7, did the first fail."""
    torch.manual_seed(0)
    logits = 10 * torch.randn(64, 9, 12)
    mask = torch.rand(64, 9, 12) > 0.4
    mask[..., 0] = True  # each row has an unmasked position
    sentiment_copy = torch.softmax(logits.masked_fill(~mask, -1e7), dim=-1) * mask
    qa_copy = torch.softmax(logits.masked_fill(~mask, torch.finfo(logits.dtype).min), dim=-1) * mask
    assert torch.equal(masked_softmax(logits, mask), sentiment_copy)
    assert torch.equal(masked_softmax(logits, mask), qa_copy)
    keys = mask[:, :1, :]  # broadcast over queries, as the biattention uses it
    assert torch.equal(masked_softmax(logits, keys), torch.softmax(logits.masked_fill(~keys, -1e7), -1) * keys)
    none = torch.zeros(1, 4, dtype=torch.bool)
    assert torch.equal(masked_softmax(torch.randn(1, 4), none), torch.zeros(1, 4))
    half = torch.randn(1, 4).half()
    with pytest.raises(RuntimeError, match="overflow"):  # the fill that went does not fit fp16 at all
        half.masked_fill(~none, -1e7)
    assert torch.equal(masked_softmax(half, none), torch.zeros(1, 4).half())


SENTENCES = [
    (["the", "film", "was", "good"], 1),
    (["great", "plot"], 1),
    (["really", "great", "film"], 1),
    (["the", "plot", "was", "good", "really"], 1),
    (["the", "film", "was", "bad"], 0),
    (["awful", "plot"], 0),
    (["really", "awful", "film"], 0),
    (["not", "good", "bad"], 0),
]


def overfit(net: SentimentClassifier, steps: int = 60) -> float:
    batch = TokenBatch.from_tokens([s for s, _ in SENTENCES])
    labels = torch.tensor([label for _, label in SENTENCES])
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=0.02)
    net.train()
    for _ in range(steps):
        optimizer.zero_grad()
        net(batch, labels)["loss"].backward()
        optimizer.step()
    net.eval()
    return float((net.predict(batch).argmax(-1) == labels).float().mean())


@pytest.mark.parametrize("head", ["bcn", "bilstm_attention"])
def test_overfits_a_tiny_dataset(head: str) -> None:
    torch.manual_seed(1)
    assert overfit(model(head)) == 1.0


def elmo_embedder(tiny_files, outputs: int):
    options, weights = tiny_files
    block = {"type": "elmo", "options": str(options), "weights": str(weights), "outputs": outputs, "cache": False}
    return build_embedder({"type": "concat", "parts": [{"type": "random", "dim": 4}, block]}, WORDS)


def test_elmo_at_output(tiny_files) -> None:
    torch.manual_seed(0)
    net = SentimentClassifier(elmo_embedder(tiny_files, 2), ["neg", "pos"], SentimentModel(elmo_output=True, **SMALL))
    assert net.integrator.output_dim + 16 == net.attention.in_features  # tiny biLM: 2 x 8 per mix
    mixes = net.embedder.parts[1].elmo.mixes
    assert overfit(net, 40) == 1.0
    assert all(m.scalars.grad is not None and m.scalars.grad.abs().sum() > 0 for m in mixes)  # both mixes train
    net.eval()
    short = ["good", "film"]
    both = net(TokenBatch.from_tokens([short, ["the", "plot", "was", "not", "good"]]))["logits"]
    assert torch.allclose(both[0], net(TokenBatch.from_tokens([short]))["logits"][0], atol=1e-5)


def test_configuration_errors(tiny_files) -> None:
    with pytest.raises(ElmoError, match="elmo_output needs an ELMo embedder with 'outputs: 2'"):
        SentimentClassifier(embedder(), ["a", "b"], SentimentModel(elmo_output=True))
    with pytest.raises(ElmoError, match="extra ELMo mix"):
        SentimentClassifier(elmo_embedder(tiny_files, 2), ["a", "b"])
    with pytest.raises(ElmoError, match="unknown head 'cnn'"):
        SentimentClassifier(embedder(), ["a", "b"], SentimentModel.model_construct(head="cnn"))
    with pytest.raises(ElmoError, match="pooling"):
        SentimentClassifier(embedder(), ["a", "b"], SentimentModel.model_construct(pooling=["sum"]))
    with pytest.raises(ElmoError, match="2 hidden layers need 2 dropout values"):
        SentimentClassifier(embedder(), ["a", "b"], SentimentModel.model_construct(classifier_dropout=[0.1]))
    with pytest.raises(ValueError, match="at least one token"):
        model()(TokenBatch.from_tokens([["good"], []]))

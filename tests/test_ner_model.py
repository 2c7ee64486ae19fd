"""The BiLSTM-CRF tagger: shapes, overfitting, legal decoding, padding invariance, char features, penalty."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import torch

from elmo_features.embedders import StaticEmbedder, TokenBatch, TokenEmbedder
from tasks.common.layers import CharFeaturesConfig, CharWordFeatures, char_vocabulary
from tasks.ner.config import NerModel
from tasks.ner.crf import allowed_transitions
from tasks.ner.model import NerTagger, label_vocabulary

SENTENCES = [["John", "Smith", "lives", "in", "New", "York"], ["Mary", "works", "at", "Acme", "Corp", "Inc", "."]]
TAGS = [
    ["B-PER", "L-PER", "O", "O", "B-LOC", "L-LOC"],
    ["U-PER", "O", "O", "B-ORG", "I-ORG", "L-ORG", "O"],
]
LABELS = label_vocabulary([{"tags": TAGS}])


def _embedder(dim: int = 8, seed: int = 0) -> StaticEmbedder:
    words = ["@@PADDING@@", "@@UNKNOWN@@", *sorted({w for s in SENTENCES for w in s})]
    matrix = np.random.default_rng(seed).normal(size=(len(words), dim)).astype(np.float32)
    matrix[0] = 0
    return StaticEmbedder(words, matrix, trainable=True)


def _tagger(seed: int = 0, **kwargs) -> NerTagger:
    torch.manual_seed(seed)
    chars = kwargs.pop("chars", ())
    options = {"hidden": 16, "dropout": 0.0, "char_cnn": False} | kwargs
    return NerTagger(_embedder(seed=seed), LABELS, chars, NerModel(**options))


def _legal(path: list[str]) -> bool:
    pairs = set(allowed_transitions(LABELS, "BIOUL"))
    ids = [len(LABELS), *(LABELS.index(t) for t in path), len(LABELS) + 1]
    return all(pair in pairs for pair in itertools.pairwise(ids))


def test_label_vocabulary_sorted_with_o_first():
    assert LABELS == ["O", "B-LOC", "B-ORG", "B-PER", "I-ORG", "L-LOC", "L-ORG", "L-PER", "U-PER"]
    assert label_vocabulary([{"tags": [["U-X"]]}, {"tags": [["O", "B-A", "L-A"]]}]) == ["O", "B-A", "L-A", "U-X"]


def test_shapes_and_tag_ids():
    model = _tagger(char_cnn=False)
    batch = TokenBatch.from_tokens(SENTENCES)
    tags = model.tag_ids(TAGS)
    assert tags.shape == (2, 7) and tags[0, 6] == -100 and tags[1, 0] == LABELS.index("U-PER")
    out = model(batch, tags)
    assert out["logits"].shape == (2, 7, len(LABELS))
    assert out["mask"].dtype == torch.bool and out["mask"].sum().item() == 13
    assert out["loss"].dim() == 0 and torch.isfinite(out["loss"])
    assert "loss" not in model(batch)
    assert model.lstm.hidden_size == 16 and model.lstm.num_layers == 2 and model.lstm.bidirectional
    with pytest.raises(KeyError):
        model.tag_ids([["B-MISC"]])


def test_padding_tag_value_does_not_matter():
    model = _tagger().eval()
    batch = TokenBatch.from_tokens(SENTENCES)
    tags = model.tag_ids(TAGS)
    zeros = tags.masked_fill(tags == -100, 0)
    assert torch.equal(model(batch, tags)["loss"], model(batch, zeros)["loss"])


@pytest.mark.parametrize("char_cnn", [False, True])
def test_overfits_two_sentences_and_decodes_gold(char_cnn):
    model = _tagger(char_cnn=char_cnn, chars=char_vocabulary(SENTENCES))
    batch = TokenBatch.from_tokens(SENTENCES)
    tags = model.tag_ids(TAGS)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = model(batch, tags)["loss"]
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.1 * losses[0]
    assert model.eval().decode(batch) == TAGS


@pytest.mark.parametrize("seed", range(3))
def test_decode_is_always_legal_bioul(seed):
    model = _tagger(seed=seed).eval()
    with torch.no_grad():  # emissions that favour tags which can never start or follow O
        bias = torch.tensor([5.0 if t[0] in "IL" else 0.0 for t in LABELS])
        model.projection.bias.copy_(bias + torch.randn(len(LABELS)))
    sentences = [*SENTENCES, ["in"], ["York", "Smith"], ["Corp", "Inc", "Acme", "works", "New"]]
    paths = model.decode(TokenBatch.from_tokens(sentences))
    assert [len(p) for p in paths] == [len(s) for s in sentences]
    assert all(_legal(p) for p in paths)
    assert any(t[0] in "IL" for p in paths for t in p)  # the bias is felt, legally


@pytest.mark.parametrize("char_cnn", [False, True])
def test_padding_invariance(char_cnn):
    model = _tagger(seed=1, char_cnn=char_cnn, chars=char_vocabulary(SENTENCES)).eval()
    short, long = ["in", "New", "York"], ["Mary", "works", "at", "Acme", "Corp", "Inc", "lives", "Smithsonian"]
    alone = model(TokenBatch.from_tokens([short]))["logits"][0]
    batched = model(TokenBatch.from_tokens([long, short]))["logits"][1]
    torch.testing.assert_close(batched[: len(short)], alone, rtol=1e-5, atol=1e-6)
    assert model.decode(TokenBatch.from_tokens([long, short]))[1] == model.decode(TokenBatch.from_tokens([short]))[0]


def test_char_features_dims_oov_and_padding():
    chars = char_vocabulary(SENTENCES)
    features = CharWordFeatures(chars, CharFeaturesConfig(dim=5, filters=7, width=3, max_chars=4))
    ids, lengths = features.ids(["Straße", "日本", "a"])
    assert ids.shape == (3, 4) and lengths.tolist() == [4, 2, 1]
    assert ids[1, :2].tolist() == [1, 1] and ids[1, 2:].tolist() == [0, 0]  # unknown characters, padding
    assert ids[0, 0].item() == chars.index("S") + 2
    batch = TokenBatch.from_tokens([["Straße", "日本"], ["a"]])
    out = features(batch)
    assert out.shape == (2, 2, 7) and torch.isfinite(out).all()
    assert torch.equal(out[1, 1], torch.zeros(7))  # padding token
    assert torch.equal(features(TokenBatch.from_tokens([["", "a"]]))[0, 0], torch.zeros(7))  # an empty token
    # a token's features do not depend on longer tokens in the batch
    torch.testing.assert_close(features(TokenBatch.from_tokens([["a"]]))[0, 0], out[1, 0])

    model = _tagger(char_cnn=True, chars=chars)
    assert model.lstm.input_size == model.embedder.output_dim + CharFeaturesConfig().filters
    assert model(batch)["logits"].shape == (2, 2, len(LABELS))


def test_char_ids_equal_a_tensor_per_word():
    """The flat-list char ids equal ids filled word by word (unknown, cut and empty words)."""
    features = CharWordFeatures(list("abcXY"), CharFeaturesConfig(max_chars=5))
    rng = random.Random(0)
    for _ in range(20):
        words = ["".join(rng.choice("abcXYé") for _ in range(rng.randint(0, 8))) for _ in range(rng.randint(1, 9))]
        want = torch.zeros(len(words), max([min(len(w), 5) for w in words] + [1]), dtype=torch.long)
        for row, word in enumerate(words):
            want[row, : len(word[:5])] = torch.tensor([features.index.get(c, 1) for c in word[:5]], dtype=torch.long)
        ids, lengths = features.ids(words)
        assert torch.equal(ids, want) and lengths.tolist() == [len(w[:5]) for w in words]


def test_char_features_of_a_batch_equal_each_token_alone():
    """Each distinct token runs through the CNN once: the features and the gradients are those of every token
    computed on its own (repeated, unknown, cut and empty tokens, rows of any length)."""
    torch.manual_seed(0)
    features = CharWordFeatures(list("abcXY"), CharFeaturesConfig(dim=4, filters=6, width=3, max_chars=5))
    rng = random.Random(1)
    vocabulary = ["a", "abc", "XYabcXYa", "", "é", "bb", "abcXYc"]
    sentences = [[rng.choice(vocabulary) for _ in range(rng.randint(1, 7))] for _ in range(5)]
    out = features(TokenBatch.from_tokens(sentences))
    grads = torch.autograd.grad(out.pow(2).sum(), list(features.parameters()))
    alone = [[features(TokenBatch.from_tokens([[token]]))[0, 0] for token in sentence] for sentence in sentences]
    want = torch.zeros_like(out)
    for row, sentence in enumerate(alone):
        for col, vector in enumerate(sentence):
            want[row, col] = vector
    torch.testing.assert_close(out, want)
    want_grads = torch.autograd.grad(want.pow(2).sum(), list(features.parameters()))
    for got, expected in zip(grads, want_grads, strict=True):
        torch.testing.assert_close(got, expected)


class _Stub(TokenEmbedder):
    """Position-independent random vectors and a known penalty."""

    def __init__(self) -> None:
        super().__init__()
        self.output_dim = 4
        self.weight = torch.nn.Parameter(torch.randn(4))

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        return batch.mask.float().unsqueeze(2) * self.weight

    def penalty(self) -> torch.Tensor:
        return torch.tensor(2.5)


def test_embedder_penalty_is_added_once_by_the_training_step():
    from tasks.common.task import get_task

    torch.manual_seed(0)
    model = NerTagger(_Stub(), LABELS, config=NerModel(hidden=8, dropout=0.0, char_cnn=False))
    batch = TokenBatch.from_tokens(SENTENCES)
    tags = model.tag_ids(TAGS)
    out = model(batch, tags)
    nll = -model.crf(out["logits"], tags, out["mask"]) / 2
    torch.testing.assert_close(out["loss"], nll)  # the head: its own loss only
    torch.testing.assert_close(get_task("ner").training_loss(model, (batch, tags)), nll + 2.5)


def test_empty_sentence_is_an_error():
    with pytest.raises(ValueError, match="at least one token"):
        _tagger()(TokenBatch.from_tokens([["in"], []]))

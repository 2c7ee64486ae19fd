"""Parity with the reference implementations (bilm-tf, allennlp 2.10.1), atol 1e-5."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from elmo_features.bilm import BiLM
from elmo_features.elmo import Elmo

ATOL = 1e-5


def test_bilm_tf_stateful_batches_of_three_top_layer(fixtures_dir):
    folder = fixtures_dir / "elmo-bilm-tf"
    lists = json.loads((folder / "lm_embeddings_sentences.json").read_text())
    bilm = BiLM.from_files(folder / "options.json", folder / "lm_weights.hdf5", state="stateful")
    assert not bilm.options.use_skip_connections
    expected = [h5py.File(folder / f"lm_embeddings_{k}.hdf5", "r") for k in range(3)]
    for i in range(10):
        batch = [lists[k][i].split() for k in range(3)]
        layers, mask = bilm(batch)
        assert mask.sum(1).tolist() == [len(s) for s in batch]
        for k in range(3):
            ref = expected[k][str(i)][...]
            np.testing.assert_allclose(
                layers[-1, k, : len(batch[k])].numpy(), np.concatenate([ref[0], ref[1]], -1), atol=ATOL, rtol=0
            )


def test_bilm_tf_needs_the_carried_state(fixtures_dir):
    """The fixture is stateful: a stateless run matches batch 0 but not batch 1."""
    folder = fixtures_dir / "elmo-bilm-tf"
    lists = json.loads((folder / "lm_embeddings_sentences.json").read_text())
    bilm = BiLM.from_files(folder / "options.json", folder / "lm_weights.hdf5", state="stateless")
    with h5py.File(folder / "lm_embeddings_0.hdf5", "r") as ref:
        for i, matches in ((0, True), (1, False)):
            layers, _ = bilm([lists[0][i].split()])
            expected = np.concatenate([ref[str(i)][0], ref[str(i)][1]], -1)
            assert np.allclose(layers[-1, 0].numpy(), expected, atol=ATOL) is matches


@pytest.mark.parametrize(
    ("options", "outputs"),
    [
        ("small_random_options.json", "small_random_outputs.hdf5"),
        ("small_random_clip_options.json", "small_random_clip_outputs.hdf5"),
    ],
)
def test_small_random_stateless_all_layers(fixtures_dir, options, outputs):
    folder = fixtures_dir / "elmo-small-random"
    sentences = json.loads((folder / "small_random_sentences.json").read_text())
    bilm = BiLM.from_files(folder / options, folder / "small_random_weights.hdf5", state="stateless")
    layers, mask = bilm(sentences)  # one batch of 43: stateless rows never interact
    assert mask.sum(1).tolist() == [len(s) for s in sentences]
    with h5py.File(folder / outputs, "r") as ref:
        for i, sentence in enumerate(sentences):
            np.testing.assert_allclose(layers[:, i, : len(sentence)].numpy(), ref[str(i)][...], atol=ATOL, rtol=0)


def test_small_random_each_sentence_alone_matches_the_batch(fixtures_dir):
    folder = fixtures_dir / "elmo-small-random"
    sentences = json.loads((folder / "small_random_sentences.json").read_text())
    bilm = BiLM.from_files(
        folder / "small_random_options.json", folder / "small_random_weights.hdf5", state="stateless"
    )
    with h5py.File(folder / "small_random_outputs.hdf5", "r") as ref:
        for i in (0, 5, len(sentences) - 1):
            layers, _ = bilm([sentences[i]])
            np.testing.assert_allclose(layers[:, 0].numpy(), ref[str(i)][...], atol=ATOL, rtol=0)


def test_small_random_elmo_scalar_mix(fixtures_dir):
    folder = fixtures_dir / "elmo-small-random"
    sentences = json.loads((folder / "small_random_sentences.json").read_text())
    elmo = Elmo.from_files(
        folder / "small_random_options.json",
        folder / "small_random_weights.hdf5",
        state="stateless",
        dropout=0.0,
        initial_weights=[0.2, 0.3, 0.5],
        fixed_weights=True,
    )
    np.testing.assert_allclose(elmo.mixes[0].weights.detach().numpy(), [0.28943, 0.31987, 0.39069], atol=1e-5)
    (representation,), _ = elmo(sentences)
    with h5py.File(folder / "small_random_elmo.hdf5", "r") as ref:
        for i, sentence in enumerate(sentences):
            np.testing.assert_allclose(
                representation[i, : len(sentence)].detach().numpy(), ref[str(i)][...], atol=ATOL, rtol=0
            )

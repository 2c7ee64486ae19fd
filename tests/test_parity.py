"""Parity with the reference implementations (bilm-tf, allennlp 2.10.1), atol 1e-5. The fixtures come from
../shared; the tiny allennlp reference is committed (tests/reference, made by
benchmarks/allennlp_reference/make_tiny_reference.py), so a clean clone runs it."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from elmo_features.bilm import BiLM
from elmo_features.elmo import Elmo
from elmo_features.options import BiLMOptions
from elmo_features.pretrain.export import load_official, to_official
from elmo_features.pretrain.lm import BidirectionalLM
from elmo_features.weights import read_weights

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


# --- allennlp 2.10.1 on a tiny exported biLM (committed, so a clean clone runs it) ---------------

TINY_REFERENCE = Path(__file__).parent / "reference" / "allennlp-tiny"


def _tiny_reference() -> tuple[list[list[str]], dict[str, np.ndarray]]:
    sentences = json.loads((TINY_REFERENCE / "sentences.json").read_text(encoding="utf-8"))
    with np.load(TINY_REFERENCE / "allennlp_outputs.npz") as ref:
        return sentences, {key: ref[key] for key in ref.files}


def test_tiny_export_matches_allennlp_through_the_loader():
    """The exported file, read by the project's loader, gives allennlp's layers (boundaries kept)."""
    sentences, ref = _tiny_reference()
    bilm = BiLM.from_files(TINY_REFERENCE / "options.json", TINY_REFERENCE / "weights.hdf5", state="stateless")
    layers, _ = bilm(sentences, keep_boundaries=True)
    for i, sentence in enumerate(sentences):
        np.testing.assert_allclose(layers[:, i, : len(sentence) + 2].numpy(), ref[str(i)], atol=ATOL, rtol=0)


def test_tiny_export_matches_allennlp_through_the_trainable_lm():
    """The trainable biLM's own forward on the imported file gives allennlp's layers (gate order and forget bias
    as allennlp reads them), and exporting it again reproduces the committed file's arrays bit for bit."""
    sentences, ref = _tiny_reference()
    options = BiLMOptions.from_dict(json.loads((TINY_REFERENCE / "options.json").read_text()))
    arrays = read_weights(TINY_REFERENCE / "weights.hdf5", options)
    model = BidirectionalLM(options, vocab_size=8, num_sampled=4).eval()
    load_official(model, arrays)
    for i, sentence in enumerate(sentences):
        np.testing.assert_allclose(model.layers(sentence).numpy(), ref[str(i)], atol=ATOL, rtol=0)
    exported = to_official(model)
    assert exported.keys() == arrays.keys()
    for name, array in arrays.items():
        np.testing.assert_array_equal(exported[name], array, err_msg=name)

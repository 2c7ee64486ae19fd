"""Linear probes: a vector that ignores context cannot tell the readings of an ambiguous word apart."""

from __future__ import annotations

import numpy as np
import pytest

from elmo_features.static import StaticVectors
from tasks.probe import probe_accuracies, static_featurizer

# "Jordan" is a person after "coach" and a place after "to"; the other names have one reading.
TRAIN = [
    (["coach", "Jordan", "said"], [None, "PER", None]),
    (["coach", "Smith", "said"], [None, "PER", None]),
    (["flew", "to", "Jordan"], [None, None, "LOC"]),
    (["flew", "to", "Kenya"], [None, None, "LOC"]),
    (["coach", "Brown", "said"], [None, "PER", None]),
]
TEST = [
    (["coach", "Jordan", "said"], [None, "PER", None]),
    (["flew", "to", "Jordan"], [None, None, "LOC"]),
]
WORDS = ["coach", "Jordan", "said", "Smith", "flew", "to", "Kenya", "Brown"]


def previous_word(sentences):
    """A toy contextual vector: the one-hot of the word before."""
    return [
        np.stack([np.eye(len(WORDS) + 1)[WORDS.index(s[k - 1]) if k else -1] for k in range(len(s))]) for s in sentences
    ]


def test_a_static_vector_scores_one_reading_and_a_contextual_one_both():
    static = static_featurizer(StaticVectors(WORDS, np.eye(len(WORDS))))
    assert probe_accuracies(static, TRAIN, {"test": TEST}) == {"test": 50.0}  # one vector for "Jordan"
    assert probe_accuracies(previous_word, TRAIN, {"test": TEST, "train": TRAIN}) == {"test": 100.0, "train": 100.0}


def test_unknown_words_get_zero_vectors():
    (features,) = static_featurizer(StaticVectors(["a"], np.ones((1, 3))))([["a", "b"]])
    assert features.tolist() == [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]


def test_one_label_cannot_be_probed():
    static = static_featurizer(StaticVectors(WORDS, np.eye(len(WORDS))))
    with pytest.raises(ValueError, match="two labels"):
        probe_accuracies(static, TRAIN[:2], {"test": TEST})
    with pytest.raises(ValueError, match="one labelled token in each test"):
        probe_accuracies(static, TRAIN, {"test": TEST, "none": [(["coach"], [None])]})


def test_static_rows_fall_back_to_the_lower_cased_word_like_the_embedders():
    vectors = StaticVectors(["paris", "Paris2"], np.array([[1.0, 0.0], [0.0, 1.0]]))
    (features,) = static_featurizer(vectors)([["Paris", "paris", "Paris2", "PARIS2", "x"]])
    np.testing.assert_array_equal(features, [[1, 0], [1, 0], [0, 1], [0, 0], [0, 0]])

"""GloVe: hand-computed co-occurrence counts, a falling loss, partners as neighbours, determinism."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from elmo_features.errors import ElmoError
from elmo_features.glove import count_cooccurrences, fit_glove, train_glove
from elmo_features.static import StaticVectors, load_vectors


def _corpus(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(text)
    return path


def test_counts_equal_hand_computed_values(tmp_path):
    # "a b a c", window 2: (a,b) at 1 twice, (a,c) at 1, (a,a) at 2, (b,c) at 2; line 2 "c b": (c,b) at 1.
    # "x" occurs once: with min_count 2 it is removed before windows are taken, so in line 3
    # "b x c" b and c are at distance 1. Windows never cross lines (a-c across lines 1/2 adds nothing).
    cooc = count_cooccurrences(_corpus(tmp_path, "a b a c\nc b\n\nb x c\n"), window=2, min_count=2)
    assert cooc.words == ["b", "c", "a"]  # most frequent first, ties by spelling
    np.testing.assert_array_equal(cooc.counts, [3, 3, 2])
    b, c, a = 0, 1, 2
    expected = np.zeros((3, 3))
    expected[a, b] = expected[b, a] = 2.0
    expected[a, c] = expected[c, a] = 1.0
    expected[a, a] = 2 * 0.5  # a pair of the same word counts once in each direction
    expected[b, c] = expected[c, b] = 0.5 + 1.0 + 1.0
    np.testing.assert_array_equal(cooc.dense(), expected)
    keys = cooc.rows.astype(np.int64) * 3 + cooc.cols
    assert np.all(np.diff(keys) > 0)  # sparse, sorted, no duplicates


def test_counts_window_and_chunking(tmp_path):
    text = "a b c d e\n" * 3 + "e d c b a\n"
    path = _corpus(tmp_path, text)
    whole = count_cooccurrences(path, window=3, min_count=1)
    chunked = count_cooccurrences(path, window=3, min_count=1, chunk_tokens=3)
    np.testing.assert_array_equal(whole.dense(), chunked.dense())
    index = {w: i for i, w in enumerate(whole.words)}
    assert whole.dense()[index["a"], index["d"]] == pytest.approx(4 / 3)
    assert whole.dense()[index["a"], index["e"]] == 0  # distance 4 > window 3
    np.testing.assert_array_equal(whole.dense(), whole.dense().T)


def _pairs_corpus(tmp_path: Path, n_pairs: int = 20, lines: int = 400) -> Path:
    """Each line: 4 random pairs "a_i b_i" side by side; a word's partner is always next to it."""
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(lines):
        rows.append(" ".join(f"a{p} b{p}" for p in rng.choice(n_pairs, 4, replace=False)))
    return _corpus(tmp_path, "\n".join(rows) + "\n")


def test_loss_falls_and_partners_are_nearest(tmp_path):
    cooc = count_cooccurrences(_pairs_corpus(tmp_path), window=2, min_count=1)
    matrix, losses = fit_glove(cooc, dim=16, epochs=40, seed=0, progress=False)
    assert losses[-1] < 0.2 * losses[0]
    assert all(later <= earlier * 1.05 for earlier, later in itertools.pairwise(losses))
    vectors = StaticVectors(cooc.words, matrix)
    nearest = {w: vectors.neighbours(w, 1)[0][0] for w in vectors.words}
    partner = {w: ("b" if w[0] == "a" else "a") + w[1:] for w in vectors.words}
    assert nearest == partner
    untrained, _ = fit_glove(cooc, dim=16, epochs=1, lr=1e-6, seed=0, progress=False)
    random_vectors = StaticVectors(cooc.words, untrained)
    hits = sum(random_vectors.neighbours(w, 1)[0][0] == partner[w] for w in vectors.words)
    assert hits < len(vectors.words) / 4  # the test can tell training from no training


def _glove_c(cooc, dim, epochs, x_max, alpha, lr, seed):
    """glove.c's update, one pair at a time in plain Python (same initialisation and pair order)."""
    rng = np.random.default_rng(seed)
    size = len(cooc.words)
    words, contexts = ((rng.random((size, dim + 1)) - 0.5) / dim for _ in range(2))
    words_sq, contexts_sq = np.ones_like(words), np.ones_like(contexts)
    for _ in range(epochs):
        for k in rng.permutation(len(cooc)):
            l1, l2, x = cooc.rows[k], cooc.cols[k], cooc.values[k]
            diff = sum(words[l1, b] * contexts[l2, b] for b in range(dim)) + words[l1, dim] + contexts[l2, dim]
            diff -= np.log(x)
            fdiff = diff if x > x_max else (x / x_max) ** alpha * diff
            for b in range(dim):
                step1 = min(max(fdiff * contexts[l2, b], -100), 100) * lr
                step2 = min(max(fdiff * words[l1, b], -100), 100) * lr
                words[l1, b] -= step1 / np.sqrt(words_sq[l1, b])
                contexts[l2, b] -= step2 / np.sqrt(contexts_sq[l2, b])
                words_sq[l1, b] += step1 * step1
                contexts_sq[l2, b] += step2 * step2
            words[l1, dim] -= lr * fdiff / np.sqrt(words_sq[l1, dim])
            contexts[l2, dim] -= lr * fdiff / np.sqrt(contexts_sq[l2, dim])
            words_sq[l1, dim] += (lr * fdiff) ** 2
            contexts_sq[l2, dim] += (lr * fdiff) ** 2
    return words[:, :dim] + contexts[:, :dim]


def test_batches_of_one_are_glove_c_adagrad(tmp_path):
    cooc = count_cooccurrences(_corpus(tmp_path, "a b c a\nb c d\nd a a b\n"), window=3, min_count=1)
    settings = {"dim": 3, "epochs": 4, "x_max": 2.0, "alpha": 0.75, "lr": 0.3, "seed": 1}
    ours, _ = fit_glove(cooc, batch_size=1, progress=False, **settings)
    np.testing.assert_allclose(ours, _glove_c(cooc, **settings), rtol=1e-4, atol=1e-6)


def test_fit_is_deterministic_per_seed(tmp_path):
    cooc = count_cooccurrences(_pairs_corpus(tmp_path, lines=50), window=2, min_count=1)
    first, first_losses = fit_glove(cooc, dim=4, epochs=3, seed=5, progress=False)
    second, second_losses = fit_glove(cooc, dim=4, epochs=3, seed=5, progress=False)
    other, _ = fit_glove(cooc, dim=4, epochs=3, seed=6, progress=False)
    np.testing.assert_array_equal(first, second)
    assert first_losses == second_losses
    assert not np.allclose(first, other)


def test_train_glove_writes_text_vectors(tmp_path):
    corpus = _pairs_corpus(tmp_path, lines=50)
    output = tmp_path / "glove.txt"
    vectors = train_glove(corpus, output, dim=5, window=2, min_count=1, epochs=2, progress=False)
    assert len(vectors) == 40 and vectors.dim == 5
    loaded = load_vectors(output)
    assert loaded.words == vectors.words
    np.testing.assert_array_equal(loaded.vectors, vectors.vectors)


def test_train_glove_bad_input_leaves_nothing(tmp_path):
    output = tmp_path / "out.txt"
    with pytest.raises(ElmoError, match=r"corpus.txt is empty: no words to train on"):
        train_glove(_corpus(tmp_path, "\n"), output, progress=False)
    with pytest.raises(ElmoError, match="no word occurs 2 times or more; lower --min-count"):
        train_glove(_corpus(tmp_path, "a b c\n"), output, progress=False)
    with pytest.raises(ElmoError, match="no two vocabulary words share a line"):
        train_glove(_corpus(tmp_path, "a\nb\na\nb\n"), output, progress=False)
    bad = tmp_path / "corpus.txt"
    bad.write_bytes(b"a b\na \xff b\n")
    with pytest.raises(ElmoError, match=r"corpus.txt:2: not valid UTF-8 \(byte 0xff\)"):
        train_glove(bad, output, min_count=1, progress=False)
    with pytest.raises(ElmoError, match="window must be positive, got 0"):
        train_glove(bad, output, window=0, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["corpus.txt"]

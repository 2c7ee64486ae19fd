"""GloVe (Pennington et al., 2014) trained on a corpus: co-occurrence counts, then AdaGrad.

No maintained Python package trains GloVe, so this follows the reference C tool:

- vocabulary: words seen ``min_count`` times or more, most frequent first; the others are
  dropped from the text before windows are taken (as ``cooccur.c`` does), and windows
  never cross a line;
- counts: a symmetric window of ``window`` words; a pair at distance d adds 1/d to both
  X[i, j] and X[j, i];
- objective: sum of f(X_ij) (w_i . c_j + b_i + b~_j - log X_ij)^2 / 2 with
  f(x) = min(1, (x / x_max)^alpha);
- AdaGrad as ``glove.c``: the accumulators start at 1 (first step = lr), each pair's
  vector gradient is clipped to +-100, and the output is W + C (the tool's default model 2).
  The learning rate scales the bias steps too (as GloVe 1.0 did; later glove.c drops it).

Memory is O(vocabulary + distinct pairs): counts are merged chunk by chunk into sorted
numpy key/value arrays, never a dense V x V matrix. Training is vectorised over shuffled
mini-batches of pairs; within a batch a word's pair gradients are summed and their
squares added to its accumulator, where the C tool applies them one after another.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from elmo_features.atomic import check_output
from elmo_features.errors import ElmoError
from elmo_features.progress import Progress
from elmo_features.static import StaticVectors, check_positive, read_corpus

GRAD_CLIP = 100.0


@dataclass
class Cooccurrences:
    """Sparse weighted counts: ``values[k]`` = X[rows[k], cols[k]], sorted by (row, col)."""

    words: list[str]
    counts: np.ndarray  # corpus frequency of each word
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    def dense(self) -> np.ndarray:
        """The V x V matrix (for small vocabularies and tests)."""
        matrix = np.zeros((len(self.words), len(self.words)))
        matrix[self.rows, self.cols] = self.values
        return matrix


def build_vocabulary(
    corpus: str | Path, min_count: int = 2, progress: bool = False
) -> tuple[list[str], np.ndarray, int]:
    """Words seen ``min_count`` times or more, most frequent first (ties by spelling), their counts, and the
    number of lines read."""
    counter: Counter[str] = Counter()
    with Progress("glove vocabulary", unit="line", enabled=progress) as bar:
        for tokens in read_corpus(corpus):
            counter.update(tokens)
            bar.update()
    if not counter:
        raise ElmoError(f"{corpus} is empty: no words to train on")
    words = sorted((w for w, c in counter.items() if c >= min_count), key=lambda w: (-counter[w], w))
    if not words:
        raise ElmoError(f"{corpus}: no word occurs {min_count} times or more; lower --min-count")
    return words, np.array([counter[w] for w in words], dtype=np.int64), bar.n


def count_cooccurrences(
    corpus: str | Path, window: int = 10, min_count: int = 2, progress: bool = False, chunk_tokens: int = 1 << 20
) -> Cooccurrences:
    """Stream the corpus twice (vocabulary, then windows) into sparse 1/distance-weighted counts."""
    check_positive(window=window, min_count=min_count)
    words, counts, lines = build_vocabulary(corpus, min_count, progress)
    index = {word: i for i, word in enumerate(words)}
    size = len(words)
    keys, values = np.zeros(0, np.int64), np.zeros(0)
    ids: list[int] = []
    lengths: list[int] = []
    with Progress("glove counting", lines, "line", enabled=progress) as bar:
        for tokens in read_corpus(corpus):
            kept = [index[t] for t in tokens if t in index]
            ids.extend(kept)
            lengths.append(len(kept))
            if len(ids) >= chunk_tokens:
                keys, values = _merge(keys, values, ids, lengths, window, size)
                ids, lengths = [], []
            bar.update()
    keys, values = _merge(keys, values, ids, lengths, window, size)
    if not len(keys):
        raise ElmoError(f"{corpus}: no two vocabulary words share a line; nothing to train on")
    return Cooccurrences(words, counts, (keys // size).astype(np.int32), (keys % size).astype(np.int32), values)


def _merge(
    keys: np.ndarray, values: np.ndarray, ids: list[int], lengths: list[int], window: int, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Add the window pairs of a chunk of lines to the sorted (row * size + col) keys."""
    ids_array = np.asarray(ids, dtype=np.int64)
    line = np.repeat(np.arange(len(lengths)), lengths)
    new_keys, new_values = [keys], [values]
    for distance in range(1, min(window, len(ids_array) - 1) + 1):
        same = line[distance:] == line[:-distance]
        right, left = ids_array[distance:][same], ids_array[:-distance][same]
        new_keys += [right * size + left, left * size + right]
        new_values.append(np.full(2 * len(right), 1.0 / distance))
    merged, inverse = np.unique(np.concatenate(new_keys), return_inverse=True)
    return merged, np.bincount(inverse.ravel(), weights=np.concatenate(new_values), minlength=len(merged))


def fit_glove(
    cooc: Cooccurrences,
    dim: int = 100,
    epochs: int = 25,
    x_max: float = 100.0,
    alpha: float = 0.75,
    lr: float = 0.05,
    seed: int = 0,
    batch_size: int = 1024,
    progress: bool = True,
) -> tuple[np.ndarray, list[float]]:
    """W + C (float32, one row per word) and each epoch's mean loss; deterministic for a seed."""
    check_positive(dim=dim, epochs=epochs, x_max=x_max, alpha=alpha, lr=lr, batch_size=batch_size)
    rng = np.random.default_rng(seed)
    size = len(cooc.words)

    def init() -> np.ndarray:  # glove.c: uniform in [-0.5, 0.5) / dim; the last column is the bias
        return ((rng.random((size, dim + 1)) - 0.5) / dim).astype(np.float32)

    params = [init(), init()]  # word vectors + bias, context vectors + bias
    squares = [np.ones_like(p) for p in params]
    log_x = np.log(cooc.values).astype(np.float32)
    weight = np.minimum(1.0, (cooc.values / x_max) ** alpha).astype(np.float32)
    losses: list[float] = []
    with Progress("glove", epochs, "epoch", enabled=progress) as bar:
        for _ in range(epochs):
            order = rng.permutation(len(cooc))
            total = 0.0
            for start in range(0, len(order), batch_size):
                pairs = order[start : start + batch_size]
                total += _step(params, squares, cooc.rows[pairs], cooc.cols[pairs], log_x[pairs], weight[pairs], lr)
            losses.append(total / len(order))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
            bar.update()
    return params[0][:, :dim] + params[1][:, :dim], losses


def _step(
    params: list[np.ndarray],
    squares: list[np.ndarray],
    rows: np.ndarray,
    cols: np.ndarray,
    log_x: np.ndarray,
    weight: np.ndarray,
    lr: float,
) -> float:
    """One AdaGrad step on a batch of pairs; returns the batch's summed loss."""
    words, contexts = params
    w, c = words[rows], contexts[cols]
    diff = np.einsum("nd,nd->n", w[:, :-1], c[:, :-1]) + w[:, -1] + c[:, -1] - log_x
    fdiff = weight * diff
    loss = 0.5 * float(fdiff @ diff)
    for param, square, ids, other in ((words, squares[0], rows, c), (contexts, squares[1], cols, w)):
        grad = np.empty_like(other)  # lr x gradient: clipped for the vector, not for the bias (as glove.c)
        np.clip(fdiff[:, None] * other[:, :-1], -GRAD_CLIP, GRAD_CLIP, out=grad[:, :-1])
        grad[:, -1] = fdiff
        grad *= lr
        order = np.argsort(ids, kind="stable")  # sum each word's pair gradients (and their squares)
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        unique = sorted_ids[starts]
        grad = grad[order]
        sums = np.add.reduceat(np.concatenate([grad, grad * grad], axis=1), starts, axis=0)
        half = grad.shape[1]
        param[unique] -= sums[:, :half] / np.sqrt(square[unique])
        square[unique] += sums[:, half:]
    return loss


def train_glove(
    corpus: str | Path,
    output: str | Path,
    dim: int = 100,
    window: int = 10,
    min_count: int = 2,
    epochs: int = 25,
    x_max: float = 100.0,
    alpha: float = 0.75,
    lr: float = 0.05,
    seed: int = 0,
    progress: bool = True,
) -> StaticVectors:
    """Count, fit and write GloVe vectors (word2vec text format, most frequent word first)."""
    check_positive(dim=dim, window=window, min_count=min_count, epochs=epochs, x_max=x_max, alpha=alpha, lr=lr)
    check_output(output)
    cooc = count_cooccurrences(corpus, window, min_count, progress)
    matrix, _ = fit_glove(cooc, dim, epochs, x_max, alpha, lr, seed, progress=progress)
    vectors = StaticVectors(cooc.words, matrix)
    vectors.save_text(output)
    return vectors

"""Linear probes of frozen word vectors (ELMo paper, Sec. 5.3): what a token's own vector says.

A logistic regression (scikit-learn) learns a token's label (e.g. its entity type) from its
vector alone, on the labelled tokens of some sentences, and is scored on chosen tokens of
others (e.g. the ambiguous words). A static vector is the same in every context, so on an
ambiguous word it can do no better than always answering one reading; a biLM layer sees the
sentence. No head reads any context here: the context is only what the vectors carry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from elmo_features.static import StaticVectors

Featurizer = Callable[[Sequence[Sequence[str]]], list[np.ndarray]]  # sentences -> one (T, D) array each
Labelled = Sequence[tuple[Sequence[str], Sequence[str | None]]]  # (tokens, label per token or None: skip)


def static_featurizer(vectors: StaticVectors) -> Featurizer:
    """Each token's row of ``vectors``, else its lower-cased form's (the embedders' fallback, which a
    lower-cased file such as GloVe 6B needs), else zeros."""
    zero = np.zeros(vectors.dim, dtype=np.float32)

    def row(index: dict[str, int], token: str) -> np.ndarray:
        found = index.get(token, index.get(token.lower()))
        return zero if found is None else vectors.vectors[found]

    def featurize(sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        index = vectors.index
        return [np.stack([row(index, t) for t in s]) for s in sentences]

    return featurize


def bilm_featurizers(bilm, batch_size: int = 64) -> dict[int, Featurizer]:
    """One featurizer per biLM layer (0: the context-free char CNN), sharing one pass per call."""
    memo: dict[tuple, np.ndarray] = {}

    def layers_of(sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        keys = [tuple(s) for s in sentences]
        todo = list(dict.fromkeys(k for k in keys if k not in memo))
        with torch.no_grad():
            for start in range(0, len(todo), batch_size):
                batch = todo[start : start + batch_size]
                layers, _ = bilm([list(s) for s in batch])
                for row, key in enumerate(batch):
                    memo[key] = layers[:, row, : len(key)].float().cpu().numpy()
        return [memo[k] for k in keys]

    def layer(k: int) -> Featurizer:
        return lambda sentences: [a[k] for a in layers_of(sentences)]

    return {k: layer(k) for k in range(bilm.options.n_layers + 1)}


def probe_accuracies(
    featurize: Featurizer, train: Labelled, tests: Mapping[str, Labelled], seed: int = 0
) -> dict[str, float]:
    """Accuracy (0-100) on the labelled tokens of each of ``tests`` of one logistic regression
    trained on those of ``train``, from the vectors ``featurize`` gives each token."""
    x_train, y_train = _tokens(featurize, train)
    scored = {name: _tokens(featurize, test) for name, test in tests.items()}
    if len(set(y_train)) < 2 or not all(y for _, y in scored.values()):
        raise ValueError("a probe needs two labels in training and one labelled token in each test")
    model = LogisticRegression(max_iter=2000, random_state=seed).fit(np.stack(x_train), y_train)
    return {name: 100.0 * float(model.score(np.stack(x), y)) for name, (x, y) in scored.items()}


def _tokens(featurize: Featurizer, labelled: Labelled) -> tuple[list[np.ndarray], list[str]]:
    """The vectors and labels of the labelled tokens."""
    features = featurize([tokens for tokens, _ in labelled])
    rows, labels = [], []
    for (_, token_labels), vectors in zip(labelled, features, strict=True):
        for vector, label in zip(vectors, token_labels, strict=True):
            if label is not None:
                rows.append(vector)
                labels.append(label)
    return rows, labels

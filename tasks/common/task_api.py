"""What a task gives the shared trainer, and the embedder plumbing every task needs.

A task is a package ``tasks/<name>/`` with ``config.py`` (``Config``, a :class:`TrainConfig` with the
task's ``data`` and ``model`` sections) and ``task.py``, which defines:

- ``MONITOR``: the key of :func:`score`'s dict that early stopping maximises (``"f1"``, ``"accuracy"``);
- ``build(config) -> Built``: data read and checked, vocabularies, embedder, model, loaders. Batches
  are tuples whose last element is the target; ``model(*batch)["loss"]`` is the training loss;
- ``gold_and_predicted(model, batch) -> (gold, predicted)`` lists, and ``score(gold, predicted) -> dict``
  (JSON-able, holds MONITOR); ``evaluate(model, split, config) -> dict``;
- ``read_split(config, name, source=None)`` and ``check_split(split, vocab, where)``;
- ``load_run(run_dir) -> (model, vocab, config)``; ``predict_file(model, vocab, config, path)``, a list
  of JSON records (written as JSON lines) or one dict (written as one JSON object);
- optionally ``write_report(run_dir, metrics)``, called once the run's metrics are written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from elmo_features.embedders import ConcatEmbedder, ElmoEmbedder, StaticEmbedder, TokenEmbedder, build_embedder

STATIC_TYPES = ("glove", "word2vec", "fasttext", "random")
PAD, UNKNOWN = "@@PADDING@@", "@@UNKNOWN@@"


@dataclass
class Built:
    """What ``task.build`` gives the trainer."""

    model: nn.Module
    vocab: dict[str, Any]  # saved as vocab.json; enough, with config.yaml and model.pt, to rebuild the model
    train: Any
    validation: Any | None
    test: Any | None
    train_loader: DataLoader
    validation_loader: DataLoader | None


def feature_caches(embedder: TokenEmbedder) -> list:
    """The ELMo feature caches inside ``embedder`` (nested in a concatenation or not)."""
    if isinstance(embedder, ElmoEmbedder):
        return [embedder.cache] if embedder.cache is not None else []
    if isinstance(embedder, ConcatEmbedder):
        return [c for part in embedder.parts for c in feature_caches(part)]
    return []


def prepare_embedder(block: dict[str, Any], words: Sequence[str], sentences: Iterable[Sequence[str]]) -> TokenEmbedder:
    """The embedder of a config block for ``words``, with its ELMo feature caches filled for ``sentences``."""
    embedder = build_embedder(block, words)
    caches = feature_caches(embedder)
    if caches:
        sentences = list(sentences)
        for cache in caches:
            cache.build(sentences)
    return embedder


def embedder_for_run(block: dict[str, Any], words: Sequence[str], state: dict[str, torch.Tensor]) -> TokenEmbedder:
    """The embedder of a finished run: static tables take their (trained) rows from the state dict,
    so the vector files need not be there any more; ELMo is rebuilt from its weights."""
    if block["type"] in STATIC_TYPES:
        weight = state["embedder.embedding.weight"]
        return StaticEmbedder([PAD, UNKNOWN, *words], np.zeros(tuple(weight.shape), dtype=np.float32), trainable=True)
    if block["type"] == "concat":
        parts = []
        for i, part in enumerate(block["parts"]):
            prefix = f"embedder.parts.{i}."
            own = {"embedder." + k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
            parts.append(embedder_for_run(part, words, own))
        return ConcatEmbedder(parts)
    return build_embedder(block, words)

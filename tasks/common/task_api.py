"""What a task gives the shared trainer, and the embedder plumbing every task needs.

A task is a package ``tasks/<name>/`` with ``config.py`` (``Config``, a :class:`TrainConfig` with the
task's ``data`` and ``model`` sections) and ``task.py``, which defines:

- ``MONITOR``: the key of :func:`score`'s dict that early stopping maximises (``"f1"``, ``"accuracy"``);
- ``build(config) -> Built``: data read and checked, vocabularies, embedder, model, loaders. Batches
  are tuples whose last element is the target; ``model(*batch)["loss"]`` is the training loss;
- ``gold_and_predicted(model, batch) -> (gold, predicted)`` lists, and ``score(gold, predicted) -> dict``
  (JSON-able, holds MONITOR); ``evaluate(model, split, config) -> dict``;
- ``read_split(config, name, source=None)`` and ``check_split(split, vocab, where)``;
- ``load_run(run_dir) -> (model, vocab, config)``; ``PREDICT_FORMATS`` (the input formats of ``predict
  --format``, the default first) and ``predict_file(model, vocab, config, path, fmt)``, a list of JSON
  records (written as JSON lines), one dict (written as one JSON object) or text (written as is);
- optionally ``write_report(run_dir, metrics)``, called once the run's metrics are written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from elmo_features.embedders import ConcatEmbedder, ElmoEmbedder, StaticEmbedder, TokenEmbedder, build_embedder
from elmo_features.errors import ElmoError

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


def prepare_embedder(block: dict[str, Any], sentences: Sequence[Sequence[str]]) -> tuple[list[str], TokenEmbedder]:
    """The sorted words of ``sentences`` (a run's vocabulary) and the embedder of a config block for
    them, its ELMo feature caches filled for ``sentences`` (repeats are computed once)."""
    words = sorted({w for sentence in sentences for w in sentence})
    embedder = build_embedder(block, words)
    for cache in feature_caches(embedder):
        cache.build(sentences)
    return words, embedder


def static_parts(model: nn.Module) -> list[StaticEmbedder]:
    """The static word-vector tables inside ``model``, in module order (a concatenation's parts in order)."""
    return [m for m in model.modules() if isinstance(m, StaticEmbedder)]


def vector_sources(model: nn.Module) -> list[dict | None]:
    """Where each static table's pretrained vectors came from (kept in vocab.json for :func:`add_pretrained`)."""
    return [m.source for m in static_parts(model)]


def vector_coverage(model: nn.Module) -> list[dict]:
    """How many training words each vectors file held (exact, lower-cased, missing); for metrics.json."""
    return [m.coverage for m in static_parts(model) if m.coverage is not None]


def add_pretrained(model: nn.Module, sentences: Iterable[Sequence[str]]) -> int:
    """Give the words of ``sentences`` that a finished run never saw their pretrained vectors, read from
    the vectors file the run was trained with (when it is still there, unchanged); how many were added."""
    words = {w for sentence in sentences for w in sentence}
    return sum(m.add_words(words) for m in static_parts(model))


def embedder_for_run(block: dict[str, Any], vocab: dict[str, Any], state: dict[str, torch.Tensor]) -> TokenEmbedder:
    """The embedder of a finished run: static tables take their (trained) rows from the state dict,
    so the vector files need not be there any more (with them, :func:`add_pretrained` can give new
    words their vectors); ELMo is rebuilt from its weights."""
    return _for_run(block, vocab["words"], state, iter(vocab.get("vectors", [])))


def _for_run(block: dict[str, Any], words: Sequence[str], state: dict[str, torch.Tensor], sources) -> TokenEmbedder:
    if block["type"] in STATIC_TYPES:
        weight = state["embedder.embedding.weight"]
        matrix = np.zeros(tuple(weight.shape), dtype=np.float32)
        return StaticEmbedder([PAD, UNKNOWN, *words], matrix, trainable=True, source=next(sources, None))
    if block["type"] == "concat":
        parts = []
        for i, part in enumerate(block["parts"]):
            prefix = f"embedder.parts.{i}."
            own = {"embedder." + k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
            parts.append(_for_run(part, words, own, sources))
        return ConcatEmbedder(parts)
    return build_embedder(block, words)


def score_batches(model: nn.Module, batches: Iterable, gold_and_predicted: Callable, score: Callable) -> dict:
    """``score`` of everything ``gold_and_predicted`` gives over ``batches``, with ``model`` in eval mode."""
    was_training = model.training
    model.eval()
    try:
        gold, predicted = [], []
        for batch in batches:
            g, p = gold_and_predicted(model, batch)
            gold.extend(g)
            predicted.extend(p)
    finally:
        model.train(was_training)
    return score(gold, predicted)


def read_run(run_dir: str | Path, task: str) -> tuple[Any, dict, dict[str, torch.Tensor]]:
    """The config, vocabulary and best weights of a finished ``task`` run (weights read safely)."""
    from tasks.common.config import load_config
    from tasks.common.trainer import MODEL_FILE, load_state_dict

    run_dir = Path(run_dir)
    for name in ("config.yaml", "vocab.json", MODEL_FILE, "metrics.json"):  # metrics.json comes last
        if not (run_dir / name).is_file():
            raise ElmoError(f"{run_dir} is not a finished run folder (no {name})")
    config = load_config(str(run_dir / "config.yaml"))
    if config.task.name != task:
        raise ElmoError(f"{run_dir} is a {config.task.name!r} run, not a {task!r} run")
    try:
        vocab = json.loads((run_dir / "vocab.json").read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ElmoError(f"{run_dir / 'vocab.json'} is damaged ({str(err)[:120]}); train the run again") from None
    if not isinstance(vocab, dict):
        raise ElmoError(f"{run_dir / 'vocab.json'} is damaged (not a JSON object); train the run again")
    return config, vocab, load_state_dict(run_dir / MODEL_FILE)


def restore(model: nn.Module, state: dict[str, torch.Tensor], run_dir: str | Path) -> nn.Module:
    """``model`` with the run's weights, in eval mode; weights that do not fit are a one-line error."""
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise ElmoError(
            f"{run_dir}: the weights do not fit this version's model ({first[:160]}); "
            "the run folder comes from an incompatible version: train it again"
        ) from None
    return model.eval()

"""ELMo features: the biLM, its scalar mixes, static vectors and the embedders task heads read.

The supported names, imported on first use (``import elmo_features`` stays light)::

    from elmo_features import Elmo, tokenize
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BiLM": "elmo_features.bilm",
    "Elmo": "elmo_features.elmo",
    "ScalarMix": "elmo_features.mix",
    "TokenBatch": "elmo_features.embedders",
    "TokenEmbedder": "elmo_features.embedders",
    "EMBEDDERS": "elmo_features.embedders",
    "build_embedder": "elmo_features.embedders",
    "FeatureCache": "elmo_features.feature_cache",
    "load_vectors": "elmo_features.static",
    "train_word2vec": "elmo_features.static",
    "embed_file": "elmo_features.embed_file",
    "embed_sentences": "elmo_features.embed_file",
    "write_random_model": "elmo_features.models",
    "tokenize": "elmo_features.tokenizer",
    "ElmoError": "elmo_features.errors",
    "atomic_path": "elmo_features.atomic",
    "write_text_atomic": "elmo_features.atomic",
}
__all__ = [
    "EMBEDDERS",
    "BiLM",
    "Elmo",
    "ElmoError",
    "FeatureCache",
    "ScalarMix",
    "TokenBatch",
    "TokenEmbedder",
    "atomic_path",
    "build_embedder",
    "embed_file",
    "embed_sentences",
    "load_vectors",
    "tokenize",
    "train_word2vec",
    "write_random_model",
    "write_text_atomic",
]

if TYPE_CHECKING:
    from elmo_features.atomic import atomic_path, write_text_atomic
    from elmo_features.bilm import BiLM
    from elmo_features.elmo import Elmo
    from elmo_features.embed_file import embed_file, embed_sentences
    from elmo_features.embedders import EMBEDDERS, TokenBatch, TokenEmbedder, build_embedder
    from elmo_features.errors import ElmoError
    from elmo_features.feature_cache import FeatureCache
    from elmo_features.mix import ScalarMix
    from elmo_features.models import write_random_model
    from elmo_features.static import load_vectors, train_word2vec
    from elmo_features.tokenizer import tokenize


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'elmo_features' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

"""One word in several contexts: how its ELMo vectors differ while its static vector cannot.

:func:`word_vectors` finds every occurrence of a word in tokenised sentences and returns
its biLM layers there; :func:`pairwise_cosines` compares occurrences layer by layer
(layer 0 is the context-free char-CNN vector, so its cosine between two occurrences is
1.0); :func:`nearest_in_context` ranks the tokens of a corpus by cosine to one
occurrence, as in Table 4 of the ELMo paper (the nearest neighbours of "play" in context).

Matching a word to a token (:func:`find_occurrences`): a token matches when it equals
the word, or equals it once punctuation at either end is stripped (``river.``, ``"bank``
match ``river``, ``bank``); the biLM still reads the token as written. Within a sentence
the match is case-sensitive; only when a sentence has no case-sensitive match are tokens
compared lower-cased (``Bank`` at the start of a sentence matches ``bank``). The char CNN
reads the token as written, so layer 0 is identical (cosine 1.0) only between tokens
that are the same string: ``Bank`` and ``bank``, or ``bank,`` and ``bank``, differ there.

State modes: only ``stateless`` and ``warm``, whose vectors do not depend on which
sentences share a batch; ``stateful`` would make a token's vector depend on the order
the corpus is read in.

Positions are 0-based token indices in the API (the command prints them 1-based).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from elmo_features.errors import ElmoError

_PUNCTUATION = string.punctuation + "“”‘’«»…–—"


class Occurrence(NamedTuple):
    sentence: int  # index into the sentences given
    position: int  # 0-based token index
    layers: np.ndarray  # (L+1, D) float32


class PairRow(NamedTuple):
    first: tuple[int, int]  # (sentence, position) of one occurrence
    second: tuple[int, int]
    cosines: tuple[float, ...]  # one per biLM layer, layer 0 first
    static: float | None  # cosine of the static vectors (the same vector: 1.0), None without vectors


class Neighbour(NamedTuple):
    cosine: float
    sentence: int  # index into the corpus sentences given
    position: int  # 0-based token index


def _matches(token: str, word: str, lower: bool) -> bool:
    stripped = token.strip(_PUNCTUATION) or token  # a token of punctuation only is compared as is
    if lower:
        return word.lower() in (token.lower(), stripped.lower())
    return word in (token, stripped)


def find_occurrences(word: str, sentences: Sequence[Sequence[str]]) -> list[tuple[int, int]]:
    """(sentence, position) of every occurrence of ``word`` (module doc); one-line error if a sentence lacks it."""
    if not word:
        raise ElmoError("the word to look up is empty")
    found = []
    for index, tokens in enumerate(sentences):
        positions = [i for i, token in enumerate(tokens) if _matches(token, word, lower=False)]
        if not positions:
            positions = [i for i, token in enumerate(tokens) if _matches(token, word, lower=True)]
        if not positions:
            raise ElmoError(f"{word!r} is not in sentence {index + 1}: {' '.join(tokens)!r}")
        found.extend((index, position) for position in positions)
    return found


def _check_state(bilm) -> None:
    if bilm.state == "stateful":
        raise ElmoError("comparing vectors needs a deterministic state mode (stateless or warm), not stateful")


def _embed(bilm, sentences: Sequence[Sequence[str]]) -> np.ndarray:
    """(L+1, B, T, D) float32 on the CPU."""
    layers, _ = bilm([list(s) for s in sentences])
    return layers.float().cpu().numpy()


def word_vectors(bilm, word: str, sentences: Sequence[Sequence[str]]) -> list[Occurrence]:
    """Every occurrence of ``word`` in the tokenised ``sentences`` with its biLM layers (L+1, D)."""
    _check_state(bilm)
    found = find_occurrences(word, sentences)
    layers = _embed(bilm, sentences)
    return [Occurrence(s, p, layers[:, s, p].copy()) for s, p in found]


def cosine(u: np.ndarray, v: np.ndarray) -> float:
    return float(u @ v / max(float(np.linalg.norm(u) * np.linalg.norm(v)), 1e-12))


def pairwise_cosines(occurrences: Sequence[Occurrence], static: np.ndarray | None = None) -> list[PairRow]:
    """One row per pair of occurrences: the cosine of each layer; with ``static`` (the word's
    static vector), its cosine too, which is 1.0 by construction: a static vector is the
    same in every context."""
    static_cos = None if static is None else cosine(static, static)
    rows = []
    for a in range(len(occurrences)):
        for b in range(a + 1, len(occurrences)):
            first, second = occurrences[a], occurrences[b]
            cosines = tuple(cosine(x, y) for x, y in zip(first.layers, second.layers, strict=True))
            rows.append(PairRow(first[:2], second[:2], cosines, static_cos))
    return rows


def nearest_in_context(
    bilm,
    query_sentence: Sequence[str],
    position: int,
    corpus_sentences: Sequence[Sequence[str]],
    k: int = 5,
    layer: int | None = None,
    batch_size: int = 64,
) -> list[Neighbour]:
    """The ``k`` corpus tokens nearest by cosine to token ``position`` of ``query_sentence``.

    Compares one biLM layer, by default the top one (``layer=None``; 0 is the char-CNN
    vector, where every occurrence of the same string ties at 1.0). The corpus is embedded
    ``batch_size`` sentences at a time, keeping only the running top ``k``, so memory does not
    grow with the corpus. Ties are broken by corpus order. The query token itself is a
    candidate when its sentence is in the corpus (cosine 1.0).
    """
    _check_state(bilm)
    if k < 1:
        raise ElmoError(f"-k must be at least 1, got {k}")
    if batch_size < 1:
        raise ElmoError(f"batch size must be at least 1, got {batch_size}")
    top = bilm.options.n_layers
    layer = top if layer is None else layer
    if not 0 <= layer <= top:
        raise ElmoError(f"layer {layer} does not exist: this biLM has layers 0 to {top}")
    if not 0 <= position < len(query_sentence):
        raise ElmoError(f"position {position} is outside the query sentence of {len(query_sentence)} tokens")
    if not any(corpus_sentences):
        raise ElmoError("the corpus is empty: no sentences to search")
    query = _embed(bilm, [query_sentence])[layer, 0, position]
    query = query / max(float(np.linalg.norm(query)), 1e-12)
    best = np.empty(0), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)  # cosines, sentences, positions
    order = sorted(range(len(corpus_sentences)), key=lambda i: len(corpus_sentences[i]))  # less padding
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        layers, mask = bilm([list(corpus_sentences[i]) for i in rows])
        vectors = layers[layer].float().cpu().numpy()  # (B, T, D)
        batch_rows, positions = np.nonzero(mask.cpu().numpy())
        found = vectors[batch_rows, positions]
        cos = found @ query / np.maximum(np.linalg.norm(found, axis=-1), 1e-12)
        cosines = np.concatenate([best[0], cos])
        sentences = np.concatenate([best[1], np.asarray(rows, dtype=np.int64)[batch_rows]])
        positions = np.concatenate([best[2], positions])
        keep = np.lexsort((positions, sentences, -cosines))[:k]
        best = cosines[keep], sentences[keep], positions[keep]
    return [Neighbour(float(c), int(s), int(p)) for c, s, p in zip(*best, strict=True)]

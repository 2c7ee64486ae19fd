"""Token -> character ids, exactly as the reference ELMo (bilm-tf / allennlp) does it.

Each token becomes 50 ids: its UTF-8 bytes cut to 48 (even mid-character), wrapped in
begin-of-word 258 and end-of-word 259, padded with 260, then +1 on every id so that 0
is free for padding tokens. The sentence boundaries ``<S>``/``</S>`` use the reserved
byte values 256/257; a token that is literally ``<S>`` or ``</S>`` gets the same ids.
"""

from __future__ import annotations

import numpy as np
import torch

MAX_CHARS = 50
BEGIN_SENTENCE, END_SENTENCE = 256, 257
BEGIN_WORD, END_WORD, PAD_CHAR = 258, 259, 260
BOS_TOKEN, EOS_TOKEN = "<S>", "</S>"
N_CHARACTERS = 262  # 256 bytes + 5 markers + the padding id 0


def _marker_ids(byte: int) -> np.ndarray:
    ids = np.full(MAX_CHARS, PAD_CHAR, dtype=np.int64)
    ids[:3] = (BEGIN_WORD, byte, END_WORD)
    return ids + 1


_SPECIAL = {BOS_TOKEN: _marker_ids(BEGIN_SENTENCE), EOS_TOKEN: _marker_ids(END_SENTENCE)}


def token_to_ids(token: str) -> np.ndarray:
    """The 50 character ids of one token (int64, already shifted by +1)."""
    special = _SPECIAL.get(token)
    if special is not None:
        return special.copy()
    raw = token.encode("utf-8", "ignore")[: MAX_CHARS - 2]
    ids = np.full(MAX_CHARS, PAD_CHAR, dtype=np.int64)
    ids[0] = BEGIN_WORD
    ids[1 : len(raw) + 1] = np.frombuffer(raw, dtype=np.uint8)
    ids[len(raw) + 1] = END_WORD
    return ids + 1


def token_length(token: str) -> int:
    """Number of non-padding character positions of a token (markers included)."""
    if token in _SPECIAL:
        return 3
    return min(len(token.encode("utf-8", "ignore")), MAX_CHARS - 2) + 2


def tokens_to_ids(tokens: list[str]) -> torch.Tensor:
    """(N, 50) character ids for a flat list of tokens."""
    if not tokens:
        return torch.zeros(0, MAX_CHARS, dtype=torch.long)
    return torch.from_numpy(np.stack([token_to_ids(t) for t in tokens]))


def batch_to_ids(sentences: list[list[str]]) -> torch.Tensor:
    """(B, T, 50) character ids, padding tokens all zero (allennlp's ``batch_to_ids``).

    Sentence boundaries are not included: the biLM adds them.
    """
    longest = max((len(s) for s in sentences), default=0)
    out = torch.zeros(len(sentences), longest, MAX_CHARS, dtype=torch.long)
    for row, sentence in enumerate(sentences):
        if sentence:
            out[row, : len(sentence)] = tokens_to_ids(sentence)
    return out

"""Layers the task heads share: char-CNN word features and a padding-safe BiLSTM."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from elmo_features.embedders import TokenBatch


def packed_lstm(lstm: nn.LSTM, x: Tensor, mask: Tensor) -> Tensor:
    """A batch-first ``lstm`` over the unpadded part of each row of ``x`` (B, T, D); zero at padding.

    Runs in fp32 even under CPU bf16 autocast: oneDNN's bf16 LSTM fails on some packed batches
    (all rows of equal length), and the recurrence is where bf16 rounding hurts most."""
    lengths = mask.sum(1).cpu()
    with torch.autocast("cpu", enabled=False):
        packed = pack_padded_sequence(x.to(lstm.weight_ih_l0.dtype), lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=mask.shape[1])
    return out


def masked_softmax(logits: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """Softmax over the ``mask``ed positions of axis ``dim`` only (``mask`` broadcast to ``logits``); zero
    elsewhere, and an all-masked row gives zeros, never NaN. The fill is the dtype's lowest finite value:
    a fixed constant such as -1e7 overflows to -inf in fp16 (NaN on an all-masked row)."""
    logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
    return torch.softmax(logits, dim=dim) * mask


class BiLstm(nn.Module):
    """A batch-first bidirectional LSTM over padded sequences (packed, so padding never leaks in)."""

    def __init__(self, input_dim: int, hidden: int, layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            input_dim, hidden, num_layers=layers, bidirectional=True, batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )  # fmt: skip
        self.output_dim = 2 * hidden

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return packed_lstm(self.lstm, x, mask)


def char_vocabulary(sentences: Iterable[Sequence[str]]) -> list[str]:
    """The sorted characters of the (training) tokens."""
    return sorted({char for sentence in sentences for token in sentence for char in token})


class CharFeaturesConfig(BaseModel):
    """Char-CNN word features: char embedding, ``filters`` convolutions of ``width``, max-pool."""

    model_config = ConfigDict(extra="forbid")

    dim: int = Field(16, ge=1)
    filters: int = Field(128, ge=1)
    width: int = Field(3, ge=1)
    max_chars: int = Field(20, ge=1)


class CharWordFeatures(nn.Module):
    """(batch) -> (B, T, filters): a max-pooled char CNN per token, zero at padding tokens.

    Char ids: 0 is padding, 1 an unknown character, ``2 + i`` the i-th of ``chars``. Tokens
    are cut to ``max_chars``; the max-pool only sees a token's own characters, so a token's
    features never depend on the other tokens of the batch.
    """

    def __init__(self, chars: Sequence[str], config: CharFeaturesConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or CharFeaturesConfig()
        self.chars = list(chars)
        self.index = {char: i + 2 for i, char in enumerate(self.chars)}
        self.embedding = nn.Embedding(len(self.chars) + 2, config.dim, padding_idx=0)
        self.conv = nn.Conv1d(config.dim, config.filters, config.width, padding=config.width // 2)
        self.output_dim = config.filters

    def ids(self, batch: TokenBatch) -> tuple[Tensor, Tensor]:
        """Char ids (B, T, C) and token lengths in characters (B, T), 0 for padding tokens."""
        steps = batch.mask.shape[1]
        cut = [[token[: self.config.max_chars] for token in sentence] for sentence in batch.tokens]
        width = max([len(token) for sentence in cut for token in sentence] + [1])
        ids = torch.zeros(len(cut), steps, width, dtype=torch.long)
        lengths = torch.zeros(len(cut), steps, dtype=torch.long)
        for row, sentence in enumerate(cut):
            for col, token in enumerate(sentence):
                ids[row, col, : len(token)] = torch.tensor([self.index.get(c, 1) for c in token], dtype=torch.long)
                lengths[row, col] = len(token)
        return ids, lengths

    def forward(self, batch: TokenBatch) -> Tensor:
        device = self.embedding.weight.device
        ids, lengths = (t.to(device) for t in self.ids(batch))
        batch_size, steps, width = ids.shape
        chars = self.embedding(ids.view(-1, width)).transpose(1, 2)  # (B*T, dim, C)
        conv = self.conv(chars)  # (B*T, filters, C')
        valid = torch.arange(conv.shape[2], device=device) < lengths.view(-1, 1).clamp(min=1)
        pooled = conv.masked_fill(~valid.unsqueeze(1), float("-inf")).amax(dim=2)
        features = torch.relu(pooled).view(batch_size, steps, -1)
        return features * (lengths > 0).unsqueeze(2)

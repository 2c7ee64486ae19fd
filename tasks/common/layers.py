"""Layers the task heads share: char-CNN word features and a padding-safe BiLSTM."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from elmo_features.embedders import TokenBatch


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Each row of ``x`` (B, T, D) with its first ``lengths[b]`` steps in reverse order, padding left in place
    (its own inverse)."""
    steps = torch.arange(x.shape[1], device=x.device)
    n = lengths.to(x.device).unsqueeze(1)
    index = torch.where(steps < n, n - 1 - steps, steps)  # (B, T)
    return x.gather(1, index.unsqueeze(2).expand_as(x))


def masked_lstm(lstm: nn.LSTM, x: Tensor, mask: Tensor) -> Tensor:
    """A batch-first ``lstm`` over the unpadded part of each row of ``x`` (B, T, D); zero at padding.

    What ``lstm`` gives for a packed sequence, computed on the padded batch: each direction of each layer runs
    as one fused (oneDNN on CPU) call, the backward one over each row reversed within its length, so padding
    never reaches a real step. The packed path runs a cell per time step (3-4x slower to train on CPU). The
    dropout between layers draws in packed order, as ``lstm`` does, so a seed gives the same masks; outputs
    differ from the packed path only in float rounding.

    Runs in fp32 even under CPU bf16 autocast: oneDNN's bf16 LSTM fails on some batches (all rows of
    equal length), and the recurrence is where bf16 rounding hurts most."""
    if lstm.proj_size or not lstm.batch_first:
        raise ValueError("masked_lstm takes a batch-first LSTM without projections")
    lengths = mask.sum(1)
    suffixes = ["", "_reverse"] if lstm.bidirectional else [""]
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if lstm.bias else ("weight_ih", "weight_hh")
    with torch.autocast("cpu", enabled=False):
        x = x.to(lstm.weight_ih_l0.dtype)
        zeros = x.new_zeros(1, x.shape[0], lstm.hidden_size)
        for layer in range(lstm.num_layers):
            if layer and lstm.training and lstm.dropout:
                packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
                dropped = packed._replace(data=nn.functional.dropout(packed.data, lstm.dropout))
                x = pad_packed_sequence(dropped, batch_first=True, total_length=x.shape[1])[0]
            outputs = []
            for suffix in suffixes:
                weights = [getattr(lstm, f"{name}_l{layer}{suffix}") for name in names]
                source = reverse_padded(x, lengths) if suffix else x
                out = torch.lstm(source, (zeros, zeros), weights, lstm.bias, 1, 0.0, lstm.training, False, True)[0]
                outputs.append(reverse_padded(out, lengths) if suffix else out)
            x = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
    return x.masked_fill(~mask.unsqueeze(2), 0.0)


def masked_softmax(logits: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """Softmax over the ``mask``ed positions of axis ``dim`` only (``mask`` broadcast to ``logits``); zero
    elsewhere, and an all-masked row gives zeros, never NaN. The fill is the dtype's lowest finite value:
    a fixed constant such as -1e7 overflows to -inf in fp16 (NaN on an all-masked row)."""
    logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
    return torch.softmax(logits, dim=dim) * mask


class BiLstm(nn.Module):
    """A batch-first bidirectional LSTM over padded sequences (padding never leaks in: :func:`masked_lstm`)."""

    def __init__(self, input_dim: int, hidden: int, layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            input_dim, hidden, num_layers=layers, bidirectional=True, batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )  # fmt: skip
        self.output_dim = 2 * hidden

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return masked_lstm(self.lstm, x, mask)


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

    def ids(self, words: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Char ids (N, C) and lengths in characters (N,) of ``words``, cut to ``max_chars`` (built from one flat
        list of their characters, not a tensor per word)."""
        words = [word[: self.config.max_chars] for word in words]
        lengths = torch.tensor([len(word) for word in words], dtype=torch.long)
        flat = torch.tensor([self.index.get(c, 1) for word in words for c in word], dtype=torch.long)
        word = torch.repeat_interleave(torch.arange(len(words)), lengths)  # the word of each character
        first = torch.cumsum(lengths, 0) - lengths  # where each word's characters start in ``flat``
        ids = torch.zeros(len(words), max([len(w) for w in words] + [1]), dtype=torch.long)
        ids[word, torch.arange(len(flat)) - first[word]] = flat
        return ids, lengths

    def forward(self, batch: TokenBatch) -> Tensor:
        """Each distinct token of the batch goes through the CNN once (a token's features depend on it alone)."""
        device = self.embedding.weight.device
        distinct: dict[str, int] = {}
        tokens = [distinct.setdefault(token, len(distinct)) for sentence in batch.tokens for token in sentence]
        ids, lengths = (t.to(device) for t in self.ids(list(distinct)))
        conv = self.conv(self.embedding(ids).transpose(1, 2))  # (N, filters, C')
        valid = torch.arange(conv.shape[2], device=device) < lengths.unsqueeze(1).clamp(min=1)
        pooled = conv.masked_fill(~valid.unsqueeze(1), float("-inf")).amax(dim=2)
        features = torch.relu(pooled) * (lengths > 0).unsqueeze(1)  # (N, filters); an empty token: zero
        mask = batch.mask.to(device).bool()  # each row a prefix: its real tokens, in the order of ``tokens``
        out = features.new_zeros(*mask.shape, features.shape[1])
        out[mask] = features.index_select(0, torch.tensor(tokens, dtype=torch.long, device=device))
        return out

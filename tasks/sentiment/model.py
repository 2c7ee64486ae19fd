"""Sentence classifiers over any :class:`~elmo_features.embedders.TokenEmbedder`.

``head="bcn"``: the biattentive classification network of McCann et al. (2017) as Peters et al.
(2018) used it for SST (allennlp's ``bcn``): embedder -> dropout -> feedforward (ReLU) -> encoder
BiLSTM X -> self-biattention (X = Y: A = X X^T over the unpadded tokens, softmax per token, context
C = softmax(A) X) -> integrator BiLSTM over [X; X - C; X * C] -> [; ELMo at output] -> max, mean, min
and self-attentive pooling -> dropout -> maxout (or MLP) classifier.

``head="bilstm_attention"``: embedder -> dropout -> BiLSTM -> [; ELMo at output] -> attention pooling
-> dropout -> the same classifier.

ELMo at the output is the embedder's extra scalar mix (an ELMo embedder with ``outputs: 2``, read
through :meth:`TokenEmbedder.with_extras`), concatenated to the last BiLSTM's states.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from elmo_features.embedders import TokenBatch, TokenEmbedder
from elmo_features.errors import ElmoError
from tasks.common.layers import BiLstm, masked_softmax
from tasks.sentiment.config import SentimentModel

Head = Literal["bcn", "bilstm_attention"]
Pooling = Literal["max", "mean", "min", "attention"]
POOLINGS: tuple[str, ...] = ("max", "mean", "min", "attention")
NEG = -1e7  # stands for -inf under the mask (finite: no NaN from an all-masked row)


class Maxout(nn.Module):
    """Maxout layers (Goodfellow et al. 2013): each a linear map to ``dim * pool`` units, max over the
    pool, then dropout; the last of ``dims`` is the output (allennlp's ``Maxout``)."""

    def __init__(self, input_dim: int, dims: Sequence[int], pool: int, dropouts: Sequence[float]) -> None:
        super().__init__()
        self.pool = pool
        sizes = [input_dim, *dims]
        self.layers = nn.ModuleList(nn.Linear(a, b * pool) for a, b in pairwise(sizes))
        self.dropouts = nn.ModuleList(nn.Dropout(p) for p in dropouts)

    def forward(self, x: Tensor) -> Tensor:
        for layer, dropout in zip(self.layers, self.dropouts, strict=True):
            out = layer(x)
            x = dropout(out.view(*out.shape[:-1], -1, self.pool).amax(dim=-1))
        return x


def classifier(
    kind: Literal["maxout", "mlp"], input_dim: int, hidden: Sequence[int], classes: int, dropout: Sequence[float], pool
) -> nn.Module:
    """Maxout (hidden dims, then ``classes``, pool ``pool``) or an MLP (ReLU hidden layers, linear output);
    ``dropout[i]`` follows hidden layer i."""
    if len(dropout) != len(hidden):
        raise ElmoError(
            f"classifier: {len(hidden)} hidden layers need {len(hidden)} dropout values, got {len(dropout)}"
        )
    if kind == "maxout":
        return Maxout(input_dim, [*hidden, classes], pool, [*dropout, 0.0])
    layers: list[nn.Module] = []
    for dim, p in zip(hidden, dropout, strict=True):
        layers += [nn.Linear(input_dim, dim), nn.ReLU(), nn.Dropout(p)]
        input_dim = dim
    return nn.Sequential(*layers, nn.Linear(input_dim, classes))


class SentimentClassifier(nn.Module):
    """A BCN or BiLSTM + attention-pooling sentence classifier into ``len(labels)`` classes."""

    def __init__(self, embedder: TokenEmbedder, labels: Sequence[str], config: SentimentModel | None = None) -> None:
        super().__init__()
        c = config or SentimentModel()
        head, dropout, hidden, layers, pooling, elmo_output = (
            c.head,
            c.dropout,
            c.hidden,
            c.layers,
            c.pooling,
            c.elmo_output,
        )
        self.embedder = embedder
        self.labels = list(labels)
        self.head = head
        self.pooling = list(dict.fromkeys(pooling))
        if not self.pooling or set(self.pooling) - set(POOLINGS):
            raise ElmoError(f"model.pooling: choose one or more of {', '.join(POOLINGS)}, got {list(pooling)}")
        extras = list(embedder.extra_dims)
        if elmo_output and not extras:
            raise ElmoError("model.elmo_output needs an ELMo embedder with 'outputs: 2' (a second scalar mix)")
        if extras and not elmo_output:
            raise ElmoError(
                f"the embedder gives {len(extras)} extra ELMo mix(es) ('outputs' > 1) that the head would not use; "
                "set model.elmo_output: true or the embedder's outputs: 1"
            )
        self.elmo_output = elmo_output
        self.dropout = nn.Dropout(dropout)
        if head == "bcn":
            self.feedforward = nn.Sequential(
                nn.Linear(embedder.output_dim, c.feedforward), nn.ReLU(), nn.Dropout(c.feedforward_dropout)
            )
            self.encoder = BiLstm(c.feedforward, hidden, layers)
            self.integrator = BiLstm(3 * self.encoder.output_dim, c.integrator_hidden)
            states = self.integrator.output_dim
        elif head == "bilstm_attention":
            self.encoder = BiLstm(embedder.output_dim, hidden, layers, dropout)
            states = self.encoder.output_dim
        else:
            raise ElmoError(f"model.head: unknown head {head!r} (bcn or bilstm_attention)")
        states += sum(extras)
        self.attention = nn.Linear(states, 1) if "attention" in self.pooling else None
        self.pool_dropout = nn.Dropout(c.integrator_dropout if head == "bcn" else dropout)
        self.classifier = classifier(
            c.classifier, states * len(self.pooling), c.classifier_hidden, len(self.labels), c.classifier_dropout,
            c.maxout_pool,
        )  # fmt: skip

    def states(self, tokens: TokenBatch) -> tuple[Tensor, Tensor]:
        """Per-token states of the head's last BiLSTM (with ELMo at output) and the (B, T) mask."""
        vectors, extras = self.embedder.with_extras(tokens)
        mask = tokens.mask.to(vectors.device).bool()
        lengths = mask.sum(1)
        if bool((lengths == 0).any()):
            raise ValueError("every sentence in the batch needs at least one token")
        x = self.dropout(vectors)
        if self.head == "bcn":
            encoded = self.encoder(self.feedforward(x), mask)
            attention = masked_softmax(encoded @ encoded.transpose(1, 2), mask.unsqueeze(1))  # (B, T, T) over keys
            context = attention @ encoded
            states = self.integrator(torch.cat([encoded, encoded - context, encoded * context], dim=-1), mask)
        else:
            states = self.encoder(x, mask)
        if self.elmo_output:
            states = torch.cat([states, *(e.to(states.dtype) for e in extras)], dim=-1)
        return states, mask

    def pool(self, states: Tensor, mask: Tensor) -> Tensor:
        """(B, T, D) -> (B, D * len(pooling)), padding ignored."""
        m = mask.unsqueeze(-1)
        pooled = []
        for kind in self.pooling:
            if kind == "max":
                pooled.append(states.masked_fill(~m, NEG).amax(dim=1))
            elif kind == "min":
                pooled.append(states.masked_fill(~m, -NEG).amin(dim=1))
            elif kind == "mean":
                pooled.append((states * m).sum(1) / m.sum(1))
            else:
                weights = masked_softmax(self.attention(states).squeeze(-1), mask)
                pooled.append((weights.unsqueeze(-1) * states).sum(1))
        return torch.cat(pooled, dim=-1)

    def forward(self, tokens: TokenBatch, labels: Tensor | None = None) -> dict[str, Tensor]:
        """``{"logits" (B, K), "probabilities" (B, K)}``, plus ``"loss"`` (mean cross-entropy; the
        training step adds the embedder's penalty) when ``labels`` (B,) are given."""
        states, mask = self.states(tokens)
        logits = self.classifier(self.pool_dropout(self.pool(states, mask)))
        output = {"logits": logits, "probabilities": torch.softmax(logits.float(), dim=-1)}
        if labels is not None:
            output["loss"] = F.cross_entropy(logits.float(), labels.to(logits.device))
        return output

    @torch.no_grad()
    def predict(self, tokens: TokenBatch) -> Tensor:
        """(B, K) class probabilities (call ``eval()`` first for deterministic output)."""
        return self.forward(tokens)["probabilities"]

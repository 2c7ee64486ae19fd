"""BiDAF (Seo et al. 2017) over any :class:`~elmo_features.embedders.TokenEmbedder`, with ELMo options.

Layers: [word vectors; char CNN] -> 2-layer highway -> contextual BiLSTM -> attention flow
(trilinear similarity, context-to-query and query-to-context attention) -> 2-layer modelling
BiLSTM -> span start; one more BiLSTM over the modelling output -> span end.

ELMo placement (``elmo``, Peters et al. 2018, Sec. 3.3):

* ``input``: the embedder's vectors (ELMo included, when it has an ELMo part) feed the highway.
* ``both``: the embedder's ELMo block has ``outputs: 2``; its second scalar mix
  (``TokenEmbedder.with_extras``) is concatenated to the contextual BiLSTM's output
  ``[h; ELMo]`` *before* the attention layer, for passage and question alike (the paper's
  "ELMo at the output of the task RNN", as in its improved BiDAF).
* ``output``: ELMo only there; the embedder must be a concat whose non-ELMo parts feed the
  input, the ELMo part's mix going to the contextual output as above.

Decoding picks ``argmax log p_start(i) + log p_end(j)`` over ``i <= j < i + max_span`` in one
vectorised masked band (:func:`best_span`).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from elmo_features.embedders import TokenBatch, TokenEmbedder
from elmo_features.errors import ElmoError
from tasks.common.layers import BiLstm, CharFeaturesConfig, CharWordFeatures, masked_softmax
from tasks.qa.config import QaModel

ElmoPlace = Literal["input", "output", "both"]


def best_span(start_logits: Tensor, end_logits: Tensor, mask: Tensor, max_length: int | None = None) -> Tensor:
    """(B, 2) inclusive (start, end) maximising ``log p_start + log p_end`` with ``start <= end``,
    ``end - start < max_length`` (None: any length) and both inside ``mask`` (B, T)."""
    mask = mask.bool()
    log_start = start_logits.float().masked_fill(~mask, float("-inf")).log_softmax(-1)
    log_end = end_logits.float().masked_fill(~mask, float("-inf")).log_softmax(-1)
    steps = mask.shape[1]
    scores = log_start.unsqueeze(2) + log_end.unsqueeze(1)  # (B, start, end)
    band = torch.ones(steps, steps, dtype=torch.bool, device=mask.device).triu()
    if max_length is not None:
        band = band.tril(max_length - 1)
    scores = scores.masked_fill(~band, float("-inf"))
    flat = scores.view(scores.shape[0], -1).argmax(-1)
    return torch.stack([flat // steps, flat % steps], dim=1)


class Highway(nn.Module):
    """``y = g * relu(W x) + (1 - g) * x`` with ``g = sigmoid(W_g x)``, ``layers`` times (Srivastava et al.)."""

    def __init__(self, dim: int, layers: int = 2) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(dim, 2 * dim) for _ in range(layers))
        for layer in self.layers:
            layer.bias.data[dim:].fill_(1.0)  # start by carrying the input through

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            transform, gate = layer(x).chunk(2, dim=-1)
            gate = torch.sigmoid(gate)
            x = gate * F.relu(transform) + (1 - gate) * x
        return x


class TrilinearAttention(nn.Module):
    """BiDAF's attention flow: ``S_tj = w^T [h_t; u_j; h_t * u_j]``, then ``[h; ũ; h*ũ; h*h̃]``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.w_context = nn.Linear(dim, 1, bias=False)
        self.w_question = nn.Linear(dim, 1, bias=False)
        self.w_product = nn.Parameter(torch.empty(dim).uniform_(-(dim**-0.5), dim**-0.5))
        self.bias = nn.Parameter(torch.zeros(()))
        self.output_dim = 4 * dim

    def similarity(self, h: Tensor, u: Tensor) -> Tensor:
        """(B, T, J) trilinear similarity of passage ``h`` (B, T, d) and question ``u`` (B, J, d)."""
        return (
            self.w_context(h) + self.w_question(u).transpose(1, 2) + (h * self.w_product) @ u.transpose(1, 2)
        ) + self.bias

    def forward(self, h: Tensor, u: Tensor, h_mask: Tensor, u_mask: Tensor) -> Tensor:
        s = self.similarity(h, u)
        c2q = masked_softmax(s, u_mask.unsqueeze(1), dim=2) @ u  # (B, T, d): ũ
        best = s.masked_fill(~u_mask.unsqueeze(1), torch.finfo(s.dtype).min).amax(dim=2)  # (B, T)
        q2c = (masked_softmax(best, h_mask).unsqueeze(1) @ h).expand_as(h)  # (B, T, d): h̃ tiled
        return torch.cat([h, c2q, h * c2q, h * q2c], dim=-1)


class Bidaf(nn.Module):
    """BiDAF span predictor; ``chars`` is the character vocabulary of the char CNN."""

    def __init__(
        self, embedder: TokenEmbedder, chars: list[str], config: QaModel | None = None, max_span: int | None = 30
    ) -> None:
        super().__init__()
        c = config or QaModel()
        hidden, dropout, elmo = c.hidden, c.dropout, c.elmo
        self.embedder = embedder
        self.elmo = elmo
        self.max_span = max_span
        char_cnn = CharFeaturesConfig(dim=c.char_dim, filters=c.char_filters, width=c.char_width, max_chars=c.max_chars)
        self.char_features = CharWordFeatures(chars, char_cnn)
        input_dim, output_elmo_dim = self._elmo_dims(embedder, elmo)
        input_dim += self.char_features.output_dim
        self.highway = Highway(input_dim, 2)
        self.contextual = BiLstm(input_dim, hidden)
        encoded = self.contextual.output_dim + output_elmo_dim
        self.attention = TrilinearAttention(encoded)
        self.modelling = BiLstm(self.attention.output_dim, hidden, layers=2, dropout=dropout)
        self.end_lstm = BiLstm(self.modelling.output_dim, hidden)
        self.start_out = nn.Linear(self.attention.output_dim + self.modelling.output_dim, 1)
        self.end_out = nn.Linear(self.attention.output_dim + self.end_lstm.output_dim, 1)
        self.dropout = nn.Dropout(dropout)

    @staticmethod
    def _elmo_dims(embedder: TokenEmbedder, elmo: ElmoPlace) -> tuple[int, int]:
        """(input vector dim, ELMo dim concatenated at the contextual output)."""
        if elmo == "input":
            return embedder.output_dim, 0
        if elmo == "both":
            extra = list(embedder.extra_dims)
            if not extra:
                raise ElmoError("model.elmo: 'both' needs an ELMo embedder block with outputs: 2")
            return embedder.output_dim, extra[0]
        static, elmos = embedder.split_contextual()
        if not static or not elmos:
            raise ElmoError("model.elmo: 'output' needs a concat embedder with a static part and an ELMo part")
        return sum(p.output_dim for p in static), sum(e.output_dim for e in elmos)

    def _vectors(self, batch: TokenBatch) -> tuple[Tensor, Tensor | None]:
        """(input vectors, ELMo for the contextual output or None)."""
        if self.elmo == "input":
            return self.embedder(batch), None
        if self.elmo == "both":
            vectors, extras = self.embedder.with_extras(batch)
            return vectors, extras[0]
        static, elmos = self.embedder.split_contextual()
        return torch.cat([p(batch) for p in static], -1), torch.cat([e(batch) for e in elmos], -1)

    def encode(self, batch: TokenBatch) -> tuple[Tensor, Tensor]:
        """Contextual vectors (B, T, d) (with output ELMo when configured) and the mask (B, T)."""
        vectors, output_elmo = self._vectors(batch)
        device = vectors.device
        mask = batch.mask.to(device).bool()
        if bool((mask.sum(1) == 0).any()):
            raise ValueError("every passage and question needs at least one token")
        chars = self.char_features(batch).to(vectors.dtype)
        x = self.highway(self.dropout(torch.cat([vectors, chars], dim=-1)))
        h = self.contextual(x, mask)
        if output_elmo is not None:
            h = torch.cat([h, output_elmo.to(h.dtype)], dim=-1)
        return self.dropout(h), mask

    def forward(self, question: TokenBatch, passage: TokenBatch, spans: Tensor | None = None) -> dict[str, Tensor]:
        """``span_start_logits``/``span_end_logits`` (B, T; -inf-free, padding masked at use), ``best_span``
        (B, 2), and ``loss`` (mean NLL of start + end) given (B, 2) ``spans``."""
        h, h_mask = self.encode(passage)
        u, u_mask = self.encode(question)
        g = self.attention(h, u, h_mask, u_mask)
        m = self.modelling(g, h_mask)
        start_logits = self.start_out(self.dropout(torch.cat([g, m], -1))).squeeze(-1)
        m2 = self.end_lstm(self.dropout(m), h_mask)
        end_logits = self.end_out(self.dropout(torch.cat([g, m2], -1))).squeeze(-1)
        output = {
            "span_start_logits": start_logits,
            "span_end_logits": end_logits,
            "mask": h_mask,
            "best_span": best_span(start_logits.detach(), end_logits.detach(), h_mask, self.max_span),
        }
        if spans is not None:
            spans = spans.to(start_logits.device)
            log_start = start_logits.float().masked_fill(~h_mask, float("-inf")).log_softmax(-1)
            log_end = end_logits.float().masked_fill(~h_mask, float("-inf")).log_softmax(-1)
            nll = -(log_start.gather(1, spans[:, :1]) + log_end.gather(1, spans[:, 1:])).mean()
            output["loss"] = nll  # the training step adds the embedder's penalty
        return output

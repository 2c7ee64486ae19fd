"""The trainable biLM: the :class:`~elmo_features.bilm.CharCNN` token encoder and the projected
LSTMs of :class:`~elmo_features.bilm.BiLM` (same shapes, same (i, f, o, j) gate order), run
differentiably, without the inference caches, plus a softmax shared by both directions.

One difference from ``BiLM``: ``bias`` is kept in the TensorFlow convention (no +1 on the forget
gate; the forward pass adds it, like TF's ``forget_bias=1.0``), so that importing official
weights and exporting them again gives bit-identical arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from elmo_features.bilm import CharCNN, gate_scale, lstm_cell
from elmo_features.chars import BOS_TOKEN, EOS_TOKEN, token_length, tokens_to_ids
from elmo_features.options import BiLMOptions
from elmo_features.pretrain.corpus import Batch
from elmo_features.pretrain.softmax import Softmax

FORGET_BIAS = 1.0
State = list[tuple[Tensor, Tensor]]  # per layer (h (2, B, P), c (2, B, C)); direction 0 forward, 1 backward


class BidirectionalLM(nn.Module):
    """Forward and backward LSTM language models sharing the token encoder and the softmax."""

    def __init__(self, options: BiLMOptions, vocab_size: int, dropout: float = 0.1, num_sampled: int = 8192) -> None:
        super().__init__()
        self.options = options
        self.dropout = dropout
        p, c, n = options.projection_dim, options.cell_dim, options.n_layers
        self.char_cnn = CharCNN(options)
        self.w_input = nn.ParameterList(nn.Parameter(torch.zeros(2, p, 4 * c)) for _ in range(n))
        self.w_state = nn.ParameterList(nn.Parameter(torch.zeros(2, 4 * c, p)) for _ in range(n))
        self.bias = nn.ParameterList(nn.Parameter(torch.zeros(2, 1, 4 * c)) for _ in range(n))
        self.w_proj = nn.ParameterList(nn.Parameter(torch.zeros(2, p, c)) for _ in range(n))
        self.softmax = Softmax(vocab_size, p, num_sampled)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """bilm-tf's initialisation: uniform char embeddings, -2 highway carry bias, Glorot LSTMs."""
        with torch.no_grad():
            self.char_cnn.char_embed.requires_grad_(True)
            self.char_cnn.char_embed.uniform_(-1.0, 1.0)
            self.char_cnn.char_embed[0] = 0.0  # the padding-token id
            n = self.options.n_filters
            for highway in self.char_cnn.highways:
                nn.init.normal_(highway.weight, std=math.sqrt(1.0 / n))
                highway.bias.zero_()
                highway.bias[n:] = -2.0
            for layer in range(self.options.n_layers):
                p, c = self.options.projection_dim, self.options.cell_dim
                bound = math.sqrt(6.0 / (2 * p + 4 * c))
                self.w_input[layer].uniform_(-bound, bound)
                self.w_state[layer].uniform_(-bound, bound)
                self.bias[layer].zero_()
                bound = math.sqrt(6.0 / (p + c))
                self.w_proj[layer].uniform_(-bound, bound)

    # ------------------------------------------------------------------ pieces
    def zero_state(self, rows: int) -> State:
        p, c = self.options.projection_dim, self.options.cell_dim
        ref = self.bias[0]
        return [(ref.new_zeros(2, rows, p), ref.new_zeros(2, rows, c)) for _ in range(self.options.n_layers)]

    def _lstm_layer(self, layer: int, inputs: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """inputs (2, T, B, P) -> outputs (2, T, B, P), final h, c. Every row runs every step."""
        _, steps, rows, p = inputs.shape
        cells = self.options.cell_dim
        proj_clip = self.options.proj_clip
        scale = gate_scale(cells, inputs.device)
        bias = self.bias[layer].clone()
        bias[..., cells : 2 * cells] += FORGET_BIAS
        gates_in = torch.baddbmm(bias * scale, inputs.reshape(2, steps * rows, p), self.w_input[layer] * scale)
        # unbind, not gates_in[:, t]: each slice's backward would write a zero tensor of the full size
        per_step = gates_in.view(2, steps, rows, 4 * cells).unbind(1)
        w_state = (self.w_state[layer] * scale.unsqueeze(1)).transpose(1, 2)
        w_proj = self.w_proj[layer].transpose(1, 2)
        outputs = []
        for t in range(steps):
            hidden, c = lstm_cell(torch.baddbmm(per_step[t], h, w_state), c, self.options.cell_clip)
            h = torch.bmm(hidden, w_proj)
            if proj_clip:
                h = h.clamp(-proj_clip, proj_clip)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h, c

    def lstm(self, inputs: Tensor, state: State, dropout: float = 0.0) -> tuple[list[Tensor], State]:
        """inputs (2, T, B, P) (backward rows already reversed) -> per-layer outputs, final state."""
        layers, final = [inputs], []
        for layer in range(self.options.n_layers):
            x = F.dropout(layers[-1], dropout, self.training) if dropout else layers[-1]
            out, h, c = self._lstm_layer(layer, x, *state[layer])
            if layer > 0 and self.options.use_skip_connections:
                out = out + x
            layers.append(out)
            final.append((h, c))
        return layers, final

    # ------------------------------------------------------------------ training
    def forward(self, batch: Batch, state: State) -> tuple[Tensor, Tensor, State]:
        """Summed (forward, backward) losses of a batch (sampled softmax when training), final state."""
        tokens = self.char_cnn(batch.char_ids, batch.lengths)  # (U, P)
        inputs = torch.stack([tokens[batch.fwd_index.T], tokens[batch.bwd_index.T]])  # (2, T, B, P)
        layers, final = self.lstm(inputs, state, self.dropout)
        top = layers[-1]
        if self.dropout:
            top = F.dropout(top, self.dropout, self.training)
        hidden = top.transpose(1, 2).reshape(2, -1, top.shape[-1])  # (2, B*T, P), row-major like targets
        targets = [batch.fwd_targets.reshape(-1), batch.bwd_targets.reshape(-1)]
        if self.training:
            loss_f, loss_b = self.softmax.sampled_losses([hidden[0], hidden[1]], targets)
        else:
            loss_f, loss_b = (self.softmax.full_loss(hidden[d], targets[d]) for d in range(2))
        return loss_f, loss_b, [(h.detach(), c.detach()) for h, c in final]

    # ------------------------------------------------------------------ features
    @torch.no_grad()
    def layers(self, sentence: Sequence[str]) -> Tensor:
        """(L+1, T+2, 2P) layers of one sentence with its boundaries, zero start state:
        what ``BiLM(..., state="stateless")(..., keep_boundaries=True)`` returns for it."""
        tokens = [BOS_TOKEN, *sentence, EOS_TOKEN]
        ids = tokens_to_ids(tokens).to(self.bias[0].device)
        lengths = torch.tensor([token_length(t) for t in tokens], device=ids.device)
        x = self.char_cnn(ids, lengths)  # (T, P)
        inputs = torch.stack([x, x.flip(0)]).unsqueeze(2)  # (2, T, 1, P)
        layers, _ = self.lstm(inputs, self.zero_state(1))
        out = [torch.cat([x, x], -1)]
        out += [torch.cat([seq[0, :, 0], seq[1, :, 0].flip(0)], -1) for seq in layers[1:]]
        return torch.stack(out)

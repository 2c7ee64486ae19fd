"""The ELMo biLM: char CNN, highway, projection and a stack of projected LSTMs.

Loads the official weights and reproduces the reference outputs (bilm-tf, allennlp).
Speed comes from four things the reference code does not do: a per-process cache of
token vectors (the char CNN runs once per distinct token string), input projections
computed for all time steps in one matrix product, both directions stepped together
over length-sorted rows, so each step touches only the rows still running, and one
sigmoid for all four gates (:func:`lstm_cell`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from elmo_features.chars import BOS_TOKEN, EOS_TOKEN, MAX_CHARS, N_CHARACTERS, PAD_CHAR, token_length, token_to_ids
from elmo_features.options import BiLMOptions
from elmo_features.weights import lstm_cell_name, read_weights

StateMode = Literal["stateless", "stateful", "warm"]
STATE_MODES: tuple[str, ...] = ("stateless", "stateful", "warm")
FORGET_BIAS = 1.0  # added to the official forget-gate bias on loading (TF's forget_bias); exports subtract it
DEFAULT_STATE: StateMode = "warm"

_optimizer_steps = 0  # every optimizer step in this process


def _count_optimizer_step(optimizer, args, kwargs) -> None:
    global _optimizer_steps
    _optimizer_steps += 1


# A fused optimizer (``torch.optim.Adam(fused=True)``) updates the weights without bumping their version
# counters, so a trainable biLM also counts optimizer steps to know when its caches went stale.
register_optimizer_step_post_hook(_count_optimizer_step)

# Read once through the biLM (stateful, batch 1) to reach the fixed `warm` start state.
WARM_UP_TEXT = """\
The committee met on Tuesday to review the annual report .
Prices rose sharply in the first quarter , but demand held steady .
She said the river had flooded the road near the old mill .
In 1998 , the company moved its headquarters to London .
" We are pleased with the results , " a spokesman told reporters .
The film tells the story of a young teacher in a small town .
Officials expect the new bridge to open next spring .
He scored twice in the second half as his team won 3-1 .
"""


class CharCNN(nn.Module):
    """Character embedding, max-pooled convolutions, highway layers, projection."""

    def __init__(self, options: BiLMOptions) -> None:
        super().__init__()
        self.options = options
        n = options.n_filters
        self.char_embed = nn.Parameter(torch.zeros(N_CHARACTERS, options.char_dim), requires_grad=False)
        self.convs = nn.ModuleList(nn.Conv1d(options.char_dim, count, width) for width, count in options.filters)
        self.highways = nn.ModuleList(nn.Linear(n, 2 * n) for _ in range(options.n_highway))
        self.projection = nn.Linear(n, options.projection_dim)
        self.activation = torch.tanh if options.activation == "tanh" else torch.relu
        self.max_width = max(width for width, _ in options.filters)

    def forward(self, char_ids: Tensor, lengths: Tensor | None = None) -> Tensor:
        """(N, 50) char ids -> (N, projection_dim).

        With ``lengths`` (non-padding characters per token), convolutions run only over
        the positions that can matter; windows made only of padding characters all give
        the same value, which is added back exactly. Same result, a fraction of the work.
        """
        positions = MAX_CHARS
        if lengths is not None and len(lengths):
            positions = min(MAX_CHARS, int(lengths.max()) + self.max_width - 1)
        embedded = F.embedding(char_ids[:, :positions], self.char_embed).transpose(1, 2)
        if positions < MAX_CHARS:
            pad_window = self.char_embed[char_ids.new_full((1, self.max_width), PAD_CHAR + 1)]
        pooled = []
        for (width, _), conv in zip(self.options.filters, self.convs, strict=False):
            values = conv(embedded).amax(dim=-1)
            if positions < MAX_CHARS:
                constant = conv(pad_window[:, :width].transpose(1, 2)).squeeze(-1)  # (1, count)
                has_pad_window = (lengths + width <= MAX_CHARS).unsqueeze(1)
                values = torch.where(has_pad_window, torch.maximum(values, constant), values)
            pooled.append(self.activation(values))
        x = torch.cat(pooled, dim=-1)
        for highway in self.highways:
            transform, carry = highway(x).chunk(2, dim=-1)
            gate = torch.sigmoid(carry)
            x = gate * torch.relu(transform) + (1 - gate) * x
        return self.projection(x)

    def load_official(self, arrays: dict[str, np.ndarray]) -> None:
        t = torch.from_numpy
        with torch.no_grad():
            self.char_embed.zero_()
            self.char_embed[1:] = t(arrays["char_embed"])
            for i, conv in enumerate(self.convs):
                conv.weight.copy_(t(arrays[f"CNN/W_cnn_{i}"][0].transpose(2, 1, 0)))
                conv.bias.copy_(t(arrays[f"CNN/b_cnn_{i}"]))
            for i, highway in enumerate(self.highways):
                w = np.concatenate([arrays[f"CNN_high_{i}/W_transform"], arrays[f"CNN_high_{i}/W_carry"]], axis=1)
                b = np.concatenate([arrays[f"CNN_high_{i}/b_transform"], arrays[f"CNN_high_{i}/b_carry"]])
                highway.weight.copy_(t(w.T.copy()))
                highway.bias.copy_(t(b))
            self.projection.weight.copy_(t(arrays["CNN_proj/W_proj"].T.copy()))
            self.projection.bias.copy_(t(arrays["CNN_proj/b_proj"]))


class TokenVectorCache:
    """Token key -> char-CNN vector, computed once per process (bounded; cleared when full)."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self.slots: dict[Hashable, int] = {}
        self.storage: Tensor | None = None
        self.misses = 0

    def __len__(self) -> int:
        return len(self.slots)

    def clear(self) -> None:
        self.slots.clear()
        self.storage = None

    def lookup(self, keys: Sequence[Hashable], compute) -> Tensor:
        """Vectors for ``keys``; ``compute(missing_keys)`` encodes the ones not seen yet."""
        missing = [k for k in dict.fromkeys(keys) if k not in self.slots]
        if missing:
            if len(self.slots) + len(missing) > self.capacity:
                self.clear()
            self.misses += len(missing)
            vectors = compute(missing)
            if self.storage is None:
                self.storage = vectors.new_empty(max(1024, len(vectors)), vectors.shape[1])
            start = len(self.slots)
            needed = start + len(missing)
            if needed > len(self.storage):
                grown = self.storage.new_empty(max(needed, 2 * len(self.storage)), self.storage.shape[1])
                grown[:start] = self.storage[:start]
                self.storage = grown
            self.storage[start:needed] = vectors
            self.slots.update((k, start + i) for i, k in enumerate(missing))
        index = torch.tensor([self.slots[k] for k in keys], dtype=torch.long, device=self.storage.device)
        return self.storage[index]


class BiLM(nn.Module):
    """The biLM. Outputs ``n_layers + 1`` layers of size ``2 * projection_dim``.

    Layer 0 is the token vector twice ``[x, x]``; layer k is ``[forward_k | backward_k]``.
    State modes: ``stateless`` (zero state per sentence), ``stateful`` (allennlp: state
    carried per batch row across calls), ``warm`` (every sentence starts from the one
    fixed state reached by reading :data:`WARM_UP_TEXT`).

    Frozen by default (no gradients, the token cache on). With ``requires_grad_(True)`` and
    gradients enabled, the forward pass is differentiable and skips the token cache (fine-tuning);
    in ``warm`` mode it also reads the warm-up text again, as part of the graph (the start state
    depends on the weights), and a carried ``stateful`` state is a constant. The token cache and
    the warm state are recomputed whenever the weights have changed.
    """

    def __init__(self, options: BiLMOptions, state: StateMode = DEFAULT_STATE, cache_size: int = 200_000) -> None:
        super().__init__()
        if state not in STATE_MODES:
            raise ValueError(f"state must be one of {STATE_MODES}, got {state!r}")
        self.options = options
        self.state = state
        self.bf16 = False
        self.char_cnn = CharCNN(options)
        p, c, n = options.projection_dim, options.cell_dim, options.n_layers
        # Per layer, both directions stacked on dim 0; gate order (i, f, o, j).
        self.w_input = nn.ParameterList(nn.Parameter(torch.zeros(2, p, 4 * c)) for _ in range(n))
        # Recurrent weights are stored (out, in): small-row matrix products read them faster.
        self.w_state = nn.ParameterList(nn.Parameter(torch.zeros(2, 4 * c, p)) for _ in range(n))
        self.bias = nn.ParameterList(nn.Parameter(torch.zeros(2, 1, 4 * c)) for _ in range(n))
        self.w_proj = nn.ParameterList(nn.Parameter(torch.zeros(2, p, c)) for _ in range(n))
        self.requires_grad_(False)
        self.token_cache = TokenVectorCache(cache_size)
        self._carried: list[tuple[Tensor, Tensor]] | None = None  # stateful: per layer (h, c)
        self._warm: list[tuple[Tensor, Tensor]] | None = None
        self._weights_version: tuple[int, ...] | None = None  # of the weights the caches were filled with

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_files(cls, options_file: str | Path, weight_file: str | Path, **kwargs) -> BiLM:
        options = BiLMOptions.load(options_file)
        model = cls(options, **kwargs)
        model.load_official(read_weights(weight_file, options, f"options {options_file}"))
        return model.eval()

    def load_official(self, arrays: dict[str, np.ndarray]) -> None:
        """Load TF-layout arrays: gate order (i, j, f, o) -> (i, f, o, j), +1 forget bias."""
        self.char_cnn.load_official(arrays)
        c = self.options.cell_dim
        order = np.concatenate([np.arange(0, c), np.arange(2 * c, 4 * c), np.arange(c, 2 * c)])
        p = self.options.projection_dim
        with torch.no_grad():
            for layer in range(self.options.n_layers):
                for direction in range(2):
                    name = lstm_cell_name(direction, layer)
                    w = arrays[f"{name}/W_0"][:, order]
                    b = arrays[f"{name}/B"].copy()
                    b[2 * c : 3 * c] += FORGET_BIAS
                    self.w_input[layer][direction] = torch.from_numpy(w[:p].copy())
                    self.w_state[layer][direction] = torch.from_numpy(w[p:].T.copy())
                    self.bias[layer][direction, 0] = torch.from_numpy(b[order].copy())
                    self.w_proj[layer][direction] = torch.from_numpy(arrays[f"{name}/W_P_0"].T.copy())
        self.token_cache.clear()
        self.reset_states()

    # ------------------------------------------------------------------ state
    def reset_states(self) -> None:
        """Forget the carried (stateful) and warm states."""
        self._carried = None
        self._warm = None

    def _zero_state(self, rows: int) -> list[tuple[Tensor, Tensor]]:
        ref = self.bias[0]
        p, c = self.options.projection_dim, self.options.cell_dim
        return [(ref.new_zeros(2, rows, p), ref.new_zeros(2, rows, c)) for _ in range(self.options.n_layers)]

    def _warm_state(self, grad: bool = False) -> list[tuple[Tensor, Tensor]]:
        if grad:  # the start state depends on the weights being trained: part of this step's graph
            return self._read_warm_up(cached=False)
        stale = self._warm is not None and self._warm[0][0].is_inference() and not torch.is_inference_mode_enabled()
        if self._warm is None or stale:  # an inference-mode tensor cannot enter a graph: recompute it
            with torch.no_grad():
                self._warm = self._read_warm_up(cached=True)
        return self._warm

    def _read_warm_up(self, cached: bool) -> list[tuple[Tensor, Tensor]]:
        state = self._zero_state(1)
        for line in WARM_UP_TEXT.splitlines():
            *_, state = self._run([line.split()], state, cached)
        return state

    def _drop_stale_caches(self) -> None:
        """Forget the token vectors and the warm state when the weights changed since they were computed: a
        loaded state dict or an in-place update bumps a parameter's version, and while any weight is trainable
        every optimizer step counts as a change (fused optimizers leave the versions as they were)."""
        params = list(self.parameters())
        trainable = any(p.requires_grad for p in params)
        # data_ptr: a device move or load_state_dict(assign=True) replaces the storage without a version bump
        version = (
            *(p._version for p in params),
            *(p.data_ptr() for p in params),
            _optimizer_steps if trainable else -1,
        )
        if version != self._weights_version:
            self.token_cache.clear()
            self._warm = None
            self._weights_version = version

    def _initial_state(self, rows: int, grad: bool = False) -> list[tuple[Tensor, Tensor]]:
        if self.state == "stateless":
            return self._zero_state(rows)
        if self.state == "warm":
            return [(h.expand(-1, rows, -1), c.expand(-1, rows, -1)) for h, c in self._warm_state(grad)]
        if self._carried is None:
            self._carried = self._zero_state(rows)
        have = self._carried[0][0].shape[1]
        if have < rows:
            extra = self._zero_state(rows - have)
            self._carried = [
                (torch.cat([h, eh], 1), torch.cat([c, ec], 1))
                for (h, c), (eh, ec) in zip(self._carried, extra, strict=False)
            ]
        return [(h[:, :rows], c[:, :rows]) for h, c in self._carried]

    # ------------------------------------------------------------------ forward
    def encode_tokens(self, tokens: Sequence[str], cached: bool = True) -> Tensor:
        """Token strings -> (N, projection_dim) char-CNN vectors, through the cache unless not ``cached``."""

        def compute(missing: list[str]) -> Tensor:
            lengths = [token_length(t) for t in missing]
            order = np.argsort(lengths, kind="stable")
            device = self.char_cnn.char_embed.device
            out = torch.empty(len(missing), self.options.projection_dim, device=device)
            for start in range(0, len(order), 2048):
                chunk = order[start : start + 2048]
                ids = torch.from_numpy(np.stack([token_to_ids(missing[i]) for i in chunk])).to(device)
                lens = torch.tensor([lengths[i] for i in chunk], device=device)
                out[torch.from_numpy(chunk).to(device)] = self.char_cnn(ids, lens).float()
            return out

        if cached:
            return self.token_cache.lookup(tokens, compute)
        unique = list(dict.fromkeys(tokens))
        slot = {token: i for i, token in enumerate(unique)}
        return compute(unique)[torch.tensor([slot[t] for t in tokens], dtype=torch.long)]

    def forward(self, sentences: Sequence[Sequence[str]], keep_boundaries: bool = False) -> tuple[Tensor, Tensor]:
        """Tokenised sentences -> (layers (L+1, B, T, 2P), mask (B, T) bool).

        ``<S>``/``</S>`` are added here and removed from the output unless
        ``keep_boundaries``. In stateful mode row ``b`` continues the state of row ``b``
        of the previous call; an empty sentence leaves its row's state untouched.
        """
        rows = len(sentences)
        self._drop_stale_caches()
        grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())
        autocast = (
            torch.autocast(self.bias[0].device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        )
        with contextlib.nullcontext() if grad else torch.no_grad(), autocast:
            state = self._initial_state(rows, grad)
            layers, lengths, final = self._run(sentences, state, cached=not grad)
        if self.state == "stateful":
            self._carried = [
                (torch.cat([h.detach(), ch[:, rows:]], 1), torch.cat([c.detach(), cc[:, rows:]], 1))
                for (h, c), (ch, cc) in zip(final, self._carried, strict=False)
            ]
        layers = layers.float()
        mask = torch.arange(layers.shape[2], device=lengths.device) < lengths.unsqueeze(1)
        if keep_boundaries:
            return layers, mask
        inner = torch.clamp(lengths - 2, min=0)
        width = max(int(inner.max()) if rows else 0, 0)
        inner_mask = torch.arange(width, device=inner.device) < inner.unsqueeze(1)
        return layers[:, :, 1 : 1 + width] * inner_mask.unsqueeze(-1), inner_mask

    def _run(self, sentences, state, cached: bool = True):
        """Core: returns (layers (L+1, B, T, 2P) with boundaries, lengths (B,), final state)."""
        device = self.bias[0].device
        lengths_list = [len(s) + 2 if len(s) else 0 for s in sentences]
        rows, longest = len(sentences), max(lengths_list, default=0)
        p = self.options.projection_dim
        flat = [tok for s in sentences if s for tok in (BOS_TOKEN, *s, EOS_TOKEN)]
        lengths = torch.tensor(lengths_list, dtype=torch.long, device=device)
        layers = torch.zeros(self.options.n_layers + 1, rows, longest, 2 * p, device=device)
        if not flat:
            return layers, lengths, [(h.clone(), c.clone()) for h, c in state]
        vectors = self.encode_tokens(flat, cached)
        # Time-major, length-sorted (descending): at step t the running rows are a prefix.
        order = sorted(range(rows), key=lambda r: -lengths_list[r])
        sorted_lengths = [lengths_list[r] for r in order]
        order_t = torch.tensor(order, dtype=torch.long, device=device)
        positions = torch.arange(longest, device=device)
        sl = lengths[order_t]
        valid = positions.unsqueeze(1) < sl.unsqueeze(0)  # (T, B)
        offsets = torch.tensor(np.cumsum([0, *lengths_list])[:-1], dtype=torch.long, device=device)[order_t]
        t_idx, b_idx = valid.nonzero(as_tuple=True)
        x = vectors.new_zeros(longest, rows, p)
        x[t_idx, b_idx] = vectors[offsets[b_idx] + t_idx]
        # Backward direction reads each row reversed within its own length.
        rev = torch.where(valid, sl.unsqueeze(0) - 1 - positions.unsqueeze(1), positions.unsqueeze(1))
        x_rev = x.gather(0, rev.unsqueeze(-1).expand(-1, -1, p))
        inputs = torch.stack([x, x_rev])  # (2, T, B, P)
        active = [sum(1 for n in sorted_lengths if n > t) for t in range(longest)]
        init = [(h[:, order_t], c[:, order_t]) for h, c in state]
        out_layers = [inputs]
        final = []
        for layer in range(self.options.n_layers):
            out, h_last, c_last = self._lstm_layer(layer, out_layers[-1], active, *init[layer])
            if layer > 0 and self.options.use_skip_connections:
                out = out + out_layers[-1]
            out_layers.append(out)
            final.append((h_last, c_last))
        unsort = torch.empty_like(order_t)
        unsort[order_t] = torch.arange(rows, device=device)
        rev_b = rev.unsqueeze(-1).expand(-1, -1, p)
        mask = valid.unsqueeze(-1)
        for k, seq in enumerate(out_layers):
            fwd = seq[0] if k else x
            bwd = seq[1].gather(0, rev_b) if k else x
            both = torch.cat([fwd, bwd], -1) * mask  # (T, B, 2P)
            layers[k] = both.transpose(0, 1)[unsort]
        final = [(h[:, unsort], c[:, unsort]) for h, c in final]
        return layers, lengths, final

    def _lstm_layer(self, layer: int, inputs: Tensor, active: list[int], h0: Tensor, c0: Tensor):
        """One LSTM layer, both directions at once. ``inputs``: (2, T, B, P), rows sorted."""
        _, steps, rows, p = inputs.shape
        proj_clip = self.options.proj_clip
        w_state, w_proj = self.w_state[layer].transpose(1, 2), self.w_proj[layer].transpose(1, 2)
        scale = gate_scale(self.options.cell_dim, inputs.device)
        bias = self.bias[layer] * scale
        # The input's share of every step in one product. The bias and the gate scale are applied per step, in
        # one op (adding the bias here would first copy it into a T x B x 4C tensor). unbind: a slice's
        # backward would write a full-size zero tensor.
        per_step = torch.bmm(inputs.reshape(2, steps * rows, p), self.w_input[layer]).view(2, steps, rows, -1)
        per_step = per_step.unbind(1)
        out = inputs.new_zeros(2, steps, rows, p)
        h_last, c_last = h0.clone(), c0.clone()
        h, c = h0, c0
        for t in range(steps):
            n = active[t]
            gates = torch.baddbmm(per_step[t][:, :n], h[:, :n], w_state)
            hidden, c = lstm_cell(torch.addcmul(bias, gates, scale), c[:, :n], self.options.cell_clip)
            h = torch.bmm(hidden, w_proj)
            if proj_clip:
                h = h.clamp(-proj_clip, proj_clip)
            out[:, t, :n] = h
            following = active[t + 1] if t + 1 < steps else 0
            if following < n:  # rows whose sentence ends here keep this state
                h_last[:, following:n] = h[:, following:n]
                c_last[:, following:n] = c[:, following:n]
        return out, h_last, c_last


def gate_scale(cells: int, device: torch.device | str | None = None) -> Tensor:
    """(4C,) ones with the j block 2: pre-activations (i, f, o, j) times this are what :func:`lstm_cell` takes."""
    scale = torch.ones(4 * cells, device=device)
    scale[3 * cells :] = 2.0
    return scale


def lstm_cell(gates: Tensor, c: Tensor, cell_clip: float | None) -> tuple[Tensor, Tensor]:
    """The cell update from (i, f, o, j) pre-activations times :func:`gate_scale` -> (o * tanh(c'), c').

    tanh(x) = 2 sigmoid(2x) - 1 (to about 1e-7 in float32): one sigmoid over all the gates replaces two tanh,
    which PyTorch's CPU kernels compute several times slower than sigmoid. Half-precision gates (bf16
    autocast) are computed in float32, because in bf16 2 sigmoid(2x) - 1 would lose small values of tanh."""
    if gates.dtype in (torch.bfloat16, torch.float16):
        gates = gates.float()
    i, f, o, j = torch.sigmoid(gates).chunk(4, dim=-1)
    c = torch.addcmul(f * c, i, j, value=2.0) - i  # f c + i tanh(j)
    if cell_clip:
        c = c.clamp(-cell_clip, cell_clip)
    return torch.addcmul(-o, o, torch.sigmoid(2.0 * c), value=2.0), c

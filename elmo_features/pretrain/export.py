"""The trainable biLM <-> the official ELMo files (options JSON + HDF5, bilm-tf layout).

:func:`to_official` is the exact inverse of :meth:`elmo_features.bilm.BiLM.load_official`
(TF gate order (i, j, f, o), forget bias stored without the +1, highway ``W_carry`` /
``W_transform`` as written by bilm-tf). For the language model, whose bias is kept in the TF
convention, it is only permutations and transposes, so import followed by export reproduces the
arrays bit for bit; a :class:`~elmo_features.bilm.BiLM` (a biLM fine-tuned with a task) stores the
forget bias with :data:`~elmo_features.bilm.FORGET_BIAS` added, which the export subtracts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from elmo_features.atomic import write_text_atomic
from elmo_features.bilm import FORGET_BIAS, BiLM
from elmo_features.pretrain.lm import BidirectionalLM
from elmo_features.weights import expected_shapes, lstm_cell_name, write_weights

OPTIONS_FILE, WEIGHTS_FILE = "options.json", "weights.hdf5"


def _gate_order(cells: int) -> np.ndarray:
    """Column permutation TF (i, j, f, o) -> ours (i, f, o, j)."""
    return np.concatenate([np.arange(0, cells), np.arange(2 * cells, 4 * cells), np.arange(cells, 2 * cells)])


def to_official(model: BidirectionalLM | BiLM) -> dict[str, np.ndarray]:
    """Every dataset of the official weight file, as float32 arrays."""
    options = model.options
    cells = options.cell_dim
    added = FORGET_BIAS if isinstance(model, BiLM) else 0.0  # ours (i, f, o, j): f is columns [c, 2c)
    cnn = model.char_cnn

    def a(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().float().numpy()

    arrays: dict[str, np.ndarray] = {"char_embed": a(cnn.char_embed[1:])}
    for i, conv in enumerate(cnn.convs):
        arrays[f"CNN/W_cnn_{i}"] = a(conv.weight).transpose(2, 1, 0)[None]
        arrays[f"CNN/b_cnn_{i}"] = a(conv.bias)
    n = options.n_filters
    for i, highway in enumerate(cnn.highways):
        w, b = a(highway.weight).T, a(highway.bias)
        arrays[f"CNN_high_{i}/W_transform"], arrays[f"CNN_high_{i}/W_carry"] = w[:, :n], w[:, n:]
        arrays[f"CNN_high_{i}/b_transform"], arrays[f"CNN_high_{i}/b_carry"] = b[:n], b[n:]
    arrays["CNN_proj/W_proj"] = a(cnn.projection.weight).T
    arrays["CNN_proj/b_proj"] = a(cnn.projection.bias)
    inverse = np.argsort(_gate_order(cells))
    for layer in range(options.n_layers):
        for direction in range(2):
            name = lstm_cell_name(direction, layer)
            w = np.concatenate([a(model.w_input[layer][direction]), a(model.w_state[layer][direction]).T], axis=0)
            arrays[f"{name}/W_0"] = w[:, inverse]
            bias = a(model.bias[layer][direction, 0]).copy()
            bias[cells : 2 * cells] -= added
            arrays[f"{name}/B"] = bias[inverse]
            arrays[f"{name}/W_P_0"] = a(model.w_proj[layer][direction]).T
    shapes = expected_shapes(options)
    assert {k: v.shape for k, v in arrays.items()} == shapes, "export layout drifted from weights.expected_shapes"
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}


def load_official(model: BidirectionalLM, arrays: dict[str, np.ndarray]) -> None:
    """Official arrays into the model (the softmax is not part of the official files and is left as is)."""
    model.char_cnn.load_official(arrays)
    order = _gate_order(model.options.cell_dim)
    p = model.options.projection_dim
    t = torch.from_numpy
    with torch.no_grad():
        for layer in range(model.options.n_layers):
            for direction in range(2):
                name = lstm_cell_name(direction, layer)
                w = arrays[f"{name}/W_0"][:, order]
                model.w_input[layer][direction] = t(w[:p].copy())
                model.w_state[layer][direction] = t(w[p:].T.copy())
                model.bias[layer][direction, 0] = t(arrays[f"{name}/B"][order].copy())
                model.w_proj[layer][direction] = t(arrays[f"{name}/W_P_0"].T.copy())


def export(model: BidirectionalLM | BiLM, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``options.json`` and ``weights.hdf5`` into ``out_dir``, each atomically."""
    out_dir = Path(out_dir)
    options_file, weight_file = out_dir / OPTIONS_FILE, out_dir / WEIGHTS_FILE
    write_weights(weight_file, to_official(model))
    write_text_atomic(options_file, json.dumps(model.options.to_dict(), indent=1) + "\n")
    return options_file, weight_file

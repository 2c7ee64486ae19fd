"""The official ELMo HDF5 weight layout (bilm-tf / allennlp): read, check, write.

Arrays stay in the TensorFlow layout here; :mod:`elmo_features.bilm` converts them.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from elmo_features.atomic import atomic_path
from elmo_features.errors import ElmoError
from elmo_features.options import BiLMOptions


def lstm_cell_name(direction: int, layer: int) -> str:
    return f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"


def expected_shapes(options: BiLMOptions) -> dict[str, tuple[int, ...]]:
    """Every dataset the options imply, with its shape."""
    n, proj, cell = options.n_filters, options.projection_dim, options.cell_dim
    shapes: dict[str, tuple[int, ...]] = {"char_embed": (261, options.char_dim)}
    for i, (width, count) in enumerate(options.filters):
        shapes[f"CNN/W_cnn_{i}"] = (1, width, options.char_dim, count)
        shapes[f"CNN/b_cnn_{i}"] = (count,)
    for i in range(options.n_highway):
        for part in ("carry", "transform"):
            shapes[f"CNN_high_{i}/W_{part}"] = (n, n)
            shapes[f"CNN_high_{i}/b_{part}"] = (n,)
    shapes["CNN_proj/W_proj"] = (n, proj)
    shapes["CNN_proj/b_proj"] = (proj,)
    for direction in range(2):
        for layer in range(options.n_layers):
            name = lstm_cell_name(direction, layer)
            shapes[f"{name}/W_0"] = (2 * proj, 4 * cell)
            shapes[f"{name}/B"] = (4 * cell,)
            shapes[f"{name}/W_P_0"] = (cell, proj)
    return shapes


def read_weights(path: str | Path, options: BiLMOptions, options_name: str = "the options") -> dict[str, np.ndarray]:
    """Read and shape-check every dataset the options need (float32 arrays)."""
    path = Path(path)
    if not path.is_file():
        raise ElmoError(f"weight file not found: {path}")
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise ElmoError(f"weight file {path} is not a readable HDF5 file ({err.__class__.__name__})") from None
    arrays: dict[str, np.ndarray] = {}
    with handle:
        for name, shape in expected_shapes(options).items():
            if name not in handle:
                raise ElmoError(f"weight file {path} has no dataset {name!r}, which {options_name} require")
            dataset = handle[name]
            if not isinstance(dataset, h5py.Dataset):
                raise ElmoError(f"weight file {path}: {name!r} is a group, expected a dataset")
            if tuple(dataset.shape) != shape:
                raise ElmoError(
                    f"weight file {path}: dataset {name!r} has shape {tuple(dataset.shape)} "
                    f"but {options_name} imply {shape}"
                )
            try:
                arrays[name] = np.asarray(dataset[...], dtype=np.float32)
            except OSError as err:
                raise ElmoError(f"weight file {path}: dataset {name!r} is unreadable ({err})") from None
    return arrays


def write_weights(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write datasets in the official layout, atomically (a temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        for name, array in arrays.items():
            handle.create_dataset(name, data=np.asarray(array, dtype=np.float32))


def random_weights(options: BiLMOptions, seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights in the official layout, scaled so activations stay in range."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, shape in expected_shapes(options).items():
        if name == "char_embed":
            scale = 1.0
        elif len(shape) == 1:
            scale = 0.1
        else:  # 1/sqrt(fan-in); a convolution's fan-in is width x char dim
            scale = 1.0 / np.sqrt(shape[-2] * (shape[1] if name.startswith("CNN/W_cnn") else 1))
        arrays[name] = (rng.standard_normal(shape) * scale).astype(np.float32)
    return arrays

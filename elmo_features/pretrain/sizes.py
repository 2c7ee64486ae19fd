"""Named biLM sizes: the official ones (small / medium / original) and CPU-sized ones."""

from __future__ import annotations

import copy

from elmo_features.errors import ElmoError
from elmo_features.models import architecture

_LOCAL: dict[str, dict] = {
    # Trains on a couple of CPU cores: 512 char filters, projection 128, LSTM 512.
    "mini": {
        "char_cnn": {
            "activation": "relu",
            "embedding": {"dim": 16},
            "filters": [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256]],
            "max_characters_per_token": 50,
            "n_characters": 262,
            "n_highway": 1,
        },
        "lstm": {
            "cell_clip": 3,
            "dim": 512,
            "n_layers": 2,
            "proj_clip": 3,
            "projection_dim": 128,
            "use_skip_connections": True,
        },
    },
    # For tests: seconds per hundred steps.
    "tiny": {
        "char_cnn": {
            "activation": "relu",
            "embedding": {"dim": 4},
            "filters": [[1, 4], [2, 8], [3, 8]],
            "max_characters_per_token": 50,
            "n_characters": 262,
            "n_highway": 1,
        },
        "lstm": {
            "cell_clip": 3,
            "dim": 16,
            "n_layers": 2,
            "proj_clip": 3,
            "projection_dim": 8,
            "use_skip_connections": True,
        },
    },
}
OFFICIAL_SIZES = ("small", "medium", "original")
SIZES = ("tiny", "mini", *OFFICIAL_SIZES)


def size_options(name: str) -> dict:
    """Options JSON (as a dict) for a named size."""
    if name in _LOCAL:
        return copy.deepcopy(_LOCAL[name])
    if name in OFFICIAL_SIZES:
        return architecture(name)
    raise ElmoError(f"unknown biLM size {name!r} (valid: {', '.join(SIZES)})")

"""Fixed nested training subsets for learning curves (the ELMo paper's Section 5.4).

The sentences of a split are put in the order of one permutation drawn from ``seed``; a fraction ``f`` keeps
the first ``ceil(f * n)`` of that order. So for one seed the 1% subset lies inside the 10% one, which lies
inside the whole split, and the same seed always gives the same sentences.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from elmo_features.errors import ElmoError


def kept_groups(count: int, fraction: float, seed: int) -> list[int]:
    """The indices (sorted) of the ``ceil(fraction * count)`` groups a fraction keeps (at least one)."""
    order = np.random.default_rng(seed).permutation(count)
    return sorted(int(k) for k in order[: max(1, math.ceil(fraction * count))])


def nested_subset(split: Any, fraction: float, seed: int) -> Any:
    """``split`` (a dataclass whose list fields hold one value per example) cut to a nested ``fraction`` of
    its sentences. Examples that share a ``lines`` value (the phrases of one SST tree) stay together."""
    fields = {f.name: getattr(split, f.name) for f in dataclasses.fields(split)}
    lists = {k: v for k, v in fields.items() if isinstance(v, list)}
    sizes = {len(v) for v in lists.values()}
    if len(sizes) != 1:
        raise ElmoError(f"data.train_fraction: cannot subset a {type(split).__name__} (fields of different lengths)")
    count = sizes.pop()
    groups = lists.get("lines") or list(range(count))
    names = sorted(set(groups))
    keep = {names[k] for k in kept_groups(len(names), fraction, seed)}
    rows = [k for k, group in enumerate(groups) if group in keep]
    return dataclasses.replace(split, **{k: [v[i] for i in rows] for k, v in lists.items()})


def train_subset(split: Any, config: Any) -> Any:
    """``split`` cut to the config's ``data.train_fraction`` for its ``trainer.seed`` (all of it at 1.0): the one
    place a run, or a floor beside it, picks its training sentences."""
    fraction = config.data.train_fraction
    return split if fraction >= 1.0 else nested_subset(split, fraction, config.trainer.seed)

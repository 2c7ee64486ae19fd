"""Length-bucketed batches, shuffled per epoch from a seed, sharded across DDP ranks."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from elmo_features.distributed import world
from elmo_features.embedders import TokenBatch

BUCKET_BATCHES = 50  # a bucket holds this many batches' worth of shuffled examples, then sorted by length


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of examples of similar length. Shuffled: the order changes each epoch (``set_epoch``,
    called by Lightning) from ``seed``; not shuffled: sorted by length.

    Under DDP (``shard=True`` and a process group running) rank r takes batches r, r + W, ...; when
    shuffled (training) the first batches are repeated at the end so every rank steps the same number
    of times, as DistributedSampler does; unshuffled (validation) nothing is repeated."""

    def __init__(
        self, lengths: Sequence[int], batch_size: int, shuffle: bool, seed: int = 0, shard: bool = True
    ) -> None:
        self.lengths, self.batch_size, self.shuffle, self.seed = list(lengths), batch_size, shuffle, seed
        self.shard = shard
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _count(self) -> int:
        return -(-len(self.lengths) // self.batch_size)  # buckets hold whole batches: the same count either way

    def __len__(self) -> int:
        rank, size = world() if self.shard else (0, 1)
        if self.shuffle:
            return -(-self._count() // size)
        return len(range(rank, self._count(), size))

    def _batches(self, indices: Sequence[int]) -> list[list[int]]:
        ordered = sorted(indices, key=lambda i: self.lengths[i])
        return [ordered[k : k + self.batch_size] for k in range(0, len(ordered), self.batch_size)]

    def _all(self) -> list[list[int]]:
        if not self.shuffle:
            return self._batches(range(len(self.lengths)))
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        indices = list(range(len(self.lengths)))
        rng.shuffle(indices)
        size = self.batch_size * BUCKET_BATCHES
        batches = [b for k in range(0, len(indices), size) for b in self._batches(indices[k : k + size])]
        rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._all()
        rank, size = world() if self.shard else (0, 1)
        if size > 1 and self.shuffle and batches:
            per_rank = -(-len(batches) // size)
            batches = (batches * size)[: per_rank * size]
        yield from batches[rank::size]


class TagCollate:
    """(tokens, tags) rows -> (TokenBatch, (B, T) tag ids, ``pad`` under padding), for the token-tagging tasks;
    picklable for workers."""

    def __init__(self, labels: Sequence[str], pad: int = -100) -> None:
        self.index = {label: i for i, label in enumerate(labels)}
        self.pad = pad

    def __call__(self, rows) -> tuple[TokenBatch, torch.Tensor]:
        batch = TokenBatch.from_tokens([r[0] for r in rows])
        ids = torch.full(tuple(batch.mask.shape), self.pad, dtype=torch.long)
        for row, (_, tags) in enumerate(rows):
            ids[row, : len(tags)] = torch.tensor([self.index[t] for t in tags], dtype=torch.long)
        return batch, ids

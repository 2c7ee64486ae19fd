"""The output layer: sampled softmax for training (as TensorFlow's), full softmax for evaluation.

Sampling follows ``tf.nn.sampled_softmax_loss`` with ``log_uniform_candidate_sampler``
(``unique=True``, ``remove_accidental_hits=True``): ``num_sampled`` draws from the Zipfian
``P(k) = log((k + 2) / (k + 1)) / log(V + 1)``, duplicates removed, and every logit
corrected by ``-log(expected count)`` (the logQ correction), where the expected count of a
class after ``n`` draws is ``1 - (1 - P(k)) ** n``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from elmo_features.pretrain.corpus import IGNORE


def log_uniform_probability(ids: Tensor, vocab_size: int) -> Tensor:
    ids = ids.double()
    return (torch.log1p(1.0 / (ids + 1.0)) / math.log(vocab_size + 1.0)).float()


def sample_log_uniform(num_sampled: int, vocab_size: int, generator: torch.Generator | None = None) -> Tensor:
    """``num_sampled`` ids drawn with replacement from the log-uniform distribution."""
    u = torch.rand(num_sampled, generator=generator, dtype=torch.float64)
    ids = torch.floor(torch.exp(u * math.log(vocab_size + 1.0))).long() - 1
    return ids.clamp_(0, vocab_size - 1)


def expected_count(ids: Tensor, vocab_size: int, draws: int) -> Tensor:
    p = log_uniform_probability(ids, vocab_size).double()
    return (-torch.expm1(draws * torch.log1p(-p))).float()


class Softmax(nn.Module):
    """Weights ``(V, D)`` and bias ``(V,)``, shared by the forward and backward language models."""

    def __init__(self, vocab_size: int, dim: int, num_sampled: int = 8192) -> None:
        super().__init__()
        self.vocab_size, self.num_sampled = vocab_size, num_sampled
        self.weight = nn.Parameter(torch.randn(vocab_size, dim) / math.sqrt(dim))
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    @property
    def sampled(self) -> bool:
        return self.num_sampled < self.vocab_size

    def full_loss(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """Summed cross-entropy over the positions whose target is not IGNORE."""
        logits = F.linear(hidden, self.weight, self.bias).float()
        return F.cross_entropy(logits, targets, ignore_index=IGNORE, reduction="sum")

    def sampled_losses(self, hiddens: list[Tensor], targets: list[Tensor]) -> list[Tensor]:
        """Summed sampled-softmax losses, one per (hidden, targets) pair, all with the same candidates."""
        if not self.sampled:
            return [self.full_loss(h, t) for h, t in zip(hiddens, targets, strict=True)]
        candidates = torch.unique(sample_log_uniform(self.num_sampled, self.vocab_size))
        candidates = candidates.to(self.weight.device)
        keeps = [t != IGNORE for t in targets]
        targets = [t[k] for t, k in zip(targets, keeps, strict=True)]
        # one gather for every row needed: the backward of each gather writes a (V, D) gradient
        ids = torch.cat([*targets, candidates])
        weight, bias = self.weight[ids], self.bias[ids]
        log_q = torch.log(expected_count(ids, self.vocab_size, self.num_sampled))
        n_candidates = len(candidates)
        w_sampled, b_sampled = weight[-n_candidates:], bias[-n_candidates:] - log_q[-n_candidates:]
        losses, start = [], 0
        for hidden, keep, target in zip(hiddens, keeps, targets, strict=True):
            hidden, rows = hidden[keep], slice(start, start + len(target))
            start += len(target)
            true_logits = (hidden * weight[rows]).sum(-1) + bias[rows] - log_q[rows]
            sampled_logits = F.linear(hidden, w_sampled, b_sampled)
            hits = candidates.unsqueeze(0) == target.unsqueeze(1)  # accidental hits
            sampled_logits = sampled_logits.float().masked_fill(hits, torch.finfo(torch.float32).min)
            logits = torch.cat([true_logits.float().unsqueeze(1), sampled_logits], dim=1)
            losses.append(-F.log_softmax(logits, dim=1)[:, 0].sum())
        return losses

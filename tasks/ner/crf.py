"""Linear-chain CRF with tagging-scheme transition constraints (BIOUL, IOB2).

No maintained library constrains the transitions, so the CRF is ours: a forward
algorithm and Viterbi vectorised over batch and tags, with a loop over time only.
Tags ``0..K-1`` are the real tags; in a constraint list ``K`` is START and ``K + 1`` END.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

Scheme = Literal["BIOUL", "IOB2"]

# The score an illegal transition gets in the likelihood: finite, so an illegal gold
# sequence gives a loss of order 1e4 and never inf or NaN, yet e^-1e4 is 0 in float32,
# so illegal paths add nothing to the partition function. Viterbi uses -inf instead.
ILLEGAL = -1e4

_PREFIXES: dict[str, frozenset[str]] = {"BIOUL": frozenset("BIOUL"), "IOB2": frozenset("BIO")}


def _split(label: str, scheme: Scheme) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``, ``"O"`` -> ``("O", "")``."""
    if label == "O":
        return "O", ""
    prefix, sep, entity = label.partition("-")
    if not sep or not entity or prefix not in _PREFIXES[scheme] or prefix == "O":
        raise ValueError(f"label {label!r} is not in the {scheme} scheme")
    return prefix, entity


def _allowed(scheme: Scheme, src: str, src_type: str, dst: str, dst_type: str) -> bool:
    """Whether ``src -> dst`` may follow each other; ``START`` and ``END`` are the pseudo-tags."""
    if dst == "START" or src == "END" or (src == "START" and dst == "END"):
        return False
    if scheme == "BIOUL":
        if src in ("START", "O", "L", "U"):
            return dst in ("O", "B", "U", "END")
        return dst in ("I", "L") and src_type == dst_type  # src is B or I: the entity goes on
    if dst in ("O", "B", "END"):  # IOB2
        return True
    return src in ("B", "I") and src_type == dst_type  # dst is I


def allowed_transitions(labels: Sequence[str], scheme: Scheme = "BIOUL") -> list[tuple[int, int]]:
    """The legal ``(from, to)`` tag pairs for ``labels``, with START ``= len(labels)`` and END ``= len(labels) + 1``.

    BIOUL: after START, ``O``, ``L-x`` or ``U-x`` come ``O``, ``B-y``, ``U-y`` or END; after ``B-x``
    or ``I-x`` only ``I-x`` or ``L-x``. IOB2: ``O``, ``B-y`` and END may follow anything, ``I-x``
    only ``B-x`` or ``I-x``. As in allennlp, nothing goes to START, nothing leaves END and
    START -> END (an empty sentence) is not allowed.
    """
    if scheme not in _PREFIXES:
        raise ValueError(f"unknown scheme {scheme!r}; expected one of {sorted(_PREFIXES)}")
    n = len(labels)
    tags = [(i, *_split(label, scheme)) for i, label in enumerate(labels)]
    tags += [(n, "START", ""), (n + 1, "END", "")]
    return [(i, j) for i, src, s_type in tags for j, dst, d_type in tags if _allowed(scheme, src, s_type, dst, d_type)]


class ConditionalRandomField(nn.Module):
    """Linear-chain CRF over ``num_tags`` tags with learnable transition, start and end scores.

    ``constraints`` (e.g. from :func:`allowed_transitions`) lists the legal ``(from, to)``
    pairs, START and END included; any other pair is fixed (not learned) at ``ILLEGAL``
    in the likelihood and at ``-inf`` in Viterbi, so illegal paths have zero probability
    and are never decoded. Scores are computed in float32 (bf16 inputs are upcast).

    ``mask`` (B, T) marks the real tokens: every row is a prefix of ``True`` (rows may have
    different lengths) and the first timestep of every row must be ``True``; a ``ValueError``
    says so otherwise. Tags under padding are ignored (they may be any value, e.g. -100).
    """

    def __init__(self, num_tags: int, constraints: Sequence[tuple[int, int]] | None = None) -> None:
        super().__init__()
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))
        self.start_transitions = nn.Parameter(torch.zeros(num_tags))
        self.end_transitions = nn.Parameter(torch.zeros(num_tags))
        allowed = torch.ones(num_tags + 2, num_tags + 2, dtype=torch.bool)
        if constraints is not None:
            allowed.fill_(False)
            for i, j in constraints:
                if not (0 <= i < num_tags + 2 and 0 <= j < num_tags + 2):
                    raise ValueError(f"constraint {(i, j)} is out of range for {num_tags} tags + START, END")
                allowed[i, j] = True
        self.register_buffer("allowed", allowed, persistent=False)  # configuration, not state

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}, constrained={not bool(self.allowed.all())}"

    def _scores(self, illegal: float) -> tuple[Tensor, Tensor, Tensor]:
        """Start (K), transition (K, K) and end (K) scores in float32, illegal ones set to ``illegal``."""
        k = self.num_tags
        start = self.start_transitions.float().masked_fill(~self.allowed[k, :k], illegal)
        trans = self.transitions.float().masked_fill(~self.allowed[:k, :k], illegal)
        end = self.end_transitions.float().masked_fill(~self.allowed[:k, k + 1], illegal)
        return start, trans, end

    def _check(self, logits: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        if logits.dim() != 3 or logits.shape[-1] != self.num_tags:
            raise ValueError(f"logits must be (B, T, {self.num_tags}), got {tuple(logits.shape)}")
        if mask is None:
            mask = torch.ones(logits.shape[:2], dtype=torch.bool, device=logits.device)
        mask = mask.bool()
        if mask.shape != logits.shape[:2]:
            raise ValueError(f"mask {tuple(mask.shape)} does not match logits {tuple(logits.shape)}")
        if not bool(mask[:, 0].all()) or bool((mask[:, 1:] & ~mask[:, :-1]).any()):
            raise ValueError("every mask row must be a non-empty prefix of True (first timestep unmasked)")
        return logits.float(), mask

    def log_partition(self, logits: Tensor, mask: Tensor | None = None) -> Tensor:
        """``log Z`` per row (B,): the forward algorithm, a logsumexp over (legal) tag sequences."""
        logits, mask = self._check(logits, mask)
        start, trans, end = self._scores(ILLEGAL)
        alpha = start + logits[:, 0]  # (B, K)
        for t in range(1, logits.shape[1]):
            step = torch.logsumexp(alpha.unsqueeze(2) + trans, dim=1) + logits[:, t]
            alpha = torch.where(mask[:, t, None], step, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    def score(self, logits: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """The unnormalised score of ``tags`` per row (B,): emissions + start + transitions + end."""
        logits, mask = self._check(logits, mask)
        start, trans, end = self._scores(ILLEGAL)
        tags = tags.long().masked_fill(~mask, 0)
        emit = logits.gather(2, tags.unsqueeze(2)).squeeze(2)
        total = (emit * mask).sum(1) + start[tags[:, 0]]
        total = total + (trans[tags[:, :-1], tags[:, 1:]] * mask[:, 1:]).sum(1)
        last = tags.gather(1, mask.sum(1, keepdim=True) - 1).squeeze(1)
        return total + end[last]

    def forward(self, logits: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """Log-likelihood of ``tags`` (B, T) given ``logits`` (B, T, K), SUMMED over the batch.

        As in allennlp: the loss is ``-crf(logits, tags, mask)`` (divide by B for a mean).
        An illegal gold sequence scores about ``ILLEGAL`` per illegal transition: finite.
        """
        return (self.score(logits, tags, mask) - self.log_partition(logits, mask)).sum()

    @torch.no_grad()
    def viterbi(self, logits: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Best tag sequence (B, T) and its score (B,); positions past a row's length repeat its last tag.

        Illegal pairs score ``-inf`` here, so no logits can make them win; a row with no legal
        path at all (a label set without ``O``, say) gets score ``-inf`` and an arbitrary path.
        """
        logits, mask = self._check(logits, mask)
        start, trans, end = self._scores(float("-inf"))
        batch, steps, k = logits.shape
        keep = torch.arange(k, device=logits.device).expand(batch, k)  # backpointer of a padded step
        score = start + logits[:, 0]
        pointers = []
        for t in range(1, steps):
            best, prev = (score.unsqueeze(2) + trans).max(dim=1)
            score = torch.where(mask[:, t, None], best + logits[:, t], score)
            pointers.append(torch.where(mask[:, t, None], prev, keep))
        best_score, tag = (score + end).max(dim=1)
        path = [tag]
        for prev in reversed(pointers):
            tag = prev.gather(1, tag.unsqueeze(1)).squeeze(1)
            path.append(tag)
        return torch.stack(path[::-1], dim=1), best_score

    def viterbi_decode(self, logits: Tensor, mask: Tensor | None = None) -> list[list[int]]:
        """The best tag sequence of each row, cut to its length (no illegal transition when constrained)."""
        paths, _ = self.viterbi(logits, mask)
        lengths = mask.sum(1).tolist() if mask is not None else [paths.shape[1]] * len(paths)
        return [row[:n] for row, n in zip(paths.tolist(), lengths, strict=True)]

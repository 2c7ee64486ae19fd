"""The CRF against brute force over all (legal) tag sequences, and the BIOUL / IOB2 constraints."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from tasks.ner.crf import ILLEGAL, ConditionalRandomField, allowed_transitions

BIOUL = ["O", "B-PER", "I-PER", "L-PER", "U-PER"]
LENGTHS = [4, 2, 1]  # B = 3 rows of different lengths, T = 4


def _crf(num_tags: int, constraints=None, seed: int = 0) -> ConditionalRandomField:
    crf = ConditionalRandomField(num_tags, constraints)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in crf.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return crf


def _inputs(num_tags: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(100 + seed)
    logits = torch.randn(len(LENGTHS), max(LENGTHS), num_tags, generator=gen)
    mask = torch.arange(max(LENGTHS)) < torch.tensor(LENGTHS).unsqueeze(1)
    return logits, mask


def _legal(seq: tuple[int, ...], num_tags: int, constraints) -> bool:
    if constraints is None:
        return True
    pairs = zip((num_tags, *seq), (*seq, num_tags + 1), strict=True)
    return all(pair in set(constraints) for pair in pairs)


def _brute(crf: ConditionalRandomField, logits: torch.Tensor, length: int, constraints) -> dict[tuple[int, ...], float]:
    """Score of every legal tag sequence of one row, in float64."""
    k = crf.num_tags
    start, trans, end = (p.detach().double() for p in (crf.start_transitions, crf.transitions, crf.end_transitions))
    em = logits[:length].double()
    scores = {}
    for seq in itertools.product(range(k), repeat=length):
        if _legal(seq, k, constraints):
            s = start[seq[0]] + end[seq[-1]] + sum(em[t, y] for t, y in enumerate(seq))
            scores[seq] = float(s + sum(trans[a, b] for a, b in itertools.pairwise(seq)))
    return scores


CASES = [(3, None), (4, None), (5, allowed_transitions(BIOUL))]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("num_tags", "constraints"), CASES)
def test_log_partition_matches_brute_force(num_tags, constraints, seed):
    crf = _crf(num_tags, constraints, seed)
    logits, mask = _inputs(num_tags, seed)
    expected = [
        torch.logsumexp(torch.tensor(list(_brute(crf, logits[b], n, constraints).values())), 0)
        for b, n in enumerate(LENGTHS)
    ]
    torch.testing.assert_close(crf.log_partition(logits, mask), torch.stack(expected).float())


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("num_tags", "constraints"), CASES)
def test_log_likelihood_matches_brute_force(num_tags, constraints, seed):
    crf = _crf(num_tags, constraints, seed)
    logits, mask = _inputs(num_tags, seed)
    rng = torch.Generator().manual_seed(seed)
    tags = torch.full(mask.shape, -100)  # padding tags must be ignored
    expected = 0.0
    for b, n in enumerate(LENGTHS):
        scores = _brute(crf, logits[b], n, constraints)
        seqs = sorted(scores)
        gold = seqs[int(torch.randint(len(seqs), (1,), generator=rng))]
        tags[b, :n] = torch.tensor(gold)
        expected += scores[gold] - math.log(sum(math.exp(s) for s in scores.values()))
    assert crf(logits, tags, mask).item() == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("num_tags", "constraints"), CASES)
def test_viterbi_matches_brute_force_argmax(num_tags, constraints, seed):
    crf = _crf(num_tags, constraints, seed)
    logits, mask = _inputs(num_tags, seed)
    paths, best = crf.viterbi(logits, mask)
    decoded = crf.viterbi_decode(logits, mask)
    for b, n in enumerate(LENGTHS):
        scores = _brute(crf, logits[b], n, constraints)
        argmax = max(scores, key=scores.__getitem__)
        assert decoded[b] == list(argmax)
        assert paths[b, :n].tolist() == list(argmax)
        assert best[b].item() == pytest.approx(scores[argmax], abs=1e-4)


def test_decoding_never_takes_an_illegal_transition():
    constraints = allowed_transitions(BIOUL)
    crf = ConditionalRandomField(len(BIOUL), constraints)
    logits = torch.zeros(3, 4, len(BIOUL))
    logits[0, 0, 0] = logits[0, 1, 2] = 1e5  # "O I-PER ..."
    logits[1, :, 1] = 1e5  # "B-PER B-PER ..."
    logits[2, 0, 3] = 1e5  # "L-PER" first
    with torch.no_grad():  # learned scores of illegal pairs are ignored, however high
        crf.transitions.masked_fill_(~crf.allowed[:5, :5], 1e5)
        crf.start_transitions.masked_fill_(~crf.allowed[5, :5], 1e5)
    mask = torch.tensor([[True] * 4, [True] * 4, [True, False, False, False]])
    random = torch.randn(64, 4, len(BIOUL)) * 1e4
    for paths in (crf.viterbi_decode(logits, mask), crf.viterbi_decode(random)):
        for path in paths:
            assert _legal(tuple(path), len(BIOUL), constraints), path


def test_allowed_transitions_bioul_by_hand():
    # O=0 B=1 I=2 L=3 U=4 START=5 END=6
    expected = {
        (0, 0), (0, 1), (0, 4), (0, 6),
        (1, 2), (1, 3),
        (2, 2), (2, 3),
        (3, 0), (3, 1), (3, 4), (3, 6),
        (4, 0), (4, 1), (4, 4), (4, 6),
        (5, 0), (5, 1), (5, 4),
    }  # fmt: skip
    assert set(allowed_transitions(BIOUL)) == expected


def test_allowed_transitions_types_and_iob2_by_hand():
    # O=0 B-PER=1 I-PER=2 B-LOC=3 I-LOC=4 START=5 END=6
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    to_o_b_end = {(i, j) for i in range(5) for j in (0, 1, 3, 6)}
    expected = to_o_b_end | {(5, 0), (5, 1), (5, 3), (1, 2), (2, 2), (3, 4), (4, 4)}
    assert set(allowed_transitions(labels, scheme="IOB2")) == expected
    bioul = set(allowed_transitions(["B-PER", "L-LOC", "L-PER"]))
    assert (0, 2) in bioul and (0, 1) not in bioul
    with pytest.raises(ValueError, match="BIOUL"):
        allowed_transitions(["O", "X-PER"])
    with pytest.raises(ValueError, match="IOB2"):
        allowed_transitions(["O", "U-PER"], scheme="IOB2")


def test_gradients_reach_transitions_and_logits_but_not_illegal_pairs():
    crf = _crf(len(BIOUL), allowed_transitions(BIOUL))
    logits, mask = _inputs(len(BIOUL), 0)
    logits.requires_grad_(True)
    tags = torch.tensor([[1, 2, 3, 0], [4, 0, 0, 0], [0, 0, 0, 0]])
    (-crf(logits, tags, mask)).backward()
    for p in (crf.transitions, crf.start_transitions, crf.end_transitions):
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert logits.grad[mask].abs().sum() > 0 and logits.grad[~mask].abs().sum() == 0
    assert crf.transitions.grad[0, 2] == 0 and crf.start_transitions.grad[2] == 0  # O -> I-PER, START -> I-PER


def test_illegal_gold_sequence_is_finite_and_about_illegal():
    crf = _crf(len(BIOUL), allowed_transitions(BIOUL))
    logits, mask = _inputs(len(BIOUL), 0)
    legal = crf(logits[:1], torch.tensor([[0, 1, 3, 0]]), mask[:1])
    illegal = crf(logits[:1], torch.tensor([[0, 2, 3, 0]]), mask[:1])  # O -> I-PER
    assert torch.isfinite(illegal)
    assert illegal.item() < legal.item() + ILLEGAL / 2
    assert illegal.item() > 3 * ILLEGAL


def test_bf16_logits_are_upcast_and_sum_over_batch():
    crf = _crf(4)
    logits, mask = _inputs(4, 1)
    tags = torch.randint(4, mask.shape, generator=torch.Generator().manual_seed(0))
    low = logits.bfloat16()
    total = crf(low, tags, mask)
    assert total.dtype == torch.float32
    torch.testing.assert_close(total, crf(low.float(), tags, mask))
    rows = sum(crf(low[b : b + 1], tags[b : b + 1], mask[b : b + 1]) for b in range(len(LENGTHS)))
    torch.testing.assert_close(total, rows)
    assert crf.viterbi_decode(low, mask) == crf.viterbi_decode(low.float(), mask)


def test_mask_must_start_unmasked_and_be_a_prefix():
    crf = _crf(3)
    logits = torch.randn(2, 3, 3)
    tags = torch.zeros(2, 3, dtype=torch.long)
    for bad in ([[False, True, True], [True, True, True]], [[True, False, True], [True, True, True]]):
        with pytest.raises(ValueError, match="prefix"):
            crf(logits, tags, torch.tensor(bad))
        with pytest.raises(ValueError, match="prefix"):
            crf.viterbi_decode(logits, torch.tensor(bad))

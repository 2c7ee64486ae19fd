"""masked_lstm (fused LSTM calls on the padded batch) gives what the packed LSTM gives: outputs, gradients and the
dropout between layers, for one or two layers, one or two directions, rows of any length."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tasks.common.layers import masked_lstm, reverse_padded


def packed(lstm: nn.LSTM, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The reference: the LSTM over a packed sequence, zero at padding."""
    sequence = pack_padded_sequence(x, mask.sum(1), batch_first=True, enforce_sorted=False)
    return pad_packed_sequence(lstm(sequence)[0], batch_first=True, total_length=mask.shape[1])[0]


def batch(seed: int, rows: int = 6, steps: int = 9, dim: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, steps + 1, (rows,), generator=generator)
    lengths[0] = steps
    mask = torch.arange(steps) < lengths.unsqueeze(1)
    x = torch.randn(rows, steps, dim, generator=generator) * 3  # garbage at padding: it must not leak in
    return x, mask


def test_reverse_padded_reverses_each_row_within_its_length():
    x = torch.arange(8.0).view(2, 4, 1)
    out = reverse_padded(x, torch.tensor([4, 2]))
    assert out.squeeze(2).tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]
    assert torch.equal(reverse_padded(out, torch.tensor([4, 2])), x)


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("training", [True, False])
def test_same_outputs_and_gradients_as_the_packed_lstm(bidirectional, layers, training):
    torch.manual_seed(0)
    lstm = nn.LSTM(5, 4, num_layers=layers, bidirectional=bidirectional, batch_first=True, dropout=0.4 * (layers > 1))
    lstm.train(training)
    for seed in range(3):
        x, mask = batch(seed)
        x_ref, x_new = x.clone().requires_grad_(), x.clone().requires_grad_()
        torch.manual_seed(seed)
        expected = packed(lstm, x_ref, mask)
        expected_grads = torch.autograd.grad(expected.pow(2).sum(), [x_ref, *lstm.parameters()])
        torch.manual_seed(seed)  # the same dropout draws
        out = masked_lstm(lstm, x_new, mask)
        grads = torch.autograd.grad(out.pow(2).sum(), [x_new, *lstm.parameters()])
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
        assert torch.equal(out[~mask], torch.zeros_like(out[~mask]))
        for got, want in zip(grads, expected_grads, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
        assert torch.equal(grads[0][~mask], torch.zeros_like(grads[0][~mask]))  # padding gets no gradient


def test_padding_never_changes_a_row():
    torch.manual_seed(0)
    lstm = nn.LSTM(5, 4, bidirectional=True, batch_first=True).eval()
    x, mask = batch(1)
    noisy = torch.where(mask.unsqueeze(2), x, torch.full_like(x, 1e3))
    assert torch.equal(masked_lstm(lstm, x, mask), masked_lstm(lstm, noisy, mask))

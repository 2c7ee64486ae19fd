"""The fused projected-LSTM sequence (hand-written backward through time) against its step-by-step definition."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from elmo_features.pretrain.projected_lstm import projected_lstm


def projected_lstm_reference(
    gates_in: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_state: Tensor,
    w_proj: Tensor,
    cell_clip: float | None,
    proj_clip: float | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The same sequence step by step with plain autograd: the definition the fused one is tested against."""
    cells = c0.shape[-1]
    h, c, outputs = h0, c0, []
    for gates_t in gates_in.unbind(1):
        gates = torch.baddbmm(gates_t, h, w_state)
        i, f, o = torch.sigmoid(gates[..., : 3 * cells]).chunk(3, dim=-1)
        c = f * c + i * torch.tanh(gates[..., 3 * cells :])
        if cell_clip:
            c = c.clamp(-cell_clip, cell_clip)
        h = torch.bmm(o * torch.tanh(c), w_proj)
        if proj_clip:
            h = h.clamp(-proj_clip, proj_clip)
        outputs.append(h)
    return torch.stack(outputs, dim=1), h, c


def _inputs(dtype: torch.dtype, steps: int = 5, rows: int = 3, cells: int = 4, proj: int = 3, scale: float = 1.5):
    """Random inputs large enough that both clips (at 1.0 below) cut some values."""
    generator = torch.Generator().manual_seed(0)

    def rand(*shape):
        return (torch.randn(*shape, generator=generator, dtype=dtype) * scale).requires_grad_()

    return [rand(2, steps, rows, 4 * cells), rand(2, rows, proj), rand(2, rows, cells), rand(2, proj, 4 * cells),
            rand(2, cells, proj)]  # fmt: skip


@pytest.mark.parametrize("clips", [(1.0, 1.0), (None, None)])
def test_gradcheck_in_double(clips) -> None:
    inputs = _inputs(torch.float64)
    assert torch.autograd.gradcheck(lambda *x: projected_lstm(*x, *clips), inputs)


@pytest.mark.parametrize("clips", [(1.0, 1.0), (3.0, None), (None, None)])
def test_values_and_gradients_equal_the_step_by_step_definition(clips) -> None:
    fused, reference = _inputs(torch.float32), _inputs(torch.float32)
    out_fused, out_reference = projected_lstm(*fused, *clips), projected_lstm_reference(*reference, *clips)
    if clips[0]:
        assert (out_reference[2].abs() == clips[0]).any()  # the cell clip is active
    weights = [torch.randn_like(t) for t in out_reference]  # a loss that uses every output, final h and c too
    sum((w * o).sum() for w, o in zip(weights, out_fused, strict=True)).backward()
    sum((w * o).sum() for w, o in zip(weights, out_reference, strict=True)).backward()
    for a, b in zip(out_fused, out_reference, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    for a, b in zip(fused, reference, strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4)


def test_bf16_autocast_keeps_float32_state_and_gradients() -> None:
    inputs = _inputs(torch.float32, scale=0.5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs, h, c = projected_lstm(*inputs, 3.0, 3.0)
    assert outputs.dtype == h.dtype == c.dtype == torch.float32
    outputs.sum().backward()
    assert all(t.grad.dtype == torch.float32 and t.grad.abs().sum() > 0 for t in inputs)
    expected, *_ = projected_lstm(*[t.detach() for t in inputs], 3.0, 3.0)
    torch.testing.assert_close(outputs, expected, atol=0.05, rtol=0.05)  # bf16 products: close, not equal

"""A whole projected-LSTM sequence (both directions at once) as one autograd node, with a hand-written
backward through time.

Why by hand: autograd records about a dozen nodes per time step and computes the weight gradients as
one small matrix product per step. Here the backward loop does only what is sequential (the gradient
reaching the previous step's h and c); the weight gradients are then two large products over all
steps, which run far closer to the CPU's peak. The arithmetic is the same as the step-by-step
definition (``tests/test_projected_lstm.py`` compares both, and ``gradcheck``s this one).

Shapes: ``gates_in`` (D, T, B, 4C) is the input part of the gates with the bias (forget bias included),
in the (i, f, o, j) order; ``h0`` (D, B, P); ``c0`` (D, B, C); ``w_state`` (D, P, 4C); ``w_proj`` (D, C, P),
where D is the number of directions. Returns the outputs (D, T, B, P) and the final h and c.

Under autocast (bf16 on CPU) the matrix products take the autocast dtype, with the weights cast once
per sequence rather than once per step, and the cell state and every elementwise step stay float32.
"""

from __future__ import annotations

import torch
from torch import Tensor


def projected_lstm(
    gates_in: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_state: Tensor,
    w_proj: Tensor,
    cell_clip: float | None,
    proj_clip: float | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run the sequence; differentiable in every tensor argument."""
    device = gates_in.device.type
    wide = torch.promote_types(w_state.dtype, torch.float32)  # the elementwise and state dtype
    matmul = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else wide
    with torch.autocast(device, enabled=False):
        gates_in, h0, c0 = gates_in.to(wide), h0.to(wide), c0.to(wide)
        return _ProjectedLSTM.apply(gates_in, h0, c0, w_state, w_proj, cell_clip or 0.0, proj_clip or 0.0, matmul)


def _product(x: Tensor, w: Tensor) -> Tensor:
    """``x @ w`` in ``w``'s dtype, returned in ``x``'s."""
    return torch.bmm(x.to(w.dtype), w).to(x.dtype)


def _add_product(base: Tensor, x: Tensor, w: Tensor) -> Tensor:
    """``base + x @ w`` (one fused call when no cast is needed)."""
    if w.dtype == base.dtype:
        return torch.baddbmm(base, x, w)
    return base + torch.bmm(x.to(w.dtype), w)


class _ProjectedLSTM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gates_in, h0, c0, w_state, w_proj, cell_clip, proj_clip, matmul):
        ctx.weight_dtypes = w_state.dtype, w_proj.dtype
        w_state, w_proj = w_state.to(matmul), w_proj.to(matmul)
        directions, steps, rows, four_cells = gates_in.shape
        cells = four_cells // 4
        acts = torch.empty_like(gates_in)  # i, f, o after the sigmoid, j after the tanh
        c_all = c0.new_empty(directions, steps + 1, rows, cells)  # c_all[:, t] is the cell before step t
        tanh_c = c0.new_empty(directions, steps, rows, cells)
        outputs = h0.new_empty(directions, steps, rows, h0.shape[-1])
        c_kept = torch.ones_like(tanh_c, dtype=torch.bool) if cell_clip else None  # where the clip passed c
        h_kept = torch.ones_like(outputs, dtype=torch.bool) if proj_clip else None
        c_all[:, 0] = c0
        h, c = h0, c0
        for t in range(steps):
            gates = _add_product(gates_in[:, t], h, w_state)
            act = acts[:, t]
            torch.sigmoid(gates[..., : 3 * cells], out=act[..., : 3 * cells])
            torch.tanh(gates[..., 3 * cells :], out=act[..., 3 * cells :])
            i, f, o, j = act.chunk(4, dim=-1)
            c = torch.addcmul(f * c, i, j)
            if cell_clip:
                torch.le(c.abs(), cell_clip, out=c_kept[:, t])
                c = c.clamp_(-cell_clip, cell_clip)
            c_all[:, t + 1] = c
            torch.tanh(c, out=tanh_c[:, t])
            h = _product(o * tanh_c[:, t], w_proj)
            if proj_clip:
                torch.le(h.abs(), proj_clip, out=h_kept[:, t])
                h = h.clamp_(-proj_clip, proj_clip)
            outputs[:, t] = h
        ctx.save_for_backward(acts, c_all, tanh_c, outputs, h0, w_state, w_proj, c_kept, h_kept)
        return outputs, h, c

    @staticmethod
    def backward(ctx, grad_outputs, grad_h, grad_c):
        acts, c_all, tanh_c, outputs, h0, w_state, w_proj, c_kept, h_kept = ctx.saved_tensors
        matmul = w_state.dtype
        directions, steps, rows, four_cells = acts.shape
        cells, proj = four_cells // 4, h0.shape[-1]
        # d(activation)/d(pre-activation) of every gate at every step, in one pass
        slope = torch.empty_like(acts)
        sig = acts[..., : 3 * cells]
        torch.mul(sig, 1.0 - sig, out=slope[..., : 3 * cells])
        j_all = acts[..., 3 * cells :]
        torch.mul(j_all, j_all, out=slope[..., 3 * cells :]).neg_().add_(1.0)
        d_gates = torch.empty_like(acts)
        d_h_pre = torch.empty_like(outputs)
        w_state_t, w_proj_t = w_state.transpose(1, 2), w_proj.transpose(1, 2)
        dh = grad_h.clone() if grad_h is not None else h0.new_zeros(directions, rows, proj)
        dc = grad_c.clone() if grad_c is not None else c_all.new_zeros(directions, rows, cells)
        for t in range(steps - 1, -1, -1):
            if grad_outputs is not None:
                dh += grad_outputs[:, t]
            if h_kept is not None:
                dh *= h_kept[:, t]
            d_h_pre[:, t] = dh
            dm = _product(dh, w_proj_t)  # gradient of o * tanh(c)
            i, f, o, j = acts[:, t].chunk(4, dim=-1)
            tc = tanh_c[:, t]
            dc += dm * o * (1.0 - tc * tc)
            if c_kept is not None:
                dc *= c_kept[:, t]
            dg = d_gates[:, t]
            torch.mul(dc, j, out=dg[..., :cells])
            torch.mul(dc, c_all[:, t], out=dg[..., cells : 2 * cells])
            torch.mul(dm, tc, out=dg[..., 2 * cells : 3 * cells])
            torch.mul(dc, i, out=dg[..., 3 * cells :])
            dg *= slope[:, t]
            dc *= f
            dh = _product(dg, w_state_t)
        h_prev = torch.cat([h0.unsqueeze(1), outputs[:, :-1]], dim=1).reshape(directions, -1, proj).to(matmul)
        d_w_state = torch.bmm(h_prev.transpose(1, 2), d_gates.reshape(directions, -1, four_cells).to(matmul))
        cell_out = (acts[..., 2 * cells : 3 * cells] * tanh_c).reshape(directions, -1, cells).to(matmul)
        d_w_proj = torch.bmm(cell_out.transpose(1, 2), d_h_pre.reshape(directions, -1, proj).to(matmul))
        state_dtype, proj_dtype = ctx.weight_dtypes
        return d_gates, dh, dc, d_w_state.to(state_dtype), d_w_proj.to(proj_dtype), None, None, None

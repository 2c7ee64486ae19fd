"""ScalarMix: ``gamma * sum_k softmax(s)_k * h_k``, the task-specific layer weighting of ELMo."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class ScalarMix(nn.Module):
    """Softmax-normalised layer weights and a scale ``gamma`` (Peters et al. 2018, eq. 1).

    ``layer_norm`` normalises each layer over its unmasked elements first; ``fixed``
    freezes the weights (e.g. ``[0, 0, 1]`` with a large gap for "top layer only"), and
    ``l2`` is the paper's penalty ``l2 * ||s||^2`` on the pre-softmax weights, which
    pulls the mix towards a plain average as it grows.
    """

    def __init__(
        self,
        n_layers: int,
        initial: Sequence[float] | None = None,
        layer_norm: bool = False,
        fixed: bool = False,
        l2: float = 0.0,
    ) -> None:
        super().__init__()
        initial = list(initial) if initial is not None else [0.0] * n_layers
        if len(initial) != n_layers:
            raise ValueError(f"{len(initial)} initial weights given for {n_layers} layers")
        self.scalars = nn.Parameter(torch.tensor(initial, dtype=torch.float32), requires_grad=not fixed)
        self.gamma = nn.Parameter(torch.tensor(1.0), requires_grad=not fixed)
        self.layer_norm = layer_norm
        self.l2 = l2

    @property
    def weights(self) -> Tensor:
        """The normalised layer weights (softmax of the scalars)."""
        return torch.softmax(self.scalars, dim=0)

    def penalty(self) -> Tensor:
        return self.l2 * (self.scalars**2).sum()

    def forward(self, layers: Tensor | Sequence[Tensor], mask: Tensor | None = None) -> Tensor:
        """``layers``: (L, B, T, D) or L tensors (B, T, D); ``mask`` (B, T) needed for layer norm."""
        weights = self.weights
        out = None
        for weight, layer in zip(weights, layers, strict=False):
            if self.layer_norm:
                if mask is None:
                    raise ValueError("layer_norm needs a mask")
                layer = _masked_layer_norm(layer, mask)
            out = weight * layer if out is None else out + weight * layer
        return self.gamma * out


def _masked_layer_norm(x: Tensor, mask: Tensor) -> Tensor:
    m = mask.unsqueeze(-1).to(x.dtype)
    count = m.sum() * x.shape[-1]
    mean = (x * m).sum() / count
    var = (((x - mean) * m) ** 2).sum() / count
    return (x - mean) / torch.sqrt(var + 1e-12)

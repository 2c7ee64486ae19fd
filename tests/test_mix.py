"""ScalarMix and Elmo: weights, gamma, masked layer norm, the L2 penalty, N representations."""

from __future__ import annotations

import torch

from elmo_features.bilm import BiLM
from elmo_features.elmo import Elmo
from elmo_features.mix import ScalarMix


def test_softmax_weights_and_gamma():
    mix = ScalarMix(3, initial=[0.0, 0.0, torch.log(torch.tensor(2.0)).item()])
    layers = torch.stack([torch.full((1, 2, 4), v) for v in (1.0, 2.0, 3.0)])
    with torch.no_grad():
        mix.gamma.fill_(2.0)
    torch.testing.assert_close(mix.weights, torch.tensor([0.25, 0.25, 0.5]))
    torch.testing.assert_close(mix(layers), torch.full((1, 2, 4), 2.0 * (0.25 + 0.5 + 1.5)))


def test_masked_layer_norm_ignores_padding():
    mix = ScalarMix(1, layer_norm=True)
    x = torch.tensor([[[1.0, 3.0], [5.0, 7.0], [1000.0, -1000.0]]])
    mask = torch.tensor([[True, True, False]])
    out = mix(x.unsqueeze(0), mask)[0, :2]
    expected = (x[0, :2] - 4.0) / torch.sqrt(torch.tensor(5.0))
    torch.testing.assert_close(out, expected)


def test_l2_penalty_and_fixed_weights():
    mix = ScalarMix(3, initial=[1.0, -2.0, 0.5], l2=0.1)
    torch.testing.assert_close(mix.penalty(), torch.tensor(0.1 * (1 + 4 + 0.25)))
    mix.penalty().backward()
    torch.testing.assert_close(mix.scalars.grad, torch.tensor([0.2, -0.4, 0.1]))
    fixed = ScalarMix(3, fixed=True)
    assert not any(p.requires_grad for p in fixed.parameters())


def test_elmo_gives_independent_mixes_and_only_they_train(tiny_files):
    elmo = Elmo(BiLM.from_files(*tiny_files, state="stateless"), num_output_representations=2, dropout=0.0)
    with torch.no_grad():
        elmo.mixes[1].scalars.copy_(torch.tensor([5.0, 0.0, 0.0]))
    (first, second), mask = elmo([["a", "b"], ["c"]])
    assert first.shape == second.shape == (2, 2, 16) and mask.tolist() == [[True, True], [True, False]]
    assert not torch.allclose(first, second)
    trainable = [name for name, p in elmo.named_parameters() if p.requires_grad]
    assert sorted(trainable) == ["mixes.0.gamma", "mixes.0.scalars", "mixes.1.gamma", "mixes.1.scalars"]
    first.sum().backward()
    grad = elmo.mixes[0].scalars.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert elmo.mixes[1].scalars.grad is None  # the second mix was not used

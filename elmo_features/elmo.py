"""ELMo representations: a biLM (frozen, or fine-tuned), N scalar mixes, dropout."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import Tensor, nn

from elmo_features.bilm import DEFAULT_STATE, BiLM, StateMode
from elmo_features.mix import ScalarMix


class Elmo(nn.Module):
    """``Elmo(options, weights)(sentences)`` -> (list of N (B, T, D) tensors, mask (B, T)).

    N > 1 gives separate mixes for different places in a model ("ELMo at input and
    output"). Only the mixes train, unless the biLM is made trainable (``bilm.requires_grad_(True)``:
    fine-tuning with a task). :meth:`mix` takes biLM layers
    computed elsewhere (e.g. read from the feature cache).
    """

    def __init__(
        self,
        bilm: BiLM,
        num_output_representations: int = 1,
        dropout: float = 0.5,
        layer_norm: bool = False,
        l2: float = 0.0,
        initial_weights: Sequence[float] | None = None,
        fixed_weights: bool = False,
        keep_boundaries: bool = False,
    ) -> None:
        super().__init__()
        self.bilm = bilm
        n_layers = bilm.options.n_layers + 1
        self.mixes = nn.ModuleList(
            ScalarMix(n_layers, initial_weights, layer_norm=layer_norm, fixed=fixed_weights, l2=l2)
            for _ in range(num_output_representations)
        )
        self.dropout = nn.Dropout(dropout)
        self.keep_boundaries = keep_boundaries

    @classmethod
    def from_files(
        cls, options_file: str | Path, weight_file: str | Path, state: StateMode = DEFAULT_STATE, **kwargs
    ) -> Elmo:
        return cls(BiLM.from_files(options_file, weight_file, state=state), **kwargs)

    @property
    def output_dim(self) -> int:
        return self.bilm.options.output_dim

    def penalty(self) -> Tensor:
        return sum(mix.penalty() for mix in self.mixes)

    def mix(self, layers: Tensor, mask: Tensor) -> list[Tensor]:
        return [self.dropout(mix(layers, mask)) for mix in self.mixes]

    def forward(self, sentences: Sequence[Sequence[str]]) -> tuple[list[Tensor], Tensor]:
        layers, mask = self.bilm(sentences, keep_boundaries=self.keep_boundaries)
        return self.mix(layers, mask), mask

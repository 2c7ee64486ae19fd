"""The sentiment config: SST-5 or SST-2, root or phrase training, and the classifier head's settings.

Defaults are the BCN of Peters et al. (2018) / allennlp's ``sst_5`` configs: embedding dropout 0.5,
a 300-unit ReLU feedforward (dropout 0.25), 300-unit encoder and integrator BiLSTMs, integrator
dropout 0.1, max/mean/min/self-attentive pooling and a maxout classifier (1200, 600, pool 4,
dropout 0.2 and 0.3).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tasks.common.config import DataConfig, ModelConfig, TrainConfig


class SentimentData(DataConfig):
    """``classes: 5`` (SST-5) or ``2`` (SST-2: neutral dropped); ``phrases: true`` trains on every
    phrase of the training trees (validation and test are always scored on whole sentences)."""

    classes: Literal[5, 2] = 5
    phrases: bool = False


class SentimentModel(ModelConfig):
    """The head: ``bcn`` (biattentive classification network) or ``bilstm_attention``."""

    head: Literal["bcn", "bilstm_attention"] = "bcn"
    dropout: float = Field(0.5, ge=0.0, lt=1.0)  # on the embedder's vectors (and bilstm_attention's pooled vector)
    feedforward: int = Field(300, gt=0)  # bcn: ReLU layer before the encoder
    feedforward_dropout: float = Field(0.25, ge=0.0, lt=1.0)
    hidden: int = Field(300, gt=0)  # encoder BiLSTM, per direction
    layers: int = Field(1, gt=0)
    integrator_hidden: int = Field(300, gt=0)  # bcn: integrator BiLSTM, per direction
    integrator_dropout: float = Field(0.1, ge=0.0, lt=1.0)  # bcn: on the pooled vector
    pooling: list[Literal["max", "mean", "min", "attention"]] = Field(
        default_factory=lambda: ["max", "mean", "min", "attention"], min_length=1
    )
    classifier: Literal["maxout", "mlp"] = "maxout"
    classifier_hidden: list[int] = Field(default_factory=lambda: [1200, 600])
    classifier_dropout: list[float] = Field(default_factory=lambda: [0.2, 0.3])
    maxout_pool: int = Field(4, gt=0)
    elmo_output: bool = False  # concatenate ELMo's second scalar mix (embedder outputs: 2) to the last BiLSTM

    @model_validator(mode="after")
    def _classifier_layers(self) -> SentimentModel:
        if len(self.classifier_dropout) != len(self.classifier_hidden):
            raise ValueError(
                f"classifier_dropout needs one value per classifier_hidden layer ({len(self.classifier_hidden)})"
            )
        if any(d <= 0 for d in self.classifier_hidden) or any(not 0 <= p < 1 for p in self.classifier_dropout):
            raise ValueError("classifier_hidden sizes must be > 0 and classifier_dropout values in [0, 1)")
        return self


class Config(TrainConfig):
    data: SentimentData
    model: SentimentModel = SentimentModel()

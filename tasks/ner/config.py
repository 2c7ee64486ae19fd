"""The NER config: CoNLL column layout and tag scheme, and the BiLSTM-CRF head's sizes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tasks.common.config import DataConfig, ModelConfig, TrainConfig


class NerData(DataConfig):
    """Columns and scheme of CoNLL files (CoNLL-2003: 4 space-separated columns, IOB2)."""

    token_column: int = 0
    tag_column: int = -1
    separator: str | None = None
    scheme: Literal["IOB1", "IOB2", "BIOUL"] = "IOB2"


class NerModel(ModelConfig):
    """The head: a BiLSTM-CRF over the embedder's vectors (Lample et al. 2016; Peters et al. 2018)."""

    hidden: int = Field(200, gt=0)
    layers: int = Field(2, gt=0)
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    char_cnn: bool = True


class Config(TrainConfig):
    data: NerData
    model: NerModel = NerModel()

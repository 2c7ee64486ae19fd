"""The POS config: CoNLL columns (token, tag) and the softmax head's settings."""

from __future__ import annotations

from pydantic import Field

from tasks.common.config import DataConfig, ModelConfig, TrainConfig


class PosData(DataConfig):
    """Column files, one token per line, a blank line between sentences (CoNLL-2003: ``token POS chunk
    NER``, so the tag is column 1). ``separator``: null splits on any whitespace."""

    token_column: int = 0
    tag_column: int = 1
    separator: str | None = None


class PosModel(ModelConfig):
    """Embedder -> dropout -> [BiLSTM of ``hidden`` per direction, when > 0] -> linear -> softmax per token."""

    hidden: int = Field(0, ge=0)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)


class Config(TrainConfig):
    data: PosData
    model: PosModel = PosModel()

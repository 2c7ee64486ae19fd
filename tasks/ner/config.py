"""The NER config: CoNLL column layout and tag scheme, and the BiLSTM-CRF head's sizes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tasks.common.config import DataConfig, ModelConfig, TrainConfig

SEPARATOR_NAMES = {"tab": "\t", "\\t": "\t", "space": " "}  # "\\t": the two characters --set gives for \t


def parse_separator(value: str | None) -> str | None:
    """A column separator: None (any whitespace), a string, or a name (``tab``, ``space``, ``\\t``)."""
    if value is None:
        return None
    if value == "":
        raise ValueError("an empty separator cannot split columns; use null (any whitespace), tab or a character")
    return SEPARATOR_NAMES.get(value, value)


class NerData(DataConfig):
    """Columns and scheme of CoNLL files (CoNLL-2003: 4 space-separated columns, IOB2). ``strip_prefix``
    removes a per-token prefix such as a language code (``en:Paris`` -> ``Paris``)."""

    token_column: int = 0
    tag_column: int = -1
    separator: str | None = None
    scheme: Literal["IOB1", "IOB2", "BIOUL"] = "IOB2"
    strip_prefix: str | None = None

    @field_validator("separator")
    @classmethod
    def _separator(cls, value: str | None) -> str | None:
        return parse_separator(value)


class NerModel(ModelConfig):
    """The head: a BiLSTM-CRF over the embedder's vectors (Lample et al. 2016; Peters et al. 2018)."""

    hidden: int = Field(200, gt=0)
    layers: int = Field(2, gt=0)
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    char_cnn: bool = True


class Config(TrainConfig):
    data: NerData
    model: NerModel = NerModel()

"""The QA config: SQuAD v1.1 splits with training truncation and subset, and the BiDAF head's sizes.

Defaults are BiDAF's (Seo et al. 2017): hidden 100 per direction, dropout 0.2, char embedding 8
with 100 filters of width 5, answers of at most 30 tokens at decoding (allennlp's bidaf default).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tasks.common.config import DataConfig, ModelConfig, TrainConfig


class QaData(DataConfig):
    """``max_passage_tokens``: training passages are cut there (questions whose answer ends past the
    cut are skipped, counted; evaluation always sees whole passages). ``train_subset``: the first N
    training questions (null: all). ``max_answer_tokens``: the longest span decoding may return."""

    max_passage_tokens: int | None = Field(400, gt=0)
    train_subset: int | None = Field(None, gt=0)
    max_answer_tokens: int | None = Field(30, gt=0)


class QaModel(ModelConfig):
    """BiDAF; ``elmo`` says where ELMo goes: ``input`` (the embedder's vectors), ``output`` (the
    concat embedder's ELMo part after the contextual BiLSTM only) or ``both`` (ELMo block with
    ``outputs: 2``, the second mix after the contextual BiLSTM)."""

    hidden: int = Field(100, gt=0)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    elmo: Literal["input", "output", "both"] = "input"
    char_dim: int = Field(8, gt=0)
    char_filters: int = Field(100, gt=0)
    char_width: int = Field(5, gt=0)
    max_chars: int = Field(20, gt=0)


class Config(TrainConfig):
    data: QaData
    model: QaModel = QaModel()

"""The POS head: a softmax over each token's vectors (optionally after a BiLSTM)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from elmo_features.embedders import TokenBatch, TokenEmbedder
from tasks.common.layers import BiLstm
from tasks.pos.config import PosModel

PAD_TAG = -100  # cross-entropy's ignore_index: no loss under padding


class PosTagger(nn.Module):
    """Per-token classifier into ``labels``, sizes from the config's ``model`` section."""

    def __init__(self, embedder: TokenEmbedder, labels: Sequence[str], config: PosModel | None = None) -> None:
        super().__init__()
        config = config or PosModel()
        self.embedder = embedder
        self.labels = list(labels)
        self.dropout = nn.Dropout(config.dropout)
        self.encoder = BiLstm(embedder.output_dim, config.hidden) if config.hidden else None
        width = self.encoder.output_dim if self.encoder is not None else embedder.output_dim
        self.projection = nn.Linear(width, len(self.labels))

    def forward(self, batch: TokenBatch, tags: Tensor | None = None) -> dict[str, Tensor]:
        """``{"logits" (B, T, K), "mask" (B, T)}``, plus ``"loss"`` (mean token cross-entropy) given tags."""
        vectors = self.embedder(batch)
        mask = batch.mask.to(vectors.device).bool()
        x = self.dropout(vectors)
        if self.encoder is not None:
            x = self.dropout(self.encoder(x, mask))
        logits = self.projection(x)
        output = {"logits": logits, "mask": mask}
        if tags is not None:
            output["loss"] = F.cross_entropy(
                logits.float().flatten(0, 1), tags.to(logits.device).flatten(), ignore_index=PAD_TAG
            )
        return output

    @torch.no_grad()
    def decode(self, batch: TokenBatch) -> list[list[str]]:
        """The most probable tag of each token, per sentence (padding dropped)."""
        output = self.forward(batch)
        best = output["logits"].argmax(-1).tolist()
        return [[self.labels[i] for i in row[:n]] for row, n in zip(best, output["mask"].sum(1).tolist(), strict=True)]

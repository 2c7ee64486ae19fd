"""The NER head: embedder -> dropout -> BiLSTM -> dropout -> linear -> BIOUL-constrained CRF.

As in the paper's tagger: a 2-layer BiLSTM (hidden 200 per direction) over the token vectors
of any :class:`~elmo_features.embedders.TokenEmbedder`, optionally concatenated with char-CNN
word features (the baseline's character representation), and a linear-chain CRF whose illegal
BIOUL transitions have zero probability in training and are never decoded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from elmo_features.embedders import TokenBatch, TokenEmbedder
from tasks.common.layers import CharFeaturesConfig, CharWordFeatures, masked_lstm
from tasks.ner.config import NerModel
from tasks.ner.crf import ConditionalRandomField, allowed_transitions

PAD_TAG = -100  # tag id under padding (any value works there: the mask decides)


def label_vocabulary(datasets: Iterable) -> list[str]:
    """Sorted BIOUL tags seen in the ``tags`` column of ``datasets`` (the training data), ``"O"`` first."""
    seen = {tag for data in datasets for tags in data["tags"] for tag in tags}
    return ["O", *sorted(seen - {"O"})]


class NerTagger(nn.Module):
    """BiLSTM-CRF tagger over BIOUL ``labels``; ``chars`` is the char vocabulary of the char CNN
    (``config.char_cnn``); sizes from the config's ``model`` section."""

    def __init__(
        self, embedder: TokenEmbedder, labels: Sequence[str], chars: Sequence[str] = (), config: NerModel | None = None
    ) -> None:
        super().__init__()
        config = config or NerModel()
        hidden, layers, dropout = config.hidden, config.layers, config.dropout
        self.embedder = embedder
        self.labels = list(labels)
        self.label_index = {label: i for i, label in enumerate(self.labels)}
        self.char_features = CharWordFeatures(chars, CharFeaturesConfig()) if config.char_cnn else None
        input_dim = embedder.output_dim + (self.char_features.output_dim if self.char_features is not None else 0)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            input_dim,
            hidden,
            num_layers=layers,
            bidirectional=True,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.projection = nn.Linear(2 * hidden, len(self.labels))
        self.crf = ConditionalRandomField(len(self.labels), allowed_transitions(self.labels, "BIOUL"))

    def tag_ids(self, tags: Sequence[Sequence[str]], length: int | None = None) -> Tensor:
        """(B, T) label ids of BIOUL tag sequences, ``PAD_TAG`` under padding; unknown tags raise KeyError."""
        length = max((len(t) for t in tags), default=0) if length is None else length
        out = torch.full((len(tags), length), PAD_TAG, dtype=torch.long)
        for row, sequence in enumerate(tags):
            out[row, : len(sequence)] = torch.tensor([self.label_index[t] for t in sequence], dtype=torch.long)
        return out

    def forward(self, batch: TokenBatch, tags: Tensor | None = None) -> dict[str, Tensor]:
        """``{"logits" (B, T, K), "mask" (B, T)}``, plus ``"loss"`` (mean NLL) given tags."""
        vectors = self.embedder(batch)
        if self.char_features is not None:
            vectors = torch.cat([vectors, self.char_features(batch).to(vectors.dtype)], dim=-1)
        mask = batch.mask.to(vectors.device).bool()
        if bool((~mask.any(1)).any()):
            raise ValueError("every sentence in the batch needs at least one token")
        encoded = masked_lstm(self.lstm, self.dropout(vectors), mask)
        logits = self.projection(self.dropout(encoded))
        output = {"logits": logits, "mask": mask}
        if tags is not None:
            likelihood = self.crf(logits, tags.to(logits.device), mask)
            output["loss"] = -likelihood / mask.shape[0]  # the training step adds the embedder's penalty
        return output

    @torch.no_grad()
    def decode(self, batch: TokenBatch) -> list[list[str]]:
        """The Viterbi tag sequence of each sentence, as labels (never an illegal BIOUL transition)."""
        output = self.forward(batch)
        paths = self.crf.viterbi_decode(output["logits"], output["mask"])
        return [[self.labels[i] for i in path] for path in paths]

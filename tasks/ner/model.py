"""The NER head: embedder -> dropout -> BiLSTM -> dropout -> linear -> BIOUL-constrained CRF.

As in the paper's tagger: a 2-layer BiLSTM (hidden 200 per direction) over the token vectors
of any :class:`~elmo_features.embedders.TokenEmbedder`, optionally concatenated with char-CNN
word features (the baseline's character representation), and a linear-chain CRF whose illegal
BIOUL transitions have zero probability in training and are never decoded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from elmo_features.embedders import TokenBatch, TokenEmbedder
from tasks.ner.crf import ConditionalRandomField, allowed_transitions

PAD_TAG = -100  # tag id under padding (any value works there: the mask decides)


class CharFeaturesConfig(BaseModel):
    """Char-CNN word features: char embedding, ``filters`` convolutions of ``width``, max-pool."""

    model_config = ConfigDict(extra="forbid")

    dim: int = Field(16, ge=1)
    filters: int = Field(128, ge=1)
    width: int = Field(3, ge=1)
    max_chars: int = Field(20, ge=1)


def char_vocabulary(sentences: Iterable[Sequence[str]]) -> list[str]:
    """The sorted characters of the (training) tokens."""
    return sorted({char for sentence in sentences for token in sentence for char in token})


def label_vocabulary(datasets: Iterable) -> list[str]:
    """Sorted BIOUL tags seen in the ``tags`` column of ``datasets`` (the training data), ``"O"`` first."""
    seen = {tag for data in datasets for tags in data["tags"] for tag in tags}
    return ["O", *sorted(seen - {"O"})]


class CharWordFeatures(nn.Module):
    """(batch) -> (B, T, filters): a max-pooled char CNN per token, zero at padding tokens.

    Char ids: 0 is padding, 1 an unknown character, ``2 + i`` the i-th of ``chars``. Tokens
    are cut to ``max_chars``; the max-pool only sees a token's own characters, so a token's
    features never depend on the other tokens of the batch.
    """

    def __init__(self, chars: Sequence[str], config: CharFeaturesConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or CharFeaturesConfig()
        self.chars = list(chars)
        self.index = {char: i + 2 for i, char in enumerate(self.chars)}
        self.embedding = nn.Embedding(len(self.chars) + 2, config.dim, padding_idx=0)
        self.conv = nn.Conv1d(config.dim, config.filters, config.width, padding=config.width // 2)
        self.output_dim = config.filters

    def ids(self, batch: TokenBatch) -> tuple[Tensor, Tensor]:
        """Char ids (B, T, C) and token lengths in characters (B, T), 0 for padding tokens."""
        steps = batch.mask.shape[1]
        cut = [[token[: self.config.max_chars] for token in sentence] for sentence in batch.tokens]
        width = max([len(token) for sentence in cut for token in sentence] + [1])
        ids = torch.zeros(len(cut), steps, width, dtype=torch.long)
        lengths = torch.zeros(len(cut), steps, dtype=torch.long)
        for row, sentence in enumerate(cut):
            for col, token in enumerate(sentence):
                ids[row, col, : len(token)] = torch.tensor([self.index.get(c, 1) for c in token], dtype=torch.long)
                lengths[row, col] = len(token)
        return ids, lengths

    def forward(self, batch: TokenBatch) -> Tensor:
        device = self.embedding.weight.device
        ids, lengths = (t.to(device) for t in self.ids(batch))
        batch_size, steps, width = ids.shape
        chars = self.embedding(ids.view(-1, width)).transpose(1, 2)  # (B*T, dim, C)
        conv = self.conv(chars)  # (B*T, filters, C')
        valid = torch.arange(conv.shape[2], device=device) < lengths.view(-1, 1).clamp(min=1)
        pooled = conv.masked_fill(~valid.unsqueeze(1), float("-inf")).amax(dim=2)
        features = torch.relu(pooled).view(batch_size, steps, -1)
        return features * (lengths > 0).unsqueeze(2)


class NerTagger(nn.Module):
    """BiLSTM-CRF tagger over BIOUL ``labels``; ``chars`` is the char vocabulary when ``char_cnn`` is set."""

    def __init__(
        self,
        embedder: TokenEmbedder,
        labels: Sequence[str],
        hidden: int = 200,
        layers: int = 2,
        dropout: float = 0.5,
        char_cnn: CharFeaturesConfig | None = None,
        chars: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.embedder = embedder
        self.labels = list(labels)
        self.label_index = {label: i for i, label in enumerate(self.labels)}
        self.char_features = CharWordFeatures(chars, char_cnn) if char_cnn is not None else None
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
        """``{"logits" (B, T, K), "mask" (B, T)}``, plus ``"loss"`` (mean NLL + embedder penalty) given tags."""
        vectors = self.embedder(batch)
        if self.char_features is not None:
            vectors = torch.cat([vectors, self.char_features(batch).to(vectors.dtype)], dim=-1)
        mask = batch.mask.to(vectors.device).bool()
        lengths = batch.mask.sum(1).cpu()
        if bool((lengths == 0).any()):
            raise ValueError("every sentence in the batch needs at least one token")
        packed = pack_padded_sequence(self.dropout(vectors), lengths, batch_first=True, enforce_sorted=False)
        encoded, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=mask.shape[1])
        logits = self.projection(self.dropout(encoded))
        output = {"logits": logits, "mask": mask}
        if tags is not None:
            likelihood = self.crf(logits, tags.to(logits.device), mask)
            output["loss"] = -likelihood / mask.shape[0] + self.embedder.penalty().to(logits.device)
        return output

    @torch.no_grad()
    def decode(self, batch: TokenBatch) -> list[list[str]]:
        """The Viterbi tag sequence of each sentence, as labels (never an illegal BIOUL transition)."""
        output = self.forward(batch)
        paths = self.crf.viterbi_decode(output["logits"], output["mask"])
        return [[self.labels[i] for i in path] for path in paths]

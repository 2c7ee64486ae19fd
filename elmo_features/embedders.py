"""The one seam between features and task heads: a ``TokenEmbedder``.

A head calls ``embedder(batch)`` on a :class:`TokenBatch` and gets (B, T, output_dim);
it never knows whether the vectors are static, contextual, or both concatenated, so
"static vs ELMo" is a config change. Embedders are built from a config block::

    {type: glove, path: vectors.txt, trainable: false}
    {type: elmo, options: o.json, weights: w.hdf5, dropout: 0.5, layer_norm: false, l2: 0.001, cache: true}
    {type: elmo, ..., trainable: true, lr_scale: 0.1, frozen_epochs: 1}   # fine-tune the biLM (no cache)
    {type: concat, parts: [{type: glove, ...}, {type: elmo, ...}]}
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union, get_args

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from torch import Tensor, nn

from elmo_features.errors import ElmoError

log = logging.getLogger(__name__)
PAD, UNKNOWN = "@@PADDING@@", "@@UNKNOWN@@"
LOW_COVERAGE = 0.5  # below this share of the training words found in the vectors file: a warning


@dataclass
class FineTuned:
    """A pretrained module that trains with the head: its learning rate is ``lr_scale`` times the head's,
    and it stays frozen for the first ``frozen_epochs`` epochs."""

    module: nn.Module
    lr_scale: float
    frozen_epochs: int
    note: str  # the one line a run prints about it at the start


@dataclass
class TokenBatch:
    """Tokenised sentences and their (B, T) mask."""

    tokens: list[list[str]]
    mask: Tensor

    @classmethod
    def from_tokens(cls, tokens: Sequence[Sequence[str]]) -> TokenBatch:
        tokens = [list(s) for s in tokens]
        longest = max((len(s) for s in tokens), default=0)
        mask = torch.arange(longest) < torch.tensor([len(s) for s in tokens]).unsqueeze(1)
        return cls(tokens, mask)


class TokenEmbedder(nn.Module):
    """(batch) -> (B, T, output_dim), zero at padding.

    Each kind registers itself under its config ``type`` names (:func:`register`) and owns its config
    class, how it is built from a config (:meth:`from_config`), how a finished run rebuilds it from its
    weights (:meth:`for_run`) and the feature caches it needs filled (:meth:`feature_caches`)."""

    output_dim: int
    extra_dims: tuple[int, ...] = ()  # sizes of the extra outputs of :meth:`with_extras`
    contextual: bool = False  # whether a token's vector depends on its sentence (ELMo)
    Config: ClassVar[type[BaseModel]]

    @classmethod
    def from_config(cls, config: Any, vocabulary: list[str]) -> TokenEmbedder:
        """The embedder of a validated config block for the words of ``vocabulary``."""
        raise NotImplementedError

    @classmethod
    def for_run(cls, config: Any, words: list[str], state: dict[str, Tensor], sources: Iterator) -> TokenEmbedder:
        """The embedder of a finished run, before its weights are loaded (``state``: this embedder's own
        entries, keys as ``embedder.*``; ``sources``: the run's vector sources in module order)."""
        return cls.from_config(config, words)

    def feature_caches(self) -> list:
        """The feature caches to fill with the data's sentences before training."""
        return []

    def split_contextual(self) -> tuple[list[TokenEmbedder], list[TokenEmbedder]]:
        """(context-free parts, contextual parts), in order (a concatenation gives its parts)."""
        return ([], [self]) if self.contextual else ([self], [])

    def forward(self, batch: TokenBatch) -> Tensor:
        raise NotImplementedError

    def with_extras(self, batch: TokenBatch) -> tuple[Tensor, list[Tensor]]:
        """The input vectors and the extra (B, T, D) outputs a head may use elsewhere: the second and
        later scalar mixes of ELMo (``outputs: 2`` puts ELMo at a head's output too); one biLM pass."""
        return self(batch), []

    def penalty(self) -> Tensor:
        """Regularisation to add to the loss (the scalar-mix L2 for ELMo); the training step adds it."""
        return torch.zeros(())

    def fine_tuned(self) -> list[FineTuned]:
        """The pretrained modules inside that train with the head (a trainable biLM); none by default."""
        return []


EMBEDDERS: dict[str, type[TokenEmbedder]] = {}
"""The one registry of embedder kinds: config ``type`` name -> class (filled by :func:`register`)."""


def register(cls: type[TokenEmbedder]) -> type[TokenEmbedder]:
    """Class decorator: file an embedder under each ``type`` name its ``Config`` allows."""
    for name in get_args(cls.Config.model_fields["type"].annotation):
        EMBEDDERS[name] = cls
    return cls


def _union(classes: Iterable[type[TokenEmbedder]]) -> Any:
    configs = tuple(dict.fromkeys(c.Config for c in classes))
    return Annotated[Union[configs], Field(discriminator="type")]  # noqa: UP007 (a runtime tuple of classes)


# ---------------------------------------------------------------------------- config
class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StaticConfig(_Block):
    type: Literal["glove", "word2vec", "fasttext", "random"]
    path: str | list[str] | None = None  # a list: the first file that exists (a fallback when a big one is absent)
    format: str = "auto"
    dim: int | None = None
    trainable: bool = False
    seed: int = 0
    allow_no_match: bool = False  # train even when no word of the data is in the vectors file


class ElmoConfig(_Block):
    type: Literal["elmo"]
    options: str | None = None
    weights: str | None = None
    model: str | None = None
    state: Literal["stateless", "warm"] = "warm"
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    layer_norm: bool = False
    l2: float = Field(0.0, ge=0.0)
    outputs: int = Field(1, ge=1)
    cache: bool = True  # off when trainable: a cache of a changing biLM would be stale
    cache_dir: str | None = None
    trainable: bool = False  # fine-tune the biLM's weights with the head
    lr_scale: float = Field(0.1, gt=0.0)  # the biLM's learning rate, as a share of the head's (trainable only)
    frozen_epochs: int = Field(0, ge=0)  # the biLM stays frozen for the first N epochs (trainable only)

    @model_validator(mode="after")
    def _no_cache_when_trainable(self) -> ElmoConfig:
        if self.trainable and self.cache:
            if "cache" in self.model_fields_set:
                raise ValueError(
                    "trainable: true cannot use cache: true (the feature cache holds a frozen biLM's layers); "
                    "leave cache out or set it to false"
                )
            self.cache = False
        return self


@register
class StaticEmbedder(TokenEmbedder):
    """A word -> vector table. Row 0 is padding (zero), row 1 the shared OOV vector.

    ``source`` (``{"path", "format", "fingerprint"}`` of the vectors file the table came from) lets
    :meth:`add_words` give words met after training their pretrained vectors; ``coverage`` is what
    :func:`~elmo_features.static.coverage` said of the training words (None without a vectors file)."""

    def __init__(
        self, vocabulary: Sequence[str], matrix: np.ndarray, trainable: bool = False, source: dict | None = None
    ) -> None:
        super().__init__()
        self.index = {word: i for i, word in enumerate(vocabulary)}
        self.embedding = nn.Embedding.from_pretrained(torch.from_numpy(matrix).float(), freeze=not trainable)
        self.output_dim = matrix.shape[1]
        self.source = source
        self.coverage: dict | None = None

    Config = StaticConfig

    @classmethod
    def from_config(cls, config: StaticConfig, vocabulary: list[str]) -> StaticEmbedder:
        from elmo_features.static import build_matrix, coverage, fingerprint, load_vectors

        if config.type == "random":
            if not config.dim:
                raise ElmoError("embedder: type 'random' needs 'dim'")
            vectors = None
        else:
            if not config.path:
                raise ElmoError(f"embedder: type {config.type!r} needs 'path'")
            path = _first_existing(config.path)
            vectors = load_vectors(path, vocabulary=vocabulary, format=config.format)
        words = [PAD, UNKNOWN, *vocabulary]
        matrix, _ = build_matrix(vectors, words, config.dim or vectors.dim, seed=config.seed)
        if vectors is None:
            return cls(words, matrix, trainable=True)
        source = {"path": str(Path(path).expanduser().resolve()), "format": config.format}
        embedder = cls(words, matrix, config.trainable, {**source, "fingerprint": fingerprint(path)})
        embedder.coverage = {"path": path, **coverage(vectors, vocabulary)}
        _check_coverage(embedder.coverage, config.allow_no_match)
        return embedder

    @classmethod
    def for_run(cls, config: StaticConfig, words: list[str], state: dict[str, Tensor], sources: Iterator):
        """The table's (trained) rows come from the run's weights: the vectors file need not be there
        any more (with it, :meth:`add_words` can give new words their vectors)."""
        matrix = np.zeros(tuple(state["embedder.embedding.weight"].shape), dtype=np.float32)
        return cls([PAD, UNKNOWN, *words], matrix, trainable=True, source=next(sources, None))

    def add_words(self, words: Iterable[str]) -> int:
        """Append the pretrained vectors of the ``words`` this table does not know (exactly, or lower-cased)
        from ``source``; how many were found. A vectors file that is gone or changed since training is a
        warning, and those words keep the unknown row."""
        from elmo_features.static import fingerprint, load_vectors

        new = sorted({w for w in words if w not in self.index and w.lower() not in self.index})
        if not new or self.source is None:
            return 0
        path = self.source["path"]
        try:
            same = fingerprint(path) == self.source["fingerprint"]
        except (ElmoError, OSError):
            same = False
        if not same:
            log.warning("%s is gone or changed since training: %d new words get the unknown vector", path, len(new))
            return 0
        vectors = load_vectors(path, vocabulary=new, format=self.source["format"])
        found = [(w, vectors.vectors[row]) for w in new if (row := vectors.lookup(w)) is not None]
        if found:
            weight = self.embedding.weight
            rows = torch.from_numpy(np.stack([v for _, v in found])).to(weight)
            self.embedding = nn.Embedding.from_pretrained(torch.cat([weight.detach(), rows]), freeze=True)
            for i, (word, _) in enumerate(found, start=len(self.index)):
                self.index[word] = i
        return len(found)

    def ids(self, tokens: list[list[str]], length: int) -> Tensor:
        out = torch.zeros(len(tokens), length, dtype=torch.long)
        for row, sentence in enumerate(tokens):
            out[row, : len(sentence)] = torch.tensor([self._id(w) for w in sentence], dtype=torch.long)
        return out

    def _id(self, word: str) -> int:
        found = self.index.get(word)
        if found is None:
            found = self.index.get(word.lower(), 1)
        return found

    def forward(self, batch: TokenBatch) -> Tensor:
        ids = self.ids(batch.tokens, batch.mask.shape[1]).to(self.embedding.weight.device)
        return self.embedding(ids)


@register
class ElmoEmbedder(TokenEmbedder):
    """A biLM (frozen: live, or read from the feature cache; or fine-tuned with the head) + learned scalar mixes."""

    Config = ElmoConfig
    contextual = True

    def __init__(self, elmo, cache=None, fine_tune: FineTuned | None = None) -> None:
        super().__init__()
        self.elmo = elmo
        self.cache = cache
        self.fine_tune = fine_tune
        self.output_dim = elmo.output_dim
        self.extra_dims = (elmo.output_dim,) * (len(elmo.mixes) - 1)

    @classmethod
    def from_config(cls, config: ElmoConfig, vocabulary: list[str]) -> ElmoEmbedder:
        from elmo_features.bilm import BiLM
        from elmo_features.elmo import Elmo
        from elmo_features.models import resolve_files

        options_file, weight_file = resolve_files(config.model, config.options, config.weights)
        bilm = BiLM.from_files(options_file, weight_file, state=config.state)
        elmo = Elmo(bilm, config.outputs, dropout=config.dropout, layer_norm=config.layer_norm, l2=config.l2)
        cache = fine_tune = None
        if config.trainable:
            bilm.requires_grad_(True)
            frozen = f", frozen for the first {config.frozen_epochs} epoch(s)" if config.frozen_epochs else ""
            note = (
                f"embedder: fine-tuning the biLM {options_file} (learning rate x{config.lr_scale:g}{frozen}); "
                "no feature cache: the biLM runs in every epoch"
            )
            fine_tune = FineTuned(bilm, config.lr_scale, config.frozen_epochs, note)
        elif config.cache:
            from elmo_features.feature_cache import FeatureCache

            cache = FeatureCache(bilm, Path(config.cache_dir) if config.cache_dir else None)
        return cls(elmo, cache, fine_tune)

    def feature_caches(self) -> list:
        return [self.cache] if self.cache is not None else []

    def fine_tuned(self) -> list[FineTuned]:
        return [self.fine_tune] if self.fine_tune is not None else []

    def layers(self, batch: TokenBatch) -> tuple[Tensor, Tensor]:
        source = self.cache.get if self.cache is not None else self.elmo.bilm
        layers, mask = source(batch.tokens)
        device = self.elmo.mixes[0].scalars.device
        return layers.to(device), mask.to(device)

    def representations(self, batch: TokenBatch) -> list[Tensor]:
        """One tensor per scalar mix (e.g. ELMo at the input and at the output of a head)."""
        return self.elmo.mix(*self.layers(batch))

    def forward(self, batch: TokenBatch) -> Tensor:
        return self.representations(batch)[0]

    def with_extras(self, batch: TokenBatch) -> tuple[Tensor, list[Tensor]]:
        first, *extras = self.representations(batch)
        return first, extras

    def penalty(self) -> Tensor:
        return self.elmo.penalty()


class ConcatConfig(_Block):
    type: Literal["concat"]
    parts: list[_union(EMBEDDERS.values())]  # the kinds registered so far: a concatenation does not nest


@register
class ConcatEmbedder(TokenEmbedder):
    """``[part_1; part_2; ...]`` along the feature axis (the paper feeds [GloVe; ELMo])."""

    Config = ConcatConfig

    def __init__(self, parts: Sequence[TokenEmbedder]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.output_dim = sum(p.output_dim for p in parts)
        self.extra_dims = tuple(d for p in parts for d in p.extra_dims)

    def forward(self, batch: TokenBatch) -> Tensor:
        return torch.cat([part(batch) for part in self.parts], dim=-1)

    def with_extras(self, batch: TokenBatch) -> tuple[Tensor, list[Tensor]]:
        inputs, extras = [], []
        for part in self.parts:
            vectors, more = part.with_extras(batch)
            inputs.append(vectors)
            extras.extend(more)
        return torch.cat(inputs, dim=-1), extras

    def penalty(self) -> Tensor:
        return sum((part.penalty() for part in self.parts), torch.zeros(()))

    @classmethod
    def from_config(cls, config: ConcatConfig, vocabulary: list[str]) -> ConcatEmbedder:
        return cls([EMBEDDERS[part.type].from_config(part, vocabulary) for part in config.parts])

    @classmethod
    def for_run(cls, config: ConcatConfig, words: list[str], state: dict[str, Tensor], sources: Iterator):
        parts = []
        for i, part in enumerate(config.parts):
            prefix = f"embedder.parts.{i}."
            own = {"embedder." + k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
            parts.append(EMBEDDERS[part.type].for_run(part, words, own, sources))
        return cls(parts)

    def feature_caches(self) -> list:
        return [c for part in self.parts for c in part.feature_caches()]

    def fine_tuned(self) -> list[FineTuned]:
        return [f for part in self.parts for f in part.fine_tuned()]

    def split_contextual(self) -> tuple[list[TokenEmbedder], list[TokenEmbedder]]:
        splits = [part.split_contextual() for part in self.parts]
        return [p for fixed, _ in splits for p in fixed], [p for _, ctx in splits for p in ctx]


EMBEDDER_TYPES: tuple[str, ...] = tuple(EMBEDDERS)
EmbedderConfig = _union(EMBEDDERS.values())
"""Any embedder block, discriminated by ``type`` (generated from :data:`EMBEDDERS`)."""


def parse_config(block: Any, where: str = "embedder") -> BaseModel:
    """Validate a config block (or pass a validated one through); unknown types and keys are one-line
    errors with a suggestion."""
    if isinstance(block, BaseModel):
        return block
    if not isinstance(block, dict) or "type" not in block:
        raise ElmoError(f"{where}: needs a 'type' (one of {', '.join(EMBEDDER_TYPES)})")
    kind = block["type"]
    if kind not in EMBEDDERS:
        raise ElmoError(f"{where}: unknown embedder type {kind!r} (valid: {', '.join(EMBEDDER_TYPES)})")
    schema = EMBEDDERS[kind].Config
    if "parts" in schema.model_fields:
        for i, part in enumerate(block.get("parts") or []):
            parse_config(part, f"{where}.parts[{i}]")
    try:
        return schema.model_validate(block)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            valid = list(schema.model_fields)
            close = difflib.get_close_matches(str(first["loc"][-1]), valid, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (valid: {', '.join(valid)})"
            raise ElmoError(f"{where}: unknown key {key!r}{hint}") from None
        if not key:  # a check across keys (a model validator)
            raise ElmoError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None
        raise ElmoError(f"{where}.{key}: {first['msg']}") from None


def build_embedder(block: Any, vocabulary: Sequence[str], where: str = "embedder") -> TokenEmbedder:
    """A TokenEmbedder from a config block; ``vocabulary`` lists the words the data needs."""
    config = parse_config(block, where)
    return EMBEDDERS[config.type].from_config(config, list(vocabulary))


def embedder_for_run(block: Any, words: Sequence[str], state: dict[str, Tensor], sources: Iterable) -> TokenEmbedder:
    """The embedder of a finished run (its weights still to be loaded into the model)."""
    config = parse_config(block)
    return EMBEDDERS[config.type].for_run(config, list(words), state, iter(sources))


def _first_existing(paths: str | list[str]) -> str:
    """``paths`` itself, or the first of a list that exists (a warning names it when it is not the first);
    when none does, the first, so the error names the file the config asked for."""
    if isinstance(paths, str):
        return paths
    if not paths:
        raise ElmoError("embedder: 'path' is an empty list")
    found = next((p for p in paths if Path(p).expanduser().exists()), paths[0])
    if found != paths[0]:
        log.warning("vectors: %s is absent; using %s", paths[0], found)
    return found


def coverage_line(c: dict) -> str:
    """One line for a coverage dict: ``vectors.txt: 90.0% of 1,000 words (850 exact, 50 lower-cased), 100 missing``."""
    found = c["exact"] + c["lower_cased"]
    share = found / c["words"] if c["words"] else 0.0
    return (
        f"{c['path']}: vectors for {share:.1%} of {c['words']:,} words "
        f"({c['exact']:,} exact, {c['lower_cased']:,} lower-cased), {c['missing']:,} missing"
    )


def _check_coverage(c: dict, allow_no_match: bool) -> None:
    if c["words"] and c["missing"] == c["words"] and not allow_no_match:
        raise ElmoError(
            f"{coverage_line(c)}: no word of the data is in the vectors file (another language, a token prefix "
            "such as en:, a different tokenisation?); set allow_no_match: true in the embedder to train anyway"
        )
    if c["words"] and c["missing"] > (1 - LOW_COVERAGE) * c["words"]:
        log.warning("%s: low coverage, most words get random vectors", coverage_line(c))

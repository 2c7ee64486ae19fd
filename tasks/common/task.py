"""The task seam: a :class:`Task` base class and the one registry of tasks.

A task is a folder ``tasks/<name>/`` whose ``task.py`` defines a :class:`Task` subclass decorated with
:func:`register`; the registry finds it by scanning the ``tasks`` package (no list to edit elsewhere).
A task supplies only:

- ``name``, ``Config`` (a :class:`TrainConfig` with its ``data`` and ``model`` sections), ``MONITOR`` (the
  key of :meth:`~Task.score` that early stopping maximises), ``BREAKDOWN`` (the key of the per-type table in
  the scores), ``PREDICT_FORMATS`` (the input formats of ``predict --format``, the default first);
- :meth:`~Task.read_split` and :meth:`~Task.check_split`, :meth:`~Task.texts` (a split's token sequences),
  :meth:`~Task.items` and :meth:`~Task.lengths` (what a batch is collated from, and the bucketing key);
- :meth:`~Task.vocabulary` (labels, chars... from the training split), :meth:`~Task.make_model` (built from
  the config's ``model`` section, taken whole), :meth:`~Task.collate` and :meth:`~Task.gold_and_predicted`
  / :meth:`~Task.score`;
- report hooks: :meth:`~Task.write_predictions`, :meth:`~Task.predict_file` and (optional)
  :meth:`~Task.write_report`;
- optionally ``QUICKSTART`` (a :class:`Quickstart`: its head, data and table labels in ``elmo-tasks quickstart``)
  and :meth:`~Task.quickstart_hits` (how it scores the quickstart's ambiguous items).

Token-tagging tasks (NER, POS) derive from :class:`tasks.common.tagging.TaggingTask`, which adds the tagging loop.

The base implements build, batching, the training loss (the head's loss plus the embedder's penalty,
added once here), evaluation, run loading and prediction.
"""

from __future__ import annotations

import json
import pkgutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import DataLoader

from elmo_features.embedders import StaticEmbedder, TokenEmbedder, build_embedder, embedder_for_run
from elmo_features.errors import ElmoError
from tasks.common.batching import BucketBatchSampler
from tasks.common.config import TrainConfig
from tasks.common.subset import train_subset


@dataclass
class Built:
    """What ``task.build`` gives the trainer."""

    model: nn.Module
    vocab: dict[str, Any]  # saved as vocab.json; enough, with config.yaml and model.pt, to rebuild the model
    train: Any
    validation: Any | None
    test: Any | None
    train_loader: DataLoader
    validation_loader: DataLoader | None


@dataclass
class Quickstart:
    """How a task takes part in ``elmo-tasks quickstart`` (:mod:`tasks.quickstart`): its head, its data and the
    labels of its two table rows. The quickstart's data files are ``<task>/<split>`` (:mod:`tasks.quickstart_data`)."""

    order: int  # the place of the task's rows in the table
    splits: dict[str, str]  # data section key -> the split of the quickstart's file ({"validation": "valid", ...})
    model: dict[str, Any]  # the head's settings (the config's model section)
    trainer: dict[str, Any]
    score_label: str  # the table's label of the score (the task's MONITOR on the split scored)
    ambiguous_label: str  # and of the score on the items where only context decides (Task.quickstart_hits)
    data: dict[str, Any] = field(default_factory=dict)  # data settings besides the splits
    elmo_model: dict[str, Any] = field(default_factory=dict)  # model settings added when the embedder holds ELMo


def prepare_embedder(block: Any, sentences: Sequence[Sequence[str]]) -> tuple[list[str], TokenEmbedder]:
    """The sorted words of ``sentences`` (a run's vocabulary) and the embedder of a config block for
    them (``block``: a config block or a validated one), its feature caches filled for ``sentences``."""
    words = sorted({w for sentence in sentences for w in sentence})
    embedder = build_embedder(block, words)
    for cache in embedder.feature_caches():
        cache.build(sentences)
    return words, embedder


def static_parts(model: nn.Module) -> list[StaticEmbedder]:
    """The static word-vector tables inside ``model``, in module order (a concatenation's parts in order)."""
    return [m for m in model.modules() if isinstance(m, StaticEmbedder)]


def vector_sources(model: nn.Module) -> list[dict | None]:
    """Where each static table's pretrained vectors came from (kept in vocab.json for :func:`add_pretrained`)."""
    return [m.source for m in static_parts(model)]


def vector_coverage(model: nn.Module) -> list[dict]:
    """How many training words each vectors file held (exact, lower-cased, missing); for metrics.json."""
    return [m.coverage for m in static_parts(model) if m.coverage is not None]


def add_pretrained(model: nn.Module, sentences: Iterable[Sequence[str]]) -> int:
    """Give the words of ``sentences`` that a finished run never saw their pretrained vectors, read from
    the vectors file the run was trained with (when it is still there, unchanged); how many were added."""
    words = {w for sentence in sentences for w in sentence}
    return sum(m.add_words(words) for m in static_parts(model))


def score_batches(model: nn.Module, batches: Iterable, gold_and_predicted: Callable, score: Callable) -> dict:
    """``score`` of everything ``gold_and_predicted`` gives over ``batches``, with ``model`` in eval mode."""
    was_training = model.training
    model.eval()
    try:
        gold, predicted = [], []
        for batch in batches:
            g, p = gold_and_predicted(model, batch)
            gold.extend(g)
            predicted.extend(p)
    finally:
        model.train(was_training)
    return score(gold, predicted)


def read_run(run_dir: str | Path, task: str) -> tuple[Any, dict, dict[str, torch.Tensor]]:
    """The config, vocabulary and best weights of a finished ``task`` run (weights read safely)."""
    from tasks.common.config import load_config
    from tasks.common.trainer import MODEL_FILE, load_state_dict

    run_dir = Path(run_dir)
    for name in ("config.yaml", "vocab.json", MODEL_FILE, "metrics.json"):  # metrics.json comes last
        if not (run_dir / name).is_file():
            raise ElmoError(f"{run_dir} is not a finished run folder (no {name})")
    config = load_config(str(run_dir / "config.yaml"))
    if config.task.name != task:
        raise ElmoError(f"{run_dir} is a {config.task.name!r} run, not a {task!r} run")
    try:
        vocab = json.loads((run_dir / "vocab.json").read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ElmoError(f"{run_dir / 'vocab.json'} is damaged ({str(err)[:120]}); train the run again") from None
    if not isinstance(vocab, dict):
        raise ElmoError(f"{run_dir / 'vocab.json'} is damaged (not a JSON object); train the run again")
    return config, vocab, load_state_dict(run_dir / MODEL_FILE)


def restore(model: nn.Module, state: dict[str, torch.Tensor], run_dir: str | Path) -> nn.Module:
    """``model`` with the run's weights, in eval mode; weights that do not fit are a one-line error."""
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise ElmoError(
            f"{run_dir}: the weights do not fit this version's model ({first[:160]}); "
            "the run folder comes from an incompatible version: train it again"
        ) from None
    return model.eval()


def export_run_bilms(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the biLM of a finished run (fine-tuned with the task when its embedder was ``trainable``) as
    ``options.json`` + ``weights.hdf5`` in the official layout into ``out_dir`` (several biLMs: into
    ``out_dir/bilm<i>``); the folders written."""
    from elmo_features.atomic import check_output_folder
    from elmo_features.bilm import BiLM
    from elmo_features.pretrain.export import export
    from tasks.common.config import load_config

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ElmoError(f"{run_dir} is not a run folder (no config.yaml)")
    check_output_folder(out_dir)
    model, _, config = get_task(load_config(str(run_dir / "config.yaml")).task.name).load_run(run_dir)
    bilms = [m for m in model.modules() if isinstance(m, BiLM)]
    if not bilms:
        raise ElmoError(f"{run_dir}: its embedder ({config.embedder.type}) has no biLM to export")
    folders = [out_dir] if len(bilms) == 1 else [out_dir / f"bilm{i}" for i in range(len(bilms))]
    for bilm, folder in zip(bilms, folders, strict=True):
        export(bilm, folder)
    return folders


# ---------------------------------------------------------------------------- the base class
class Task:
    """One task's data, head and scores; see the module docstring for what a subclass supplies."""

    name: ClassVar[str]
    Config: ClassVar[type[TrainConfig]]
    MONITOR: ClassVar[str]
    BREAKDOWN: ClassVar[str]
    PREDICT_FORMATS: ClassVar[tuple[str, ...]]
    QUICKSTART: ClassVar[Quickstart | None] = None  # None: the task is not in the quickstart

    # ------------------------------------------------------------------ supplied by a task
    def read_split(self, config: TrainConfig, name: str, source: str | None = None) -> Any:
        """Split ``name`` of the config's data section (or read from ``source``); None when not configured."""
        raise NotImplementedError

    def check_split(self, split: Any, vocab: dict, where: str) -> None:
        """A one-line :class:`ElmoError` for what a model with ``vocab`` cannot score in ``split``."""

    def training_split(self, split: Any, config: TrainConfig) -> Any:
        """The training split as training uses it (QA cuts passages); itself by default."""
        return split

    def texts(self, split: Any) -> list[Sequence[str]]:
        """The token sequences of ``split``: the embedder's vocabulary and feature caches come from them
        (default: ``split.tokens``, a split of one sentence per item)."""
        return split.tokens

    def items(self, split: Any) -> list:
        """The rows :meth:`collate` makes batches of."""
        raise NotImplementedError

    def lengths(self, split: Any) -> list[int]:
        """The length of each item, for bucketing (default: each of :meth:`texts`)."""
        return [len(t) for t in self.texts(split)]

    def vocabulary(self, config: TrainConfig, train: Any) -> dict[str, Any]:
        """What the model needs beside the words (labels, chars...), from the training split; saved in
        vocab.json with the words."""
        raise NotImplementedError

    def make_model(self, config: TrainConfig, embedder: TokenEmbedder, vocab: dict[str, Any]) -> nn.Module:
        """The head over ``embedder``, from ``config.model`` (and ``vocab``); ``model(*batch)["loss"]`` is its loss."""
        raise NotImplementedError

    def collate(self, model: nn.Module) -> Callable:
        """Items -> a batch tuple whose last element is the target (picklable, for loader workers)."""
        raise NotImplementedError

    def gold_and_predicted(self, model: nn.Module, batch: Any) -> tuple[list, list]:
        """Gold and predicted values of a batch, as :meth:`score` takes them."""
        raise NotImplementedError

    def score(self, gold: list, predicted: list, model: nn.Module | None = None) -> dict:
        """JSON-able scores (percent), holding ``MONITOR``."""
        raise NotImplementedError

    def write_predictions(self, model: nn.Module, split: Any, config: TrainConfig, stem: Path) -> Path:
        """The model's predictions of ``split`` in the task's own format, at ``stem`` plus a suffix."""
        raise NotImplementedError

    def predict_file(self, model: nn.Module, vocab: dict, config: TrainConfig, path: str, fmt: str) -> Any:
        """Predictions for an input file of format ``fmt``: a list of JSON records (written as JSON lines),
        one dict (written as one JSON object) or text (written as is)."""
        raise NotImplementedError

    def write_report(self, run_dir: Path, metrics: dict) -> None:
        """Task-only files of a finished run (sentiment's confusion matrices); nothing by default."""

    def quickstart_hits(self, run_dir: Path, files: dict[str, Path], ambiguous: Any) -> list[bool]:
        """Whether the quickstart run in ``run_dir`` gets each ambiguous item right; ``files``: the quickstart's
        data files, ``ambiguous``: this task's items where only context decides (:mod:`tasks.quickstart_data`)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ implemented once
    def build(self, config: TrainConfig) -> Built:
        """Read and check the splits; vocabularies, embedder (feature caches filled), model and loaders."""
        train = train_subset(self.training_split(self.read_split(config, "train"), config), config)
        validation = self.read_split(config, "validation")
        test = self.read_split(config, "test")
        vocab = self.vocabulary(config, train)
        for name, split in (("validation", validation), ("test", test)):
            if split is not None:
                self.check_split(split, vocab, f"{name} split ({getattr(config.data, name)})")
        splits = [s for s in (train, validation, test) if s is not None]
        words, embedder = prepare_embedder(config.embedder, [t for s in splits for t in self.texts(s)])
        torch.manual_seed(config.trainer.seed)
        model = self.make_model(config, embedder, vocab)
        t = config.trainer
        return Built(
            model=model,
            vocab={**vocab, "words": words},
            train=train,
            validation=validation,
            test=test,
            train_loader=self.loader(train, model, t.batch_size, True, t.seed, t.num_workers, shard=True),
            validation_loader=(
                self.loader(validation, model, t.batch_size, False, shard=True) if validation is not None else None
            ),
        )

    def loader(
        self, split: Any, model: nn.Module, batch_size: int, shuffle: bool, seed: int = 0, workers: int = 0,
        shard: bool = False,
    ) -> DataLoader:  # fmt: skip
        """Length-bucketed batches of ``split`` (this rank's share of them with ``shard``)."""
        sampler = BucketBatchSampler(self.lengths(split), batch_size, shuffle, seed, shard)
        return DataLoader(self.items(split), batch_sampler=sampler, collate_fn=self.collate(model), num_workers=workers)

    def training_loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        """The head's loss plus the embedder's penalty (the scalar-mix L2), added here once."""
        loss = model(*batch)["loss"]
        return loss + model.embedder.penalty().to(loss.device)

    def evaluate(self, model: nn.Module, split: Any, config: TrainConfig) -> dict:
        """Scores of ``model`` on ``split`` (every example, on this process), in eval mode; words the run
        never saw get their pretrained vectors."""
        add_pretrained(model, self.texts(split))
        batches = self.loader(split, model, config.trainer.batch_size, False)
        return score_batches(model, batches, self.gold_and_predicted, lambda g, p: self.score(g, p, model))

    def load_run(self, run_dir: str | Path) -> tuple[nn.Module, dict, TrainConfig]:
        """The best model of a finished run (eval mode), its vocabulary and its config."""
        config, vocab, state = read_run(run_dir, self.name)
        embedder = embedder_for_run(config.embedder, vocab["words"], state, vocab.get("vectors", []))
        return restore(self.make_model(config, embedder, vocab), state, run_dir), vocab, config

    def predict(self, run_dir: str | Path, path: str, fmt: str | None = None) -> str:
        """The text ``predict`` writes for input file ``path`` with the best model of a finished run."""
        if fmt is not None and fmt not in self.PREDICT_FORMATS:
            raise ElmoError(f"--format {fmt}: this run's task reads {', '.join(self.PREDICT_FORMATS)}")
        model, vocab, config = self.load_run(run_dir)
        result = self.predict_file(model, vocab, config, path, fmt or self.PREDICT_FORMATS[0])
        if isinstance(result, str):
            return result
        if isinstance(result, dict):
            return json.dumps(result, ensure_ascii=False, indent=1) + "\n"
        return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in result)


# ---------------------------------------------------------------------------- the registry
TASKS: dict[str, Task] = {}
"""The one list of tasks: name -> task (filled by :func:`register` as :func:`all_tasks` imports them)."""


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: file a task under its ``name``."""
    TASKS[cls.name] = cls()
    return cls


def all_tasks() -> dict[str, Task]:
    """Every task: each ``tasks/<name>/task.py`` is imported once (importing registers it)."""
    import tasks

    for info in pkgutil.iter_modules(tasks.__path__):
        folder = Path(tasks.__path__[0]) / info.name
        if info.ispkg and info.name != "common" and (folder / "task.py").is_file():
            import_module(f"tasks.{info.name}.task")
    return dict(sorted(TASKS.items()))


def get_task(name: str) -> Task:
    """The task called ``name``; an unknown name is a one-line error with the closest known one."""
    import difflib

    known = all_tasks()
    if name not in known:
        close = difflib.get_close_matches(str(name), list(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" (valid: {', '.join(known)})"
        raise ElmoError(f"unknown task {name!r}{hint}")
    return known[name]

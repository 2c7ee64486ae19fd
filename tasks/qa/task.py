"""QA glue for the shared trainer (protocol in :mod:`tasks.common.task_api`): SQuAD v1.1 with BiDAF.

Training takes the first ``data.train_subset`` questions, cuts passages to ``data.max_passage_tokens``
and skips (and counts) the questions whose answer falls past the cut; validation and test keep
whole passages and every gold answer. Batches are ``(question TokenBatch, Passages, (B, 2) spans)``,
bucketed by passage length; :class:`Passages` carries what turns a token span back into passage
text. Scores are the official exact match and F1 (0-100); early stopping follows F1.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from elmo_features.atomic import write_text_atomic
from elmo_features.embedders import TokenBatch, TokenEmbedder
from elmo_features.errors import ElmoError
from elmo_features.tokenizer import tokenize, tokenize_with_offsets
from tasks.common.batching import BucketBatchSampler
from tasks.common.config import TrainConfig
from tasks.common.layers import CharFeaturesConfig, char_vocabulary
from tasks.common.task_api import Built, add_pretrained, embedder_for_run, prepare_embedder, read_run, restore
from tasks.qa.metric import squad_scores
from tasks.qa.model import Bidaf
from tasks.qa.reader import QaExample, SquadSplit, load_split, parse_squad, read_squad_json
from tasks.qa.reader import truncate_for_training as truncate

log = logging.getLogger(__name__)

MONITOR = "f1"
BREAKDOWN = "per_question"  # the scores per question word in evaluate's result
WH_WORDS = ("what", "who", "whom", "whose", "when", "where", "which", "why", "how")


@dataclass
class Passages(TokenBatch):
    """Passage tokens and mask, plus per passage its text, token offsets, gold answers and question id."""

    contexts: list[str]
    offsets: list[list[tuple[int, int]]]
    answers: list[list[str]]
    ids: list[str]

    def text(self, row: int, start: int, end: int) -> str:
        return self.contexts[row][self.offsets[row][start][0] : self.offsets[row][end][1]]


# ---------------------------------------------------------------------------- data
def read_split(config: TrainConfig, name: str, source: str | None = None) -> SquadSplit | None:
    """A split from the config's data section (or ``source``), whole passages, every question."""
    source = source if source is not None else getattr(config.data, name)
    return None if source is None else load_split(source, name)


def training_examples(split: SquadSplit, config: TrainConfig) -> SquadSplit:
    """The first ``train_subset`` questions, passages cut to ``max_passage_tokens``; skipped ones logged."""
    data = config.data
    examples = split.examples[: data.train_subset] if data.train_subset else split.examples
    kept, skipped = truncate(examples, data.max_passage_tokens)
    if skipped:
        log.warning(
            "%s: %d of %d training questions skipped (answer past token %s, or no answer)",
            split.source, skipped, len(examples), data.max_passage_tokens,
        )  # fmt: skip
    if not kept:
        raise ElmoError(f"{split.source}: no training questions left (all answers past max_passage_tokens?)")
    return SquadSplit(split.source, kept, split.answers, split.misaligned)


def check_split(split: SquadSplit, vocab: dict, where: str) -> None:
    """A one-line error for a question without gold answers (it cannot be scored)."""
    for example in split.examples:
        if not example.answers:
            raise ElmoError(f"{where}: question {example.id!r} has no gold answers (cannot be scored)")


class Collate:
    """QaExamples -> (question TokenBatch, Passages, (B, 2) inclusive token spans); picklable."""

    def __call__(self, rows: Sequence[QaExample]) -> tuple[TokenBatch, Passages, torch.Tensor]:
        return (
            TokenBatch.from_tokens([r.question for r in rows]),
            passages(rows),
            torch.tensor([r.span or (0, 0) for r in rows], dtype=torch.long),
        )


def passages(rows: Sequence[QaExample]) -> Passages:
    base = TokenBatch.from_tokens([r.tokens for r in rows])
    return Passages(
        base.tokens, base.mask, [r.context for r in rows], [r.offsets for r in rows],
        [r.answers for r in rows], [r.id for r in rows],
    )  # fmt: skip


def loader(
    examples: Sequence[QaExample], batch_size: int, shuffle: bool, seed: int = 0, workers: int = 0, shard: bool = False
) -> DataLoader:
    """Batches bucketed by passage length (this rank's share of them with ``shard``)."""
    sampler = BucketBatchSampler([len(e.tokens) for e in examples], batch_size, shuffle, seed, shard)
    return DataLoader(list(examples), batch_sampler=sampler, collate_fn=Collate(), num_workers=workers)


# ---------------------------------------------------------------------------- model
def make_model(config: TrainConfig, embedder: TokenEmbedder, chars: Sequence[str]) -> Bidaf:
    m = config.model
    chars_config = CharFeaturesConfig(dim=m.char_dim, filters=m.char_filters, width=m.char_width, max_chars=m.max_chars)
    return Bidaf(
        embedder,
        list(chars),
        hidden=m.hidden,
        dropout=m.dropout,
        elmo=m.elmo,
        char_cnn=chars_config,
        max_span=config.data.max_answer_tokens,
    )


def build(config: TrainConfig) -> Built:
    """Read and check the splits; words, chars, embedder (feature caches filled), BiDAF and loaders."""
    train = training_examples(read_split(config, "train"), config)
    validation = read_split(config, "validation")
    test = read_split(config, "test")
    for name, split in (("validation", validation), ("test", test)):
        if split is not None:
            check_split(split, {}, f"{name} split ({split.source})")
    splits = [s for s in (train, validation, test) if s is not None]
    texts = [t for s in splits for e in s.examples for t in (e.question, e.tokens)]
    chars = char_vocabulary([e.question for e in train.examples] + [e.tokens for e in train.examples])
    words, embedder = prepare_embedder(config.embedder, texts)
    torch.manual_seed(config.trainer.seed)
    model = make_model(config, embedder, chars)
    t = config.trainer
    return Built(
        model=model,
        vocab={"words": words, "chars": chars},
        train=train,
        validation=validation,
        test=test,
        train_loader=loader(train.examples, t.batch_size, True, t.seed, t.num_workers, shard=True),
        validation_loader=(
            loader(validation.examples, t.batch_size, False, shard=True) if validation is not None else None
        ),
    )


# ---------------------------------------------------------------------------- metric
@torch.no_grad()
def predicted_spans(model: Bidaf, question: TokenBatch, passage: Passages) -> list[str]:
    """The answer text of the best span of each passage."""
    spans = model(question, passage)["best_span"].tolist()
    return [passage.text(row, start, end) for row, (start, end) in enumerate(spans)]


def gold_and_predicted(model: Bidaf, batch) -> tuple[list[list[str]], list[str]]:
    """Gold answer texts (all of them) and the predicted answer text of each question."""
    question, passage, _ = batch
    return [list(a) for a in passage.answers], predicted_spans(model, question, passage)


def score(gold: list[list[str]], predicted: list[str]) -> dict:
    """Official exact match and F1 (0-100), max over the gold answers, and the question count."""
    return squad_scores(gold, predicted)


def question_word(question: Sequence[str]) -> str:
    """The first wh-word of a question ("In what year ..." -> "what"), else "other"."""
    return next((w for w in (t.lower() for t in question) if w in WH_WORDS), "other")


def evaluate(model: Bidaf, split: SquadSplit, config: TrainConfig) -> dict:
    """EM/F1 of ``model`` on ``split`` (whole passages, every gold answer), in eval mode, with the same
    scores per question word (``per_question``)."""
    add_pretrained(model, [t for e in split.examples for t in (e.question, e.tokens)])  # new words
    was_training = model.training
    try:
        answers = predict(model, split.examples, config.trainer.batch_size)
    finally:
        model.train(was_training)
    groups: dict[str, list[QaExample]] = {}
    for example in split.examples:
        groups.setdefault(question_word(example.question), []).append(example)
    result = score([e.answers for e in split.examples], [answers[e.id] for e in split.examples])
    result["per_question"] = {
        word: score([e.answers for e in rows], [answers[e.id] for e in rows]) for word, rows in sorted(groups.items())
    }
    return result


def write_predictions(model: Bidaf, split: SquadSplit, config: TrainConfig, stem: Path) -> Path:
    """``{question_id: answer}`` of ``split``, the official format ``squad-eval`` reads (``<stem>.json``)."""
    path = stem.with_suffix(".json")
    answers = predict(model, split.examples, config.trainer.batch_size)
    write_text_atomic(path, json.dumps(answers, ensure_ascii=False, indent=1) + "\n")
    return path


# ---------------------------------------------------------------------------- runs
def load_run(run_dir: str | Path) -> tuple[Bidaf, dict, TrainConfig]:
    """The best model of a finished run (eval mode), its vocabulary and its config."""
    config, vocab, state = read_run(run_dir, "qa")
    embedder = embedder_for_run(config.embedder, vocab, state)
    return restore(make_model(config, embedder, vocab["chars"]), state, run_dir), vocab, config


def predict(model: Bidaf, examples: Sequence[QaExample], batch_size: int = 32) -> dict[str, str]:
    """``{question_id: answer_text}`` over whole passages."""
    add_pretrained(model, [t for e in examples for t in (e.question, e.tokens)])  # new words: pretrained vectors
    model.eval()
    out: dict[str, str] = {}
    for question, passage, _ in loader(examples, batch_size, False):
        out.update(zip(passage.ids, predicted_spans(model, question, passage), strict=True))
    return {e.id: out[e.id] for e in examples}


PREDICT_FORMATS = ("squad",)  # `predict --format`


def predict_file(
    model: Bidaf, vocab: dict, config: TrainConfig, path: str | Path, fmt: str = "squad"
) -> dict[str, str]:
    """SQuAD-format JSON in (answers optional) -> ``{question_id: answer_text}``, the official format."""
    split = parse_squad(read_squad_json(path), str(path))
    return predict(model, split.examples, config.trainer.batch_size)


def answer(model: Bidaf, question: str, context: str) -> str:
    """The answer span of ``question`` in ``context``, as text."""
    tokens = tokenize_with_offsets(context)
    if not tokens:
        raise ElmoError("the context has no tokens")
    question_tokens = tokenize(question)
    if not question_tokens:
        raise ElmoError("the question has no tokens")
    example = QaExample("q", question_tokens, context, [t for t, _, _ in tokens], [(s, e) for _, s, e in tokens])
    return predict(model, [example])["q"]

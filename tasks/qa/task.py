"""The QA task: SQuAD v1.1 with BiDAF.

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

from elmo_features.atomic import write_text_atomic
from elmo_features.embedders import TokenBatch, TokenEmbedder
from elmo_features.errors import ElmoError
from elmo_features.tokenizer import tokenize, tokenize_with_offsets
from tasks.common.batching import BucketBatchSampler
from tasks.common.config import TrainConfig
from tasks.common.layers import char_vocabulary
from tasks.common.task import Quickstart, Task, add_pretrained, register
from tasks.qa.config import Config
from tasks.qa.metric import best_over_gold, exact_match, gold_answers, squad_scores
from tasks.qa.model import Bidaf
from tasks.qa.reader import QaExample, SquadSplit, load_split, parse_squad, read_squad_json
from tasks.qa.reader import truncate_for_training as truncate

log = logging.getLogger(__name__)

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


# ---------------------------------------------------------------------------- metric
@torch.no_grad()
def predicted_spans(model: Bidaf, question: TokenBatch, passage: Passages) -> list[str]:
    """The answer text of the best span of each passage."""
    spans = model(question, passage)["best_span"].tolist()
    return [passage.text(row, start, end) for row, (start, end) in enumerate(spans)]


def question_word(question: Sequence[str]) -> str:
    """The first wh-word of a question ("In what year ..." -> "what"), else "other"."""
    return next((w for w in (t.lower() for t in question) if w in WH_WORDS), "other")


def predict(model: Bidaf, examples: Sequence[QaExample], batch_size: int = 32) -> dict[str, str]:
    """``{question_id: answer_text}`` over whole passages."""
    add_pretrained(model, [t for e in examples for t in (e.question, e.tokens)])  # new words: pretrained vectors
    model.eval()
    out: dict[str, str] = {}
    for rows in BucketBatchSampler([len(e.tokens) for e in examples], batch_size, False, shard=False):
        question, passage, _ = Collate()([examples[i] for i in rows])
        out.update(zip(passage.ids, predicted_spans(model, question, passage), strict=True))
    return {e.id: out[e.id] for e in examples}


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


@register
class QaTask(Task):
    """Extractive QA: SQuAD JSON in, answer spans out; the official exact match and F1 (per question word)."""

    name = "qa"
    Config = Config
    MONITOR = "f1"
    BREAKDOWN = "per_question"  # the scores per question word in evaluate's result
    PREDICT_FORMATS = ("squad",)  # `predict --format`
    QUICKSTART = Quickstart(
        order=2,
        splits={"train": "train", "validation": "dev"},
        model={"hidden": 32, "dropout": 0.1, "char_filters": 16},
        # ELMo after the contextual BiLSTM, [GloVe; chars] before it (paper Sec. 5.2, Table 3 "output only"):
        # at the input here, its strong person/place features stall the head on answering by type alone.
        elmo_model={"elmo": "output"},
        trainer={"epochs": 15, "batch_size": 16, "lr": 0.003, "patience": 4},
        score_label="dev F1",
        ambiguous_label="exact match, ambiguous answers",
    )

    def read_split(self, config: TrainConfig, name: str, source: str | None = None) -> SquadSplit | None:
        """A split from the config's data section (or ``source``), whole passages, every question."""
        source = source if source is not None else getattr(config.data, name)
        return None if source is None else load_split(source, name)

    def check_split(self, split: SquadSplit, vocab: dict, where: str) -> None:
        check_split(split, vocab, where)

    def training_split(self, split: SquadSplit, config: TrainConfig) -> SquadSplit:
        return training_examples(split, config)

    def texts(self, split: SquadSplit) -> list[list[str]]:
        return [t for e in split.examples for t in (e.question, e.tokens)]

    def items(self, split: SquadSplit) -> list[QaExample]:
        return list(split.examples)

    def lengths(self, split: SquadSplit) -> list[int]:
        return [len(e.tokens) for e in split.examples]

    def vocabulary(self, config: TrainConfig, train: SquadSplit) -> dict:
        return {"chars": char_vocabulary([e.question for e in train.examples] + [e.tokens for e in train.examples])}

    def make_model(self, config: TrainConfig, embedder: TokenEmbedder, vocab: dict) -> Bidaf:
        return Bidaf(embedder, list(vocab["chars"]), config.model, max_span=config.data.max_answer_tokens)

    def collate(self, model: Bidaf) -> Collate:
        return Collate()

    def gold_and_predicted(self, model: Bidaf, batch) -> tuple[list[list[str]], list[str]]:
        """Gold answer texts (all of them) and the predicted answer text of each question."""
        question, passage, _ = batch
        return [list(a) for a in passage.answers], predicted_spans(model, question, passage)

    def score(self, gold: list[list[str]], predicted: list[str], model: Bidaf | None = None) -> dict:
        """Official exact match and F1 (0-100), max over the gold answers, and the question count."""
        return squad_scores(gold, predicted)

    def evaluate(self, model: Bidaf, split: SquadSplit, config: TrainConfig) -> dict:
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
        result = self.score([e.answers for e in split.examples], [answers[e.id] for e in split.examples])
        result["per_question"] = {
            word: self.score([e.answers for e in rows], [answers[e.id] for e in rows])
            for word, rows in sorted(groups.items())
        }
        return result

    def write_predictions(self, model: Bidaf, split: SquadSplit, config: TrainConfig, stem: Path) -> Path:
        """``{question_id: answer}`` of ``split``, the official format ``squad-eval`` reads (``<stem>.json``)."""
        path = stem.with_suffix(".json")
        answers = predict(model, split.examples, config.trainer.batch_size)
        write_text_atomic(path, json.dumps(answers, ensure_ascii=False, indent=1) + "\n")
        return path

    def predict_file(
        self, model: Bidaf, vocab: dict, config: TrainConfig, path: str | Path, fmt: str = "squad"
    ) -> dict[str, str]:
        """SQuAD-format JSON in (answers optional) -> ``{question_id: answer_text}``, the official format."""
        split = parse_squad(read_squad_json(path), str(path))
        return predict(model, split.examples, config.trainer.batch_size)

    def quickstart_hits(self, run_dir: Path, files: dict[str, Path], ambiguous: dict) -> list[bool]:
        """Whether the answer to each ambiguous dev question matches a gold answer exactly (SQuAD normalisation)."""
        model, vocab, config = self.load_run(run_dir)
        dev = files[f"{self.name}/dev"]
        answers = self.predict_file(model, vocab, config, str(dev))
        gold = gold_answers(json.loads(dev.read_text(encoding="utf-8")))
        return [bool(best_over_gold(exact_match, answers[q], gold[q])) for q in ambiguous["dev"] if q in answers]

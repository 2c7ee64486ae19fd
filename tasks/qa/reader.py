"""SQuAD v1.1 JSON (and the hub's ``squad``) as lists of :class:`QaExample`, char offsets kept.

Passages and questions are tokenised by the project's tokenizer (:mod:`elmo_features.tokenizer`,
spaCy, PTB-style), each passage token with its ``[start, end)`` character offsets, so a predicted
token span maps back to the exact passage text. The first gold answer of a question is its
training span: its character span maps to the tokens that cover it. An answer whose ends fall
inside a token ("5" of "5th") does not align: it snaps to the covering tokens and is counted
(:attr:`SquadSplit.misaligned`, logged once per file), never silently dropped. All gold answer
texts are kept for evaluation. :func:`truncate_for_training` cuts long passages (training only)
and counts the examples whose answer falls outside the cut.
"""

from __future__ import annotations

import json
import logging
import os
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elmo_features.errors import ElmoError
from elmo_features.tokenizer import tokenize, tokenize_with_offsets
from tasks.common.data import hub_name, load_hub_split, split_file

log = logging.getLogger(__name__)


@dataclass
class QaExample:
    """One question on one passage. ``span`` is the first answer's (start, end) token span, end
    inclusive; ``answers`` holds every gold answer text (duplicates kept, as in the file)."""

    id: str
    question: list[str]
    context: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    answers: list[str] = field(default_factory=list)
    span: tuple[int, int] | None = None

    def text(self, start: int, end: int) -> str:
        """The passage text under tokens ``start..end`` (inclusive)."""
        return self.context[self.offsets[start][0] : self.offsets[end][1]]


@dataclass
class SquadSplit:
    """Examples of a file plus what the reader had to adjust (counts, never silent)."""

    source: str
    examples: list[QaExample]
    answers: int = 0  # gold answers read
    misaligned: int = 0  # of those, answers whose char span is not on token boundaries (snapped)

    def summary(self) -> str:
        return (
            f"{self.source}: {len(self.examples)} questions, {self.answers} answers, "
            f"{self.misaligned} not on token boundaries (snapped to the covering tokens)"
        )


def char_to_token_span(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[tuple[int, int], bool] | None:
    """The tokens covering chars ``[start, end)`` as an inclusive token span, and whether both
    ends fall exactly on token boundaries; None when no token overlaps (whitespace only)."""
    ends = [e for _, e in offsets]
    starts = [s for s, _ in offsets]
    first = bisect_right(ends, start)  # first token ending after ``start``
    last = bisect_left(starts, end) - 1  # last token starting before ``end``
    if first >= len(offsets) or last < first:
        return None
    aligned = offsets[first][0] == start and offsets[last][1] == end
    return (first, last), aligned


def _fail(where: str, message: str) -> ElmoError:
    return ElmoError(f"{where}: {message}")


def _need(value: Any, kind: type, where: str, what: str) -> Any:
    if not isinstance(value, kind):
        raise _fail(where, f"not SQuAD JSON ({what} should be a {kind.__name__}, got {type(value).__name__})")
    return value


class _Builder:
    """Collects examples, checks ids and answers, counts misaligned answers."""

    def __init__(self, source: str) -> None:
        self.split = SquadSplit(source, [])
        self.seen: set[str] = set()

    def add(
        self, where: str, qid: str, question: str, context: str, tokens: list, answers: list[tuple[str, int]]
    ) -> None:
        if qid in self.seen:
            raise _fail(where, f"question id {qid!r} is repeated")
        self.seen.add(qid)
        if not tokens:
            raise _fail(where, f"question {qid!r}: the context has no tokens")
        question_tokens = tokenize(question)
        if not question_tokens:
            raise _fail(where, f"question {qid!r} has no tokens")
        offsets = [(s, e) for _, s, e in tokens]
        span = None
        for k, (text, start) in enumerate(answers):
            if not 0 <= start < len(context):
                raise _fail(
                    where,
                    f"question {qid!r} answer {k + 1}: answer_start {start} is outside the context "
                    f"({len(context)} characters)",
                )
            if context[start : start + len(text)] != text:
                found = context[start : start + len(text)]
                raise _fail(
                    where,
                    f"question {qid!r} answer {k + 1}: text {text!r} does not match the context at "
                    f"answer_start {start} ({found!r})",
                )
            mapped = char_to_token_span(offsets, start, start + len(text))
            if mapped is None:
                raise _fail(where, f"question {qid!r} answer {k + 1}: {text!r} covers no token")
            token_span, aligned = mapped
            self.split.answers += 1
            self.split.misaligned += not aligned
            if span is None:
                span = token_span
        self.split.examples.append(
            QaExample(
                id=qid,
                question=question_tokens,
                context=context,
                tokens=[t for t, _, _ in tokens],
                offsets=offsets,
                answers=[text for text, _ in answers],
                span=span,
            )
        )

    def finish(self) -> SquadSplit:
        if not self.split.examples:
            raise ElmoError(f"{self.split.source}: no questions")
        if self.split.misaligned:
            log.warning(self.split.summary())
        return self.split


def parse_squad(data: Any, source: str) -> SquadSplit:
    """Examples from parsed SQuAD v1.1 JSON (``{"data": [{"paragraphs": [{"context", "qas"}]}]}``)."""
    articles = _need(data, dict, source, "the top level").get("data")
    _need(articles, list, source, "'data'")
    builder = _Builder(source)
    for a, article in enumerate(articles):
        paragraphs = _need(_need(article, dict, source, f"data[{a}]").get("paragraphs"), list, source, "paragraphs")
        for p, paragraph in enumerate(paragraphs):
            where = f"{source}: data[{a}].paragraphs[{p}]"
            _need(paragraph, dict, source, "a paragraph")
            context = _need(paragraph.get("context"), str, where, "'context'")
            tokens = tokenize_with_offsets(context)
            for q, qa in enumerate(_need(paragraph.get("qas"), list, where, "'qas'")):
                here = f"{where}.qas[{q}]"
                _need(qa, dict, here, "a question")
                qid = _need(qa.get("id"), str, here, "'id'")
                question = _need(qa.get("question"), str, here, "'question'")
                answers = []
                for answer in _need(qa.get("answers", []), list, here, "'answers'"):
                    _need(answer, dict, here, "an answer")
                    text = _need(answer.get("text"), str, here, "answer 'text'")
                    start = answer.get("answer_start")
                    if not isinstance(start, int) or isinstance(start, bool):
                        raise _fail(here, "not SQuAD JSON (answer_start should be an int)")
                    answers.append((text, start))
                builder.add(here, qid, question, context, tokens, answers)
    return builder.finish()


def read_squad_json(path: str | os.PathLike, kind: str = "SQuAD JSON") -> Any:
    """The parsed JSON of a file; one-line errors (naming ``kind``) for a missing file or invalid JSON."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ElmoError(f"{kind} file not found: {path}") from None
    except IsADirectoryError:
        raise ElmoError(f"{path} is a directory, not a {kind} file") from None
    except UnicodeDecodeError as err:
        raise ElmoError(f"{path}: not valid UTF-8 ({err.reason} at byte {err.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ElmoError(f"{path}: not {kind} (invalid JSON at line {err.lineno} column {err.colno})") from None


def read_squad(path: str | os.PathLike) -> SquadSplit:
    """A SQuAD v1.1 JSON file."""
    return parse_squad(read_squad_json(path), str(path))


def load_split(source: str | os.PathLike, split: str) -> SquadSplit:
    """One split from a JSON file, a folder holding ``<split>-v1.1.json`` / ``<split>.json`` (``dev`` for
    validation; also looked up under DATA_DIR), or a hub dataset ``hub:NAME`` such as ``hub:squad``."""
    name = hub_name(source)
    if name is not None:
        return _from_hub(name, split)
    return read_squad(split_file(source, split, ("-v1.1.json", ".json"), "SQuAD"))


def _from_hub(name: str, split: str) -> SquadSplit:
    data = load_hub_split(name, split, "pass a local SQuAD JSON file, or set DATA_DIR to the folder that holds squad/")
    where = f"{name}[{split}]"
    missing = [c for c in ("id", "context", "question", "answers") if c not in data.column_names]
    if missing:
        raise ElmoError(f"{where}: not SQuAD-shaped (no {', '.join(missing)} column)")
    builder = _Builder(where)
    tokenized: dict[str, list] = {}
    for row, item in enumerate(data, start=1):
        context = item["context"]
        tokens = tokenized.setdefault(context, tokenize_with_offsets(context))
        answers = list(zip(item["answers"]["text"], item["answers"]["answer_start"], strict=True))
        builder.add(f"{where} row {row}", item["id"], item["question"], context, tokens, answers)
    return builder.finish()


def truncate_for_training(examples: list[QaExample], max_tokens: int | None) -> tuple[list[QaExample], int]:
    """Passages cut to ``max_tokens`` (None: unchanged), and how many examples were skipped because
    their answer ends past the cut (or they have no answer). For training data only."""
    kept, skipped = [], 0
    for example in examples:
        if example.span is None or (max_tokens is not None and example.span[1] >= max_tokens):
            skipped += 1
            continue
        if max_tokens is not None and len(example.tokens) > max_tokens:
            example = QaExample(
                example.id,
                example.question,
                example.context,
                example.tokens[:max_tokens],
                example.offsets[:max_tokens],
                example.answers,
                example.span,
            )
        kept.append(example)
    return kept, skipped

"""``elmo-tasks answer`` (one question on one passage with a QA run) and ``squad-eval`` (official EM/F1)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from elmo_features.errors import ElmoError


def add_parser(commands) -> None:
    """Register ``answer`` and ``squad-eval`` on the ``elmo-tasks`` sub-command parsers."""
    answer = commands.add_parser(
        "answer",
        help="answer a question about a passage with a QA run's best model",
        description="Prints the answer span of QUESTION in CONTEXT, as text.",
    )
    answer.add_argument("run_dir", metavar="RUN_DIR", help="a finished QA run folder")
    answer.add_argument("--question", required=True, metavar="Q")
    answer.add_argument("--context", required=True, metavar="C", help="the passage holding the answer")
    answer.set_defaults(func=_answer)

    evaluate = commands.add_parser(
        "squad-eval",
        help="official SQuAD v1.1 exact match and F1 of a prediction file, as JSON",
        description="PREDICTIONS_JSON is {question_id: answer_text}; ids the dataset lacks are an error, "
        "questions without a prediction score 0 (counted as 'missing').",
    )
    evaluate.add_argument("dataset", metavar="DATASET_JSON")
    evaluate.add_argument("predictions", metavar="PREDICTIONS_JSON")
    evaluate.set_defaults(func=_squad_eval)


def _answer(args: argparse.Namespace) -> None:
    from tasks.common.task import get_task
    from tasks.qa.task import answer

    if not args.context.strip() or not args.question.strip():
        raise ElmoError("--question and --context must not be empty")
    model, _, _ = get_task("qa").load_run(Path(args.run_dir))
    print(answer(model, args.question, args.context))


def _squad_eval(args: argparse.Namespace) -> None:
    from tasks.qa.metric import evaluate_predictions
    from tasks.qa.reader import read_squad_json

    dataset = read_squad_json(args.dataset)
    predictions = read_squad_json(args.predictions, "prediction JSON")
    if not isinstance(predictions, dict):
        raise ElmoError(f"{args.predictions}: not a prediction file (a JSON object of question id -> answer text)")
    print(json.dumps(evaluate_predictions(dataset, predictions), indent=1))

"""``elmo-tasks train``, ``evaluate`` and ``predict``: a config into a run folder, and its use."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from elmo_features.errors import ElmoError


def add_parser(commands) -> None:
    """Register ``train``, ``evaluate`` and ``predict`` on the ``elmo-tasks`` sub-command parsers."""
    train = commands.add_parser(
        "train",
        help="train a task model from a config into a run folder",
        description="CONFIG is a YAML file or a built-in name such as ner/conll2003_glove_paper. The run folder gets "
        "config.yaml, vocab.json, checkpoints/, metrics.csv, model.pt and metrics.json.",
    )
    train.add_argument("config", metavar="CONFIG", help="config file or built-in name (e.g. ner/conll2003_glove_paper)")
    train.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help="run folder (new or empty)")
    train.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="e.g. trainer.epochs=5"
    )
    train.add_argument("--resume", action="store_true", help="continue RUN_DIR from checkpoints/last.ckpt")
    train.add_argument(
        "--quiet", action="store_true", help="no progress bar or progress lines (RUN_DIR/train.log keeps them)"
    )
    train.set_defaults(func=_train)

    evaluate = commands.add_parser("evaluate", help="scores of a run's best model, as JSON on stdout")
    evaluate.add_argument("run_dir", metavar="RUN_DIR")
    evaluate.add_argument("--data", metavar="FILE", help="a file in the task's format (as in the run's config)")
    evaluate.set_defaults(func=_evaluate)

    predict = commands.add_parser(
        "predict",
        help="run a run's best model on a file",
        description="Writes the predictions of a finished run's best model for INPUT: JSON lines, one JSON object "
        "or token gold predicted columns, by the run's task and --format.",
        add_help=False,
    )
    show_help = predict.add_argument("-h", "--help", action=FormatsHelp, help="show this help message and exit")
    predict.add_argument("run_dir", metavar="RUN_DIR")
    predict.add_argument("input", metavar="INPUT", help="the input file (see --format)")
    predict.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout)")
    show_help.formats = predict.add_argument("--format", metavar="FORMAT", help="the input format (see --help)")
    predict.set_defaults(func=_predict)


class FormatsHelp(argparse.Action):
    """``predict --help`` with the input formats of every registered task (its ``PREDICT_FORMATS``), filled in
    only when the help is asked for: the registry imports every task, seconds that other commands do not pay."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, nargs=0, **kwargs)
        self.formats: argparse.Action | None = None  # the --format argument, whose help this fills in

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from tasks.common.task import all_tasks

        per_task = "; ".join(f"{name}: {', '.join(task.PREDICT_FORMATS)}" for name, task in all_tasks().items())
        self.formats.help = (
            f"the input format, by the run's task (the first is its default): {per_task}. text: one sentence or "
            "text per line, raw or tokenised; a labelled format (one that training reads) keeps the gold labels"
        )
        parser.print_help()
        parser.exit()


def _train(args: argparse.Namespace) -> None:
    from tasks.common.config import load_config
    from tasks.common.task import get_task
    from tasks.common.trainer import train

    config = load_config(args.config, args.overrides)
    metrics = train(config, Path(args.output), resume=args.resume, quiet=args.quiet)
    key = get_task(config.task.name).MONITOR
    summary = [f"{split} {key} {metrics[split][key]:.2f}" for split in ("dev", "test") if split in metrics]
    if summary:  # DDP ranks other than 0 return no metrics
        print(f"run {args.output}: " + ", ".join(summary), file=sys.stderr)


def _evaluate(args: argparse.Namespace) -> None:
    run_dir = Path(args.run_dir)
    task = _task(run_dir)
    model, vocab, config = task.load_run(run_dir)
    if args.data:
        split = task.read_split(config, "test", args.data)
        task.check_split(split, vocab, args.data)
        result = task.evaluate(model, split, config)
    else:
        result = {}
        for name, key in (("validation", "dev"), ("test", "test")):
            split = task.read_split(config, name)
            if split is not None:
                result[key] = task.evaluate(model, split, config)
    print(json.dumps(result, indent=1))


def _task(run_dir: Path):
    from tasks.common.config import load_config
    from tasks.common.task import get_task

    if not (run_dir / "config.yaml").is_file():
        raise ElmoError(f"{run_dir} is not a run folder (no config.yaml)")
    return get_task(load_config(str(run_dir / "config.yaml")).task.name)


def _predict(args: argparse.Namespace) -> None:
    from elmo_features.atomic import check_output, write_text_atomic

    run_dir = Path(args.run_dir)
    task = _task(run_dir)
    if not Path(args.input).is_file():  # fail on a missing input before the model loads
        raise ElmoError(f"no input file at {args.input}")
    if args.output:
        check_output(args.output)  # before the work, not after it
    text = task.predict(run_dir, args.input, args.format)
    if args.output:
        write_text_atomic(args.output, text)
    else:
        sys.stdout.write(text)

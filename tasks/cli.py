"""The ``elmo-tasks`` command. Thin: parse arguments, call the library, print one-line errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from elmo_features.errors import ElmoError
from elmo_features.machine import thread_warning
from tasks.commands import benchmark, cache, corpus, export, pretrain, qa, similar, train, vectors
from tasks.commands.model_args import add_model_args, load_bilm

LONG_COMMANDS = {"embed", "cache", "train", "pretrain", "benchmark", "quickstart"}


def _embed(args: argparse.Namespace) -> None:
    from elmo_features.embed_file import embed_sentences, read_text_lines

    sentences = read_text_lines(args.input_file)  # fail on bad input before loading weights
    bilm = load_bilm(args)
    embed_sentences(
        bilm,
        sentences,
        args.output_file,
        args.output_format,
        args.batch_size,
        args.forget_sentences,
        args.use_sentence_keys,
        progress=not args.quiet,
    )


def _quickstart(args: argparse.Namespace) -> None:
    from tasks.quickstart import run

    run(Path(args.output_dir), seed=args.seed, lm_steps=args.lm_steps, source=args.data)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="elmo-tasks", description="ELMo vs static word vectors on downstream tasks")
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads for torch (default: OMP_NUM_THREADS when set, else torch's: one per core); long commands "
        "warn when there are more threads than free cores",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    embed = commands.add_parser(
        "embed",
        help="embed a text file (one tokenised sentence per line) into HDF5",
        description="Drop-in for the old `allennlp elmo` command.",
    )
    embed.add_argument("input_file")
    embed.add_argument("output_file")
    add_model_args(embed)
    fmt = embed.add_mutually_exclusive_group()
    fmt.add_argument("--all", dest="output_format", action="store_const", const="all", help="all layers (default)")
    fmt.add_argument("--top", dest="output_format", action="store_const", const="top", help="top layer only")
    fmt.add_argument("--average", dest="output_format", action="store_const", const="average", help="layer average")
    embed.set_defaults(output_format="all", func=_embed)
    embed.add_argument("--batch-size", type=int, default=64)
    embed.add_argument("--forget-sentences", action="store_true", help="do not write the sentence_to_index dataset")
    embed.add_argument(
        "--use-sentence-keys", action="store_true", help="name datasets by sentence text, not line index"
    )

    for module in (vectors, cache, train, export, similar, pretrain, qa, benchmark, corpus):
        module.add_parser(commands)

    quick = commands.add_parser("quickstart", help="the main job on an embedded default (no data, no network)")
    quick.add_argument("-o", "--output-dir", default="runs/quickstart")
    quick.add_argument("--seed", type=int, default=0)
    quick.add_argument(
        "--data",
        choices=("auto", "generated", "real"),
        default="generated",
        help="generated (default): the project's own data, where only context decides; real: subsets of CoNLL-2003 "
        "and SST from DATA_DIR (slower: GloVe on 367k real tokens); auto: real when DATA_DIR has them",
    )
    quick.add_argument("--lm-steps", type=int, default=1000, help="biLM training steps of 640 tokens (default 1000)")
    quick.set_defaults(func=_quickstart)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.threads is not None and args.threads < 1:
            raise ElmoError(f"--threads must be at least 1, got {args.threads}")
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        if args.command in LONG_COMMANDS and (warning := thread_warning()):
            print(f"elmo-tasks: warning: {warning}", file=sys.stderr)
        args.func(args)
    except ElmoError as err:
        print(f"elmo-tasks: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        if err.filename is None:  # not about a file the user named: a bug, keep the traceback
            raise
        print(f"elmo-tasks: error: {err.filename}: {err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("elmo-tasks: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

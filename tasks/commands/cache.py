"""``elmo-tasks cache build``: compute the frozen biLM layers of data files once, into the feature cache."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from elmo_features.errors import ElmoError
from elmo_features.text_lines import file_lines
from tasks.commands.model_args import add_model_args, load_bilm

FORMATS = ("lines", "conll")


def add_parser(commands) -> None:
    """Register ``cache build`` on the ``elmo-tasks`` sub-command parsers."""
    cache = commands.add_parser("cache", help="the on-disk cache of frozen biLM layers (float16)")
    actions = cache.add_subparsers(dest="cache_command", required=True)
    build = actions.add_parser(
        "build",
        help="compute the layers of every sentence in DATA once (resumable; skips what is cached)",
        description="Deduplicates sentences and stores their biLM layers as float16 under the model's "
        "fingerprint; training then reads them instead of running the biLM.",
    )
    build.add_argument("data", nargs="+", metavar="DATA", help="text files: one sentence per line, or CoNLL columns")
    build.add_argument(
        "--format",
        choices=FORMATS,
        default="lines",
        help="lines: whitespace-tokenised sentence per line (default); conll: token in column 1, "
        "blank line between sentences, -DOCSTART- skipped",
    )
    add_model_args(build, states=("stateless", "warm"))
    build.add_argument(
        "--cache-dir", help="cache root (default: $ELMO_TASKS_FEATURE_CACHE, else <user cache>/elmo-tasks/features)"
    )
    build.add_argument("--batch-size", type=int, default=64, help="sentences per biLM batch (default: 64)")
    build.set_defaults(func=_build)


class Corpus:
    """The sentences of data files, streamed (read twice: a checking count first, then the build)."""

    def __init__(self, paths: list[Path], fmt: str = "lines") -> None:
        self.paths, self.fmt = paths, fmt
        for path in paths:
            if not path.is_file():
                raise ElmoError(f"data file not found: {path}" if not path.exists() else f"not a file: {path}")
        self.count = nonempty = 0
        for sentence in self:
            self.count += 1
            nonempty += bool(sentence)
        if not nonempty:
            raise ElmoError(f"no sentences in {', '.join(map(str, paths))}")

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[list[str]]:
        for path in self.paths:
            yield from read_token_sentences(path, self.fmt)


def read_token_sentences(path: Path, fmt: str = "lines") -> Iterator[list[str]]:
    """Token lists of one file. ``lines``: every line (empty ones too); ``conll``: column 1 blocks."""
    current: list[str] = []
    for _, line in file_lines(path, "data"):
        tokens = line.split()
        if fmt == "lines":
            yield tokens
        elif tokens and tokens[0] != "-DOCSTART-":
            current.append(tokens[0])
        elif current:
            yield current
            current = []
    if current:
        yield current


def _build(args: argparse.Namespace) -> None:
    from elmo_features.feature_cache import FeatureCache

    if args.batch_size < 1:
        raise ElmoError(f"batch size must be at least 1, got {args.batch_size}")
    corpus = Corpus([Path(p) for p in args.data], args.format)  # bad input fails before the weights load
    cache = FeatureCache(load_bilm(args), args.cache_dir)
    s = cache.build(corpus, batch_size=args.batch_size, progress=not args.quiet)
    print(
        f"feature cache {cache.folder}: {s.sentences:,} sentences, {s.unique:,} unique, {s.tokens:,} tokens, "
        f"{s.new:,} new; {s.size_bytes / 1e6:,.1f} MB on disk; {s.seconds:.1f} s"
    )

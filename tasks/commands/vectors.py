"""``elmo-tasks vectors``: train GloVe or word2vec on a corpus, inspect a vectors file."""

from __future__ import annotations

import argparse

from elmo_features.errors import ElmoError
from elmo_features.static import FORMATS
from tasks.commands import add_quiet

DEFAULTS = {"glove": {"window": 10, "epochs": 25}, "word2vec": {"window": 5, "epochs": 5}}


def add_parser(commands) -> None:
    """Register ``vectors train`` and ``vectors inspect`` on an ``add_subparsers()`` object."""
    vectors = commands.add_parser("vectors", help="static word vectors: train on a corpus, inspect a file")
    sub = vectors.add_subparsers(dest="vectors_command", required=True)

    train = sub.add_parser(
        "train",
        help="train GloVe or word2vec on a corpus (one sentence per line, whitespace tokens)",
        description="Writes the word2vec text format (a 'count dim' header, then 'word v1 ... vD' lines).",
    )
    train.add_argument("corpus", metavar="CORPUS", help="UTF-8 text, one sentence per line (.gz/.bz2/.xz/.zip too)")
    train.add_argument("-o", "--output", required=True, metavar="FILE", help="vectors file to write")
    train.add_argument("--method", choices=tuple(DEFAULTS), required=True)
    train.add_argument("--dim", type=int, default=100)
    train.add_argument("--epochs", type=int, help="default: glove 25, word2vec 5")
    train.add_argument("--window", type=int, help="default: glove 10, word2vec 5")
    train.add_argument("--min-count", type=int, default=2, help="drop words seen fewer times (default: 2)")
    train.add_argument("--seed", type=int, default=0)
    arch = train.add_mutually_exclusive_group()
    arch.add_argument("--sg", dest="sg", action="store_true", default=None, help="word2vec skip-gram (default)")
    arch.add_argument("--cbow", dest="sg", action="store_false", help="word2vec CBOW")
    train.add_argument("--workers", type=int, default=1, help="word2vec threads (1 = deterministic)")
    train.add_argument("--x-max", type=float, default=100.0, help="GloVe weighting cutoff (default: 100)")
    train.add_argument("--alpha", type=float, default=0.75, help="GloVe weighting exponent (default: 0.75)")
    train.add_argument("--lr", type=float, default=0.05, help="GloVe AdaGrad learning rate (default: 0.05)")
    add_quiet(train)
    train.set_defaults(func=_train)

    inspect = sub.add_parser("inspect", help="size and dimension of a vectors file, and neighbours of some words")
    inspect.add_argument("file", metavar="FILE")
    inspect.add_argument("words", nargs="*", metavar="WORD", help="print the nearest neighbours of these words")
    inspect.add_argument("--format", choices=FORMATS, default="auto")
    inspect.add_argument("-k", type=int, default=10, help="neighbours per word (default: 10)")
    inspect.set_defaults(func=_inspect)


def _train(args: argparse.Namespace) -> None:
    window = DEFAULTS[args.method]["window"] if args.window is None else args.window
    epochs = DEFAULTS[args.method]["epochs"] if args.epochs is None else args.epochs
    common = {
        "dim": args.dim,
        "window": window,
        "min_count": args.min_count,
        "epochs": epochs,
        "seed": args.seed,
        "progress": not args.quiet,
    }
    if args.method == "glove":
        from elmo_features.glove import train_glove

        if args.sg is not None:
            raise ElmoError("--sg/--cbow choose the word2vec architecture; they do not apply to --method glove")
        vectors = train_glove(args.corpus, args.output, x_max=args.x_max, alpha=args.alpha, lr=args.lr, **common)
    else:
        from elmo_features.static import train_word2vec

        sg = True if args.sg is None else args.sg
        vectors = train_word2vec(args.corpus, args.output, sg=sg, workers=args.workers, **common)
    print(f"wrote {len(vectors)} vectors of dimension {vectors.dim} to {args.output}")


def _inspect(args: argparse.Namespace) -> None:
    from elmo_features.static import load_vectors

    vectors = load_vectors(args.file, format=args.format)
    print(f"{args.file}: {len(vectors)} vectors of dimension {vectors.dim}")
    for word in args.words:
        neighbours = ", ".join(f"{w} {cos:.3f}" for w, cos in vectors.neighbours(word, args.k))
        print(f"{word}: {neighbours}")

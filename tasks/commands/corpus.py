"""``elmo-tasks corpus prepare``: raw documents -> tokenised sentences, train and held-out."""

from __future__ import annotations

import argparse
import sys

from tasks.commands import add_quiet


def add_parser(commands) -> None:
    """Register ``corpus prepare`` on an ``add_subparsers()`` object."""
    corpus = commands.add_parser("corpus", help="prepare raw text for training embeddings")
    sub = corpus.add_subparsers(dest="corpus_command", required=True)
    prepare = sub.add_parser(
        "prepare",
        help="raw documents (one per line) -> one tokenised sentence per line, de-duplicated, with a held-out slice",
        description="Tokenises with spaCy's rule-based English pipeline (PTB-style tokens). Writes DIR/train.txt, "
        "DIR/heldout.txt and DIR/stats.json (counts, and every dropped line or sentence with its reason).",
    )
    prepare.add_argument("docs", nargs="+", metavar="DOCS", help="UTF-8 text, one document per line (.gz etc. too)")
    prepare.add_argument("-o", "--output", required=True, metavar="DIR")
    prepare.add_argument(
        "--heldout", type=float, default=0.01, help="fraction of documents held out, by a hash of each (default: 0.01)"
    )
    prepare.add_argument(
        "--max-tokens", type=int, default=200, help="drop longer sentences, counted (default: 200, as pretrain)"
    )
    prepare.add_argument("--batch-size", type=int, default=256, help="documents per spaCy batch (default: 256)")
    prepare.add_argument("--limit", type=int, help="read only the first N lines (to time a run)")
    prepare.add_argument(
        "--seed", type=int, default=0, help="order of the documents in the output (default: 0); -1: input order"
    )
    add_quiet(prepare)
    prepare.set_defaults(func=_prepare)


def _prepare(args: argparse.Namespace) -> None:
    from elmo_features.corpus_prepare import prepare

    seed = None if args.seed == -1 else args.seed
    stats = prepare(
        args.docs, args.output, args.heldout, args.max_tokens, args.batch_size, args.limit, not args.quiet, seed
    )
    print(stats.summary(), file=sys.stderr)

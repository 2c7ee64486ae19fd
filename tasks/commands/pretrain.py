"""``elmo-tasks pretrain``: train a biLM on plain text, export it in the official ELMo format."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from elmo_features.errors import ElmoError
from tasks.commands import add_quiet


def add_parser(commands) -> None:
    """Register ``pretrain`` on an ``add_subparsers()`` object."""
    p = commands.add_parser(
        "pretrain",
        help="train a biLM language model on plain text; export options.json + weights.hdf5",
        description=(
            "Forward and backward LSTM language models sharing the char-CNN token encoder and a sampled "
            "softmax (bilm-tf's recipe), trained on one sentence per line. OUT_DIR gets checkpoints/, "
            "metrics.{csv,json}, vocab.txt, and the exported options.json + weights.hdf5 (usable with "
            "`elmo-tasks embed --options-file OUT/options.json --weight-file OUT/weights.hdf5`). "
            "Several processes: `torchrun --nproc_per_node N -m tasks.cli pretrain ... --devices N`, or --devices N."
        ),
    )
    p.add_argument("texts", nargs="+", metavar="TEXT", help="UTF-8 text files, one sentence per line")
    p.add_argument("-o", "--output-dir", required=True, metavar="OUT_DIR")
    arch = p.add_mutually_exclusive_group()
    arch.add_argument("--size", help="tiny, mini, small, medium or original (default: mini)")
    arch.add_argument("--options", metavar="JSON", help="an options file in the official format")
    p.add_argument(
        "--init-from",
        nargs="+",
        metavar="X",
        help="start from official weights: OPTIONS WEIGHTS, or a model name (small, medium, original); or from a "
        "pretraining run's folder, softmax included (its vocabulary unless --vocab), so held-out perplexity starts "
        "where that run ended (domain adaptation)",
    )
    p.add_argument("--vocab-size", type=int, default=50_000, help="most frequent words kept (default: 50000)")
    p.add_argument("--vocab", metavar="FILE", help="a vocabulary file (one word per line) instead of counting")
    p.add_argument("--heldout", metavar="FILE", help="held-out text: full-softmax perplexity after every epoch")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    p.add_argument("--max-time", type=float, metavar="MINUTES", help="stop (checkpoint, export) after this long")
    p.add_argument("--batch-size", type=int, default=64, help="token streams per process (default: 64)")
    p.add_argument("--unroll", type=int, default=20, help="time steps per batch (default: 20)")
    p.add_argument("--lr", type=float, help="learning rate (default: adagrad 0.2, adam 0.001)")
    p.add_argument("--optimizer", choices=("adagrad", "adam"), default="adagrad")
    p.add_argument("--precision", choices=("32", "bf16"), default="32")
    p.add_argument("--devices", type=int, default=1, help="data-parallel processes (default: 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue the run in OUT_DIR from its last checkpoint")
    p.add_argument(
        "--tokenize",
        action="store_true",
        help="raw text, one sentence per line: tokenise it with spaCy (see `corpus prepare`)",
    )
    p.add_argument("--max-tokens", type=int, default=200, help="skip lines with more tokens (default: 200)")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--n-samples", type=int, default=8192, help="sampled-softmax candidates (default: 8192)")
    p.add_argument("--checkpoint-every", type=int, default=500, metavar="STEPS")
    add_quiet(p, "--no-progress")
    p.set_defaults(func=run)


def _options_and_init(args: argparse.Namespace) -> tuple[dict, list[str] | None]:
    from elmo_features.options import BiLMOptions
    from elmo_features.pretrain.sizes import size_options

    if args.init_from:
        from elmo_features.pretrain.export import OPTIONS_FILE, WEIGHTS_FILE
        from elmo_features.pretrain.train import CHECKPOINT

        if args.size or args.options:
            raise ElmoError("--init-from brings its own options; drop --size/--options")
        if len(args.init_from) == 1 and (Path(args.init_from[0]) / CHECKPOINT).is_file():
            run = Path(args.init_from[0])  # a pretraining run: its exported files and its checkpoint's softmax
            paths = (run / OPTIONS_FILE, run / WEIGHTS_FILE, run / CHECKPOINT)
            args.vocab = args.vocab or str(run / "vocab.txt")
        elif len(args.init_from) == 1:
            from elmo_features.models import resolve

            paths = resolve(args.init_from[0])
        elif len(args.init_from) == 2:
            paths = tuple(Path(p) for p in args.init_from)
        else:
            raise ElmoError("--init-from takes OPTIONS WEIGHTS, one model name or one pretraining run folder")
        return BiLMOptions.load(paths[0]).to_dict(), [str(p) for p in paths]
    if args.options:
        return BiLMOptions.load(args.options).to_dict(), None
    return size_options(args.size or "mini"), None


def run(args: argparse.Namespace) -> None:
    from elmo_features.pretrain.train import PretrainConfig, pretrain

    options, init_from = _options_and_init(args)
    lr = args.lr if args.lr is not None else (0.2 if args.optimizer == "adagrad" else 0.001)
    cfg = PretrainConfig(
        texts=args.texts,
        out_dir=args.output_dir,
        options=options,
        init_from=init_from,
        vocab_size=args.vocab_size,
        vocab_file=args.vocab,
        heldout=args.heldout,
        epochs=args.epochs,
        max_steps=args.max_steps,
        max_time=args.max_time,
        batch_size=args.batch_size,
        unroll=args.unroll,
        lr=lr,
        optimizer=args.optimizer,
        precision=args.precision,
        devices=args.devices,
        seed=args.seed,
        resume=args.resume,
        tokenize=args.tokenize,
        max_tokens=args.max_tokens,
        dropout=args.dropout,
        n_samples=args.n_samples,
        checkpoint_every=args.checkpoint_every,
        progress=not args.quiet,
    )
    last = pretrain(cfg)
    if last and int(__import__("os").environ.get("RANK", "0")) == 0:
        print(json.dumps({"output_dir": args.output_dir, **last}))

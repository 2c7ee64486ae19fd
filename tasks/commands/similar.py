"""``elmo-tasks similar``: one word in several sentences, its ELMo vectors per layer vs its static vector.

Sentences are split on whitespace (``str.split()``) and read by the biLM as written; only
to find WORD, punctuation at either end of a token is ignored, and a sentence without a
case-sensitive match is searched lower-cased (see :mod:`tasks.similar`). Layer 0 is 1.0
only between identical token strings: write punctuation as its own token (``river .``)
to keep it off the word.
"""

from __future__ import annotations

import argparse

from elmo_features.errors import ElmoError
from tasks.commands.model_args import add_model_args, load_bilm

DEFAULT_K = 5
_CONTEXT = 8  # tokens shown either side of a neighbour


def add_parser(commands) -> None:
    """Register ``similar`` on the ``elmo-tasks`` sub-command parsers."""
    similar = commands.add_parser(
        "similar",
        help="cosine of a word's ELMo vectors across sentences, per layer, and its nearest tokens in context",
        description="Prints the pairwise cosine of WORD's vectors in the given sentences, one column per biLM "
        "layer (layer 0 is the context-free char-CNN vector), next to the static vectors' (always 1.0: one "
        "vector for every context). With --neighbours, lists the corpus tokens nearest to each occurrence "
        "(the ELMo paper's Table 4). Sentences are split on whitespace; the biLM reads tokens as written, so "
        'separate punctuation ("the bank .") to keep layer 0 identical across sentences.',
    )
    similar.add_argument("word", metavar="WORD")
    similar.add_argument(
        "--sentence",
        dest="sentences",
        action="append",
        required=True,
        metavar="S",
        help="a sentence containing WORD (repeat; whitespace-tokenised)",
    )
    similar.add_argument(
        "--vectors", metavar="FILE", help="static vectors (GloVe/word2vec/fastText) for the static column"
    )
    similar.add_argument(
        "--neighbours", metavar="CORPUS", help="list the nearest tokens in this corpus (one sentence per line)"
    )
    similar.add_argument("-k", type=int, help=f"neighbours per occurrence (default: {DEFAULT_K})")
    similar.add_argument("--layer", type=int, help="biLM layer compared for --neighbours (default: the top layer)")
    similar.add_argument("--batch-size", type=int, default=64, help="corpus sentences per biLM batch (default: 64)")
    add_model_args(similar, states=("stateless", "warm"))
    similar.set_defaults(func=_similar)


def _similar(args: argparse.Namespace) -> None:
    from elmo_features.static import load_vectors, read_corpus
    from tasks.similar import find_occurrences, nearest_in_context, pairwise_cosines, word_vectors

    sentences = [s.split() for s in args.sentences]
    if args.neighbours is None:
        if len(sentences) < 2:
            raise ElmoError("give two --sentence or more to compare, or --neighbours CORPUS to search one")
        if args.k is not None or args.layer is not None:
            raise ElmoError("-k and --layer apply to --neighbours")
    elif args.vectors is not None and len(sentences) < 2:
        raise ElmoError("--vectors adds the static column of the pairwise table: give two --sentence or more")
    k = DEFAULT_K if args.k is None else args.k
    if k < 1:
        raise ElmoError(f"-k must be at least 1, got {k}")
    find_occurrences(args.word, sentences)  # fail on bad input before loading anything large
    corpus = None
    if args.neighbours is not None:
        corpus = list(read_corpus(args.neighbours))
        if not corpus:
            raise ElmoError(f"{args.neighbours} is empty: no sentences to search")
    static = None
    if args.vectors is not None and len(sentences) >= 2:
        vectors = load_vectors(args.vectors, vocabulary={args.word})
        row = vectors.lookup(args.word)
        if row is None:
            raise ElmoError(f"{args.word!r} is not in {args.vectors} (nor lower-cased)")
        static = vectors.vectors[row]

    bilm = load_bilm(args)
    occurrences = word_vectors(bilm, args.word, sentences)
    print("sentences:")
    for i, tokens in enumerate(sentences):
        print(f"  s{i + 1}: {' '.join(tokens)}")
    if len(sentences) >= 2:
        rows = pairwise_cosines(occurrences, static)
        n_layers = len(occurrences[0].layers)
        print(f'\ncosine between the vectors of "{args.word}" (sN:T = sentence N, token T; layer 0 = char-CNN):')
        header = ["pair".ljust(14)] + [f"layer{i}".rjust(8) for i in range(n_layers)]
        if static is not None:
            header.append("static".rjust(8))
        print("  " + " ".join(header))
        for row in rows:
            pair = f"{_name(row.first)}-{_name(row.second)}".ljust(14)
            cells = [f"{c:8.3f}" for c in row.cosines]
            if row.static is not None:
                cells.append(f"{row.static:8.3f}")
            print("  " + " ".join([pair, *cells]))
    if corpus is not None:
        layer = bilm.options.n_layers if args.layer is None else args.layer
        for occurrence in occurrences:
            found = nearest_in_context(
                bilm, sentences[occurrence.sentence], occurrence.position, corpus, k, layer, args.batch_size
            )
            print(f"\nnearest to {_name(occurrence[:2])} in {args.neighbours} (layer {layer}, cosine):")
            for neighbour in found:
                print(f"  {neighbour.cosine:7.3f}  {_show(corpus[neighbour.sentence], neighbour.position)}")


def _name(where: tuple[int, int]) -> str:
    return f"s{where[0] + 1}:{where[1] + 1}"


def _show(tokens: list[str], position: int) -> str:
    """The token in [brackets] with up to ``_CONTEXT`` tokens either side."""
    start, end = max(0, position - _CONTEXT), position + _CONTEXT + 1
    shown = [*tokens[start:position], f"[{tokens[position]}]", *tokens[position + 1 : end]]
    return ("... " if start else "") + " ".join(shown) + (" ..." if end < len(tokens) else "")

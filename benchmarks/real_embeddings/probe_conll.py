"""The ELMo paper's Sec. 5.3 probe on CoNLL-2003: a token's entity type from that token's own frozen vector.

    python benchmarks/real_embeddings/probe_conll.py -o OUT_DIR \
        --static glove6b=$DATA_DIR/glove/glove.6B.50d.txt.gz glove=GLOVE.txt word2vec=W2V.txt --bilm MODEL

A logistic regression (tasks/probe.py) learns PER/LOC/ORG/MISC from the vectors of CoNLL-2003 train's
entity tokens and is scored on test's entity tokens: all of them, and the ambiguous ones (tokens whose
word type carries two or more entity types in train, e.g. "Washington" as PER and LOC). Static rows
use the embedders' lookup (the word, else its lower-cased form, else zeros); the biLM gives layers 0
(char CNN, context-free), 1 and 2. Writes OUT_DIR/probe.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from elmo_features.atomic import write_text_atomic
from elmo_features.bilm import BiLM
from elmo_features.machine import machine
from elmo_features.models import resolve_files
from elmo_features.static import load_vectors
from tasks.common.data import data_dir
from tasks.ner.reader import read_conll
from tasks.probe import bilm_featurizers, probe_accuracies, static_featurizer

Labelled = list[tuple[list[str], list[str | None]]]


def entity_types(path: Path) -> Labelled:
    """Each sentence's tokens with the entity type of each entity token (None for O)."""
    data = read_conll(path)
    return [
        (list(tokens), [None if tag == "O" else tag.partition("-")[2] for tag in tags])
        for tokens, tags in zip(data["tokens"], data["tags"], strict=True)
    ]


def ambiguous_words(train: Labelled) -> set[str]:
    """Word types seen with two or more entity types in ``train``."""
    seen: dict[str, set[str]] = defaultdict(set)
    for tokens, labels in train:
        for token, label in zip(tokens, labels, strict=True):
            if label is not None:
                seen[token].add(label)
    return {word for word, types in seen.items() if len(types) > 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output-dir", type=Path, required=True)
    parser.add_argument("--static", nargs="*", default=[], metavar="NAME=FILE", help="static vectors to probe")
    parser.add_argument("--bilm", help="a model name or OPTIONS,WEIGHTS")
    args = parser.parse_args()
    root = data_dir()
    if root is None:
        parser.error("set DATA_DIR to the folder that holds conll2003/")
    train, test = (entity_types(root / "conll2003" / f"{s}.txt") for s in ("train", "test"))
    ambiguous = ambiguous_words(train)
    tests = {
        "all": test,
        "ambiguous": [
            (tokens, [x if t in ambiguous else None for t, x in zip(tokens, xs, strict=True)]) for tokens, xs in test
        ],
    }
    counts = {name: sum(x is not None for _, xs in rows for x in xs) for name, rows in tests.items()}
    words = {t for rows in (train, test) for tokens, _ in rows for t in tokens}
    featurizers = {}
    for item in args.static:
        name, _, path = item.partition("=")
        featurizers[name] = static_featurizer(load_vectors(path, vocabulary=words))
    if args.bilm:
        model, *files = args.bilm.split(",")
        options, weights = resolve_files(None, *files) if files else resolve_files(model, None, None)
        bilm = BiLM.from_files(options, weights, state="stateless").eval()
        featurizers.update({f"biLM layer {k}": f for k, f in bilm_featurizers(bilm).items()})
    results = {}
    for name, featurize in featurizers.items():
        start = time.monotonic()
        results[name] = probe_accuracies(featurize, train, tests)
        print(f"{name}: {results[name]} ({time.monotonic() - start:.0f} s)", flush=True)
    names = list(results)
    lines = [
        "| CoNLL-2003 test, entity type from the token's own vector | tokens | " + " | ".join(names) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in names) + " |",
    ]
    for key, label in (("ambiguous", "ambiguous entity tokens"), ("all", "all entity tokens")):
        cells = " | ".join(f"{results[n][key]:.1f}" for n in names)
        lines.append(f"| {label} | {counts[key]:,} | {cells} |")
    table = "\n".join(lines) + "\n"
    print(table)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.output_dir / "probe.md", table)
    record = {"results": results, "tokens": counts, "ambiguous_word_types": len(ambiguous), "machine": machine()}
    write_text_atomic(args.output_dir / "probe.json", json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""The labelled tasks' own text, one tokenised sentence per line, for the embeddings' corpus.

    python benchmarks/real_embeddings/task_text.py OUT_DIR

Writes OUT_DIR/task-train.txt (CoNLL-2003 train + SST train sentences: part of the training corpus)
and OUT_DIR/task-heldout.txt (CoNLL-2003 valid + SST dev: the held-out text on which the earlier mini
biLM scored perplexity 120.6), read from DATA_DIR with the project's readers.
"""

from __future__ import annotations

import sys
from pathlib import Path

from elmo_features.atomic import write_text_atomic
from tasks.common.data import data_dir
from tasks.ner.reader import read_conll
from tasks.sentiment.reader import read_sst


def sentences(conll: Path, sst: Path) -> list[str]:
    tokens = list(read_conll(conll)["tokens"]) + list(read_sst(sst)["tokens"])
    return [" ".join(t) for t in tokens if t]


def main(out: str) -> None:
    root = data_dir()
    if root is None:
        sys.exit("set DATA_DIR to the folder that holds conll2003/ and sst/")
    folder = Path(out)
    for name, (conll, sst) in {"task-train": ("train", "train"), "task-heldout": ("valid", "dev")}.items():
        lines = sentences(root / "conll2003" / f"{conll}.txt", root / "sst" / f"{sst}.txt")
        write_text_atomic(folder / f"{name}.txt", "\n".join(lines) + "\n")
        print(f"{name}.txt: {len(lines):,} sentences, {sum(len(s.split()) for s in lines):,} tokens")


if __name__ == "__main__":
    main(sys.argv[1])

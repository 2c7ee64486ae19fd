"""The labelled tasks' own text, one tokenised sentence per line, for the embeddings' corpus.

    python benchmarks/real_embeddings/task_text.py OUT_DIR

Writes OUT_DIR/task-train.txt (CoNLL-2003 train + SST train sentences: part of the training corpus)
and OUT_DIR/task-heldout.txt (CoNLL-2003 valid + SST dev: the held-out text on which the earlier mini
biLM scored perplexity 120.6), read from DATA_DIR with the project's readers; and each task's text on its
own (conll-train, conll-valid, sst-train, sst-dev), which domain adaptation trains and scores on.
"""

from __future__ import annotations

import sys
from pathlib import Path

from elmo_features.atomic import write_text_atomic
from tasks.common.data import data_dir
from tasks.ner.reader import read_conll
from tasks.sentiment.reader import read_sst


def conll_text(path: Path) -> list[str]:
    return [" ".join(t) for t in read_conll(path)["tokens"] if t]


def sst_text(path: Path) -> list[str]:
    return [" ".join(t) for t in read_sst(path)["tokens"] if t]


def write(folder: Path, name: str, lines: list[str]) -> None:
    write_text_atomic(folder / f"{name}.txt", "\n".join(lines) + "\n")
    print(f"{name}.txt: {len(lines):,} sentences, {sum(len(s.split()) for s in lines):,} tokens")


def main(out: str) -> None:
    root = data_dir()
    if root is None:
        sys.exit("set DATA_DIR to the folder that holds conll2003/ and sst/")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    texts = {
        "conll-train": conll_text(root / "conll2003" / "train.txt"),
        "conll-valid": conll_text(root / "conll2003" / "valid.txt"),
        "sst-train": sst_text(root / "sst" / "train.txt"),
        "sst-dev": sst_text(root / "sst" / "dev.txt"),
    }
    write(folder, "task-train", texts["conll-train"] + texts["sst-train"])
    write(folder, "task-heldout", texts["conll-valid"] + texts["sst-dev"])
    for name, lines in texts.items():
        write(folder, name, lines)


if __name__ == "__main__":
    main(sys.argv[1])

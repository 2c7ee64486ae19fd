"""Check the readers against the real benchmark files under ``DATA_DIR`` (published counts).

These checks read ``../shared/data``, so they live here rather than in the hermetic unit suite:

    DATA_DIR=../shared/data python benchmarks/check_real_data.py

Each check prints ``ok`` or the first mismatch; the exit status is the number of failed checks.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tasks.common.data import data_dir
from tasks.ner.reader import read_conll
from tasks.ner.tags import bioul_to_iob2, spans
from tasks.qa.reader import load_split as load_squad
from tasks.sentiment.reader import read_sst


def conll2003_valid(root: Path) -> None:
    path = root / "conll2003" / "valid.txt"
    data = read_conll(path)
    assert len(data) == 3250, len(data)
    assert sum(map(len, data["tokens"])) == 51362
    entities = Counter(chunk[0] for tags in data["tags"] for chunk in spans(tags))
    assert entities == {"PER": 1842, "LOC": 1837, "ORG": 1341, "MISC": 922}, entities  # the published dev counts
    raw = [line.split()[-1] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert [tag for tags in data["tags"] for tag in bioul_to_iob2(tags)] == raw, "IOB2 -> BIOUL -> IOB2 differs"


def sst(root: Path) -> None:
    folder = root / "sst"
    train = read_sst(folder / "train.txt")
    assert len(train) == 8544
    assert [Counter(train["label"])[label] for label in range(5)] == [1092, 2218, 1624, 2322, 1288]
    assert len(read_sst(folder / "dev.txt")) == 1101
    assert len(read_sst(folder / "test.txt")) == 2210
    assert len(read_sst(folder / "test.txt", classes=2)) == 1821
    roots = read_sst(folder / "dev.txt")
    phrases = read_sst(folder / "dev.txt", phrases=True)
    assert len(phrases) == sum(2 * len(tokens) - 1 for tokens in roots["tokens"])  # binary trees: every node
    assert not any(w.startswith("-") and w.endswith("-") and w.isupper() for t in roots["tokens"] for w in t)


def squad_article_split(root: Path) -> None:
    folder = root / "squad" / "article-split"
    sizes = {name: len(load_squad(folder / f"{name}.json", name).examples) for name in ("train", "dev", "test")}
    assert sizes == {"train": 6407, "dev": 1386, "test": 2777}, sizes


CHECKS: list[Callable[[Path], None]] = [conll2003_valid, sst, squad_article_split]


def main() -> int:
    root = data_dir()
    if root is None:
        print("set DATA_DIR to the folder that holds conll2003/, sst/ and squad/", file=sys.stderr)
        return 1
    failed = 0
    for check in CHECKS:
        try:
            check(root)
            print(f"{check.__name__}: ok")
        except (AssertionError, OSError) as err:
            failed += 1
            print(f"{check.__name__}: FAILED {err!r}")
    return failed


if __name__ == "__main__":
    sys.exit(main())

"""SST PTB-tree files, ``label<TAB>text`` TSV files (and hub datasets) as ``datasets.Dataset``s.

Rows: ``tokens`` (list of words), ``label`` (int) and ``line``, the 1-based line of the tree or
TSV row in its file (for hub data, the 1-based row number).

Trees (the Stanford Sentiment Treebank release, one tree per line, a 0-4 label on every node):

- ``phrases=False`` gives one example per tree (its root); ``phrases=True`` gives one example per
  node, the root first then its phrases in pre-order, all sharing the tree's ``line``. Phrases are
  *not* deduplicated (the same phrase in two trees, or a word seen twice, is two examples), as in
  allennlp's ``use_subtrees`` reader that Peters et al. (2018) trained on. Evaluate on roots.
- ``classes=2`` is SST-2: nodes labelled 2 (neutral) are dropped, 0-1 become 0 (negative) and 3-4
  become 1 (positive); otherwise labels stay 0-4 (SST-5).
- PTB escapes in words are undone: ``-LRB-`` ``-RRB-`` (and ``-LSB-`` ``-RSB-`` ``-LCB-`` ``-RCB-``)
  become brackets, ``\\/`` and ``\\*`` become ``/`` and ``*``, so tokens read like the TSV releases.
  Tree text is split on ASCII whitespace only (SST train has a word ``8\\xa01\\/2``).

TSV: ``label<TAB>text`` without a header, or with a header row naming the columns in either order
(``label<TAB>text``, ``sentence<TAB>label`` as in GLUE SST-2); text is split on whitespace.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import datasets

from elmo_features.errors import ElmoError
from elmo_features.text_lines import file_lines
from tasks.common.data import hub_name, load_hub_split, split_file

FEATURES = datasets.Features(
    {
        "tokens": datasets.Sequence(datasets.Value("string")),
        "label": datasets.Value("int64"),
        "line": datasets.Value("int64"),
    }
)
HUB_SPLITS = {"dev": "validation", "valid": "validation"}
PTB_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
_TOKEN = re.compile(r"\(|\)|[^ \t\n\r\f\v()]+")  # ASCII spaces only: SST has a word "8\xa01\/2"
_TEXT_HEADERS = ("text", "sentence")


@dataclass(frozen=True)
class Node:
    """A tree node: its 0-4 ``label``, and either ``children`` (inner node) or a ``word`` (leaf)."""

    label: int
    children: tuple[Node, ...] = field(default=())
    word: str | None = None

    def nodes(self) -> list[Node]:
        """This node and every node below it, in pre-order (root first)."""
        out, stack = [], [self]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return out

    def leaves(self) -> list[str]:
        """The words under this node, left to right."""
        return [node.word for node in self.nodes() if node.word is not None]


def unescape(word: str) -> str:
    """Undo the PTB escapes used in SST leaves."""
    return PTB_ESCAPES.get(word, word.replace("\\/", "/").replace("\\*", "*"))


def parse_tree(line: str) -> Node:
    """Parse one PTB tree such as ``(3 (2 It) (4 (2 's) (3 lovely)))``. Raises :class:`ElmoError`
    on unbalanced parentheses, a label outside 0-4, or a malformed node."""
    tokens = _TOKEN.findall(line)
    if not tokens:
        raise ElmoError("empty tree")
    if tokens[0] != "(":
        raise ElmoError(f"expected '(' at the start of the tree, found {tokens[0]!r}")
    # stack of open nodes: [label, children, word]
    stack: list[list] = []
    root: Node | None = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if root is not None:
            raise ElmoError(f"unbalanced parentheses: text after the tree closed ({token!r})")
        if token == "(":
            if stack and stack[-1][2] is not None:
                raise ElmoError(f"node has both a word ({stack[-1][2]!r}) and subtrees")
            if i + 1 >= len(tokens):
                raise ElmoError(f"unbalanced parentheses: missing {len(stack) + 1} ')'")
            if tokens[i + 1] in "()":
                raise ElmoError(f"'(' without a label (found {tokens[i + 1]!r})")
            label = tokens[i + 1]
            if label not in ("0", "1", "2", "3", "4"):
                raise ElmoError(f"label {label!r} is not 0-4")
            stack.append([int(label), [], None])
            i += 2
            continue
        if token == ")":
            if not stack:
                raise ElmoError("unbalanced parentheses: unexpected ')'")
            label, children, word = stack.pop()
            if not children and word is None:
                raise ElmoError(f"node labelled {label} has no word and no subtrees")
            node = Node(label, tuple(children), None if word is None else unescape(word))
            if stack:
                stack[-1][1].append(node)
            else:
                root = node
        else:
            if not stack:
                raise ElmoError(f"word {token!r} outside the tree")
            top = stack[-1]
            if top[1] or top[2] is not None:
                raise ElmoError(f"unexpected word {token!r} (a leaf holds one word, an inner node only subtrees)")
            top[2] = token
        i += 1
    if root is None:
        raise ElmoError(f"unbalanced parentheses: missing {len(stack)} ')'")
    return root


def _sst2(label: int) -> int | None:
    return None if label == 2 else int(label > 2)


def _dataset(tokens: list[list[str]], labels: list[int], lines: list[int], where: str) -> datasets.Dataset:
    if not tokens:
        raise ElmoError(f"{where}: no examples")
    return datasets.Dataset.from_dict({"tokens": tokens, "label": labels, "line": lines}, features=FEATURES)


def _check_classes(classes: int) -> None:
    if classes not in (2, 5):
        raise ElmoError(f"classes must be 5 (SST-5) or 2 (SST-2), not {classes!r}")


def read_sst(path: str | os.PathLike, classes: Literal[5, 2] = 5, phrases: bool = False) -> datasets.Dataset:
    """Read an SST tree file (one PTB tree per line; blank lines skipped): roots only, or every
    phrase node with ``phrases=True``; ``classes=2`` maps to SST-2 (see the module docstring)."""
    _check_classes(classes)
    path = Path(path)
    tokens: list[list[str]] = []
    labels: list[int] = []
    lines: list[int] = []
    for number, line in file_lines(path, "SST tree"):
        if not line.strip():
            continue
        try:
            root = parse_tree(line)
        except ElmoError as err:
            raise ElmoError(f"{path}:{number}: {err}") from None
        for node in root.nodes() if phrases else [root]:
            label = node.label if classes == 5 else _sst2(node.label)
            if label is not None:
                tokens.append(node.leaves())
                labels.append(label)
                lines.append(number)
    return _dataset(tokens, labels, lines, str(path))


def _header(fields: list[str]) -> tuple[int, int] | None:
    """(label column, text column) when ``fields`` is a header row naming both, else None."""
    names = [name.strip().lower() for name in fields]
    if len(names) == 2 and "label" in names:
        other = names[1 - names.index("label")]
        if other in _TEXT_HEADERS:
            return names.index("label"), 1 - names.index("label")
    return None


def _label(text: str, classes: int) -> int | None:
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and int(text) < classes else None  # not "²" or "٣"


def read_tsv(path: str | os.PathLike, classes: Literal[5, 2] = 2) -> datasets.Dataset:
    """Read ``label<TAB>text`` rows (labels 0..classes-1); an optional header row names the columns
    in either order (``label``, and ``text`` or ``sentence``). Blank lines are skipped."""
    _check_classes(classes)
    path = Path(path)
    tokens: list[list[str]] = []
    labels: list[int] = []
    lines: list[int] = []
    label_column = None
    for number, line in file_lines(path, "TSV"):
        if not line.strip():
            continue
        if label_column is None:
            columns = _header(line.split("\t"))
            label_column = 0 if columns is None else columns[0]
            if columns is not None:
                continue
        if label_column == 0:
            label_text, tab, text = line.partition("\t")
        else:
            text, tab, label_text = line.rpartition("\t")
        if not tab or not label_text.strip():
            raise ElmoError(f"{path}:{number}: no label (expected {_layout(label_column)})")
        label = _label(label_text, classes)
        if label is None:
            raise ElmoError(f"{path}:{number}: label {label_text.strip()!r} is not 0-{classes - 1}")
        words = text.split()
        if not words:
            raise ElmoError(f"{path}:{number}: empty text")
        tokens.append(words)
        labels.append(label)
        lines.append(number)
    return _dataset(tokens, labels, lines, str(path))


def _layout(label_column: int) -> str:
    return "label<TAB>text" if label_column == 0 else "text<TAB>label"


def load_split(
    source: str | os.PathLike = "sst",
    split: str = "train",
    classes: Literal[5, 2] = 5,
    phrases: bool = False,
) -> datasets.Dataset:
    """One split from a tree file (``.tsv``: a TSV file), a folder holding ``<split>.txt`` or
    ``<split>.tsv`` (relative names also looked up under :func:`data_dir`, so the default ``"sst"``
    is ``$DATA_DIR/sst``), or a hub dataset ``hub:NAME`` (``sentence`` or ``text`` + ``label``
    columns, e.g. ``"hub:stanfordnlp/sst2"``, ``"hub:SetFit/sst5"``; never runs remote code).
    ``phrases`` needs tree files; a hub set with labels 0-4 is mapped to SST-2 for ``classes=2``."""
    _check_classes(classes)
    name = hub_name(source)
    if name is not None:
        if phrases:
            raise ElmoError(f"{source}: phrases=True needs SST tree files (a path or DATA_DIR/sst), not a hub dataset")
        return _from_hub(name, split, classes)
    path = split_file(source, split, (".txt", ".tsv"), "SST")
    if path.suffix == ".tsv":
        if phrases:
            raise ElmoError(f"{path}: phrases=True needs SST tree files, not TSV")
        return read_tsv(path, classes)
    return read_sst(path, classes, phrases)


def _from_hub(name: str, split: str, classes: int) -> datasets.Dataset:
    split = HUB_SPLITS.get(split, split)
    data = load_hub_split(
        name, split, "pass a local SST tree or TSV file path, or set DATA_DIR to the folder that holds sst/"
    )
    where = f"{name}[{split}]"
    text_column = next((c for c in _TEXT_HEADERS if c in data.column_names), None)
    if text_column is None or "label" not in data.column_names:
        has = ", ".join(data.column_names)
        raise ElmoError(f"{where}: needs a 'label' and a 'text' or 'sentence' column (has {has})")
    columns = data.select_columns([text_column, "label"]).to_dict()
    five = classes == 2 and any(label not in (0, 1) for label in columns["label"])
    tokens: list[list[str]] = []
    labels: list[int] = []
    lines: list[int] = []
    for row, (text, label) in enumerate(zip(columns[text_column], columns["label"], strict=True), start=1):
        if not isinstance(label, int) or not 0 <= label < (5 if five else classes):
            raise ElmoError(f"{where} row {row}: label {label!r} is not 0-{(5 if five else classes) - 1}")
        words = (text or "").split()
        if not words:
            raise ElmoError(f"{where} row {row}: empty text")
        mapped = _sst2(label) if five else label
        if mapped is not None:
            tokens.append(words)
            labels.append(mapped)
            lines.append(row)
    return _dataset(tokens, labels, lines, where)

"""Static word vectors: GloVe / word2vec / fastText files, the OOV policy, word2vec training.

Formats (``format=``): ``glove`` (text, no header), ``word2vec`` and ``fasttext`` (text
with a ``count dim`` header line; fastText's ``.vec`` is this format), ``word2vec-binary``
(the C tool's binary), ``auto`` (the header and binary data are detected). gzip, bz2, xz
and zip are opened transparently, recognised by their first bytes; a member of a zip
holding several files is named as ``archive.zip/member.txt``. GloVe 840B's few words
that contain spaces are read (the last ``dim`` fields are the vector).

Lookup: exact first, then the lower-cased word (``Paris`` falls back to ``paris``).

OOV policy (:func:`build_matrix`): the task vocabulary's row 0 is padding (zeros, never
looked up) and row 1 is the shared unknown row for words outside the task vocabulary;
every task word found in the vectors (exactly, else lower-cased) gets its vector, and
every other row, the unknown row included, is drawn from N(0, std of the loaded
vectors) with a fixed seed (std 1, like ``torch.nn.Embedding``, without vectors). The
rows train when the embedder is trainable and stay fixed random vectors otherwise.

Files written here (:meth:`StaticVectors.save_text`) are the word2vec text format with
its header (what gensim, fastText and ``load_vectors`` read without being told), via a
temporary file renamed at the end: an error never leaves half a file.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import lzma
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

import numpy as np

from elmo_features.atomic import atomic_open, check_output
from elmo_features.errors import ElmoError
from elmo_features.progress import Progress
from elmo_features.text_lines import BOM, decode_lines

FORMATS = ("auto", "glove", "word2vec", "word2vec-binary", "fasttext")
_SNIFF = 1 << 16
_FASTTEXT_BIN = b"\xba\x16\x4f\x2f"  # magic int of fastText's .bin models
_TEXT_FLOAT = b"0123456789.-+eEnaifNAIF \t\r\n"
_BOM = BOM.encode("utf-8")  # dropped from the start of a text line, as every text input (text_lines)
_W2V_MAX_WORDS = 10000  # gensim truncates longer sentences silently; we split them instead


@dataclass
class StaticVectors:
    """Words and their float32 vectors, row ``i`` for ``words[i]``; ``index`` is built once."""

    words: list[str]
    vectors: np.ndarray

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, dtype=np.float32)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise ValueError(f"vectors of shape {self.vectors.shape} for {len(self.words)} words")

    def __len__(self) -> int:
        return len(self.words)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @cached_property
    def index(self) -> dict[str, int]:
        """word -> row (the first row of a repeated word)."""
        index: dict[str, int] = {}
        for row, word in enumerate(self.words):
            index.setdefault(word, row)
        return index

    def lookup(self, word: str) -> int | None:
        """Row of ``word``: exact, else lower-cased, else None."""
        row = self.index.get(word)
        return self.index.get(word.lower()) if row is None else row

    def neighbours(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` words nearest to ``word`` by cosine (itself left out)."""
        row = self.lookup(word)
        if row is None:
            raise ElmoError(f"{word!r} is not in the vectors")
        norms = np.linalg.norm(self.vectors, axis=1)
        cosine = self.vectors @ self.vectors[row] / np.maximum(norms * norms[row], 1e-12)
        cosine[row] = -np.inf
        best = np.argsort(-cosine, kind="stable")[: min(k, len(self) - 1)]
        return [(self.words[i], float(cosine[i])) for i in best]

    def save_text(self, path: str | Path, header: bool = True) -> None:
        """Write the word2vec text format (``header=False``: GloVe's); atomic."""
        with atomic_open(path) as out:
            if header:
                out.write(f"{len(self)} {self.dim}\n".encode())
            row_format = " ".join(["%.9g"] * self.dim)  # 9 significant digits: float32 round-trips exactly
            for word, row in zip(self.words, self.vectors, strict=True):
                if not word or any(c in word for c in " \t\n\r"):
                    raise ElmoError(f"cannot write word {word!r}: the text format splits on whitespace")
                out.write(f"{word} {row_format % tuple(row.tolist())}\n".encode())


def load_vectors(path: str | Path, vocabulary: Iterable[str] | None = None, format: str = "auto") -> StaticVectors:
    """Read a vectors file; with ``vocabulary``, keep only the rows those words need.

    A row is kept when its word equals a vocabulary word or its lower-cased form, so
    memory is O(kept rows), not O(file). That filtered read streams the file through the
    small readers below, because gensim's loader has no filter and would hold a 400k x 300
    file whole; they also read zip members (gensim opens paths only) and name the bad
    line when gensim rejects a file. Without a vocabulary, plain and .gz/.bz2 files go to
    gensim's ``KeyedVectors.load_word2vec_format``.
    """
    if format not in FORMATS:
        raise ElmoError(f"unknown vectors format {format!r} (valid: {', '.join(FORMATS)})")
    source = _Source.resolve(path)
    binary, header, bom = _sniff(source, format)
    wanted = None
    if vocabulary is not None:
        wanted = set()
        for word in vocabulary:
            wanted.update((word.encode("utf-8"), word.lower().encode("utf-8")))
    if wanted is None and source.gensim_ok and not bom:  # gensim would keep a BOM inside the first word
        loaded = _load_gensim(source, binary, header)
        if loaded is not None:
            return loaded
    with source.open() as stream:
        if binary:
            return _read_binary(stream, source.name, header, wanted)
        return _read_text(stream, source.name, header, wanted)


def build_matrix(
    vectors: StaticVectors | None, vocabulary: list[str], dim: int, seed: int = 0
) -> tuple[np.ndarray, int]:
    """Embedding matrix for a task vocabulary and how many of its words were found.

    ``vocabulary[0]`` is padding (zero row) and ``vocabulary[1]`` the unknown word; the
    rest follow the module's OOV policy. The random rows depend only on ``seed`` and the
    matrix shape, not on which words were found.
    """
    if len(vocabulary) < 2:
        raise ElmoError("a task vocabulary starts with the padding and unknown tokens")
    found = vectors is not None and len(vectors) > 0
    if found and vectors.dim != dim:
        raise ElmoError(f"embedding dim {dim} does not match the vectors' dim {vectors.dim}")
    scale = (float(vectors.vectors.std()) or 1.0) if found else 1.0
    matrix = np.random.default_rng(seed).normal(0.0, scale, (len(vocabulary), dim)).astype(np.float32)
    matrix[0] = 0.0
    hits = 0
    if found:
        for i, word in enumerate(vocabulary[2:], start=2):
            row = vectors.lookup(word)
            if row is not None:
                matrix[i] = vectors.vectors[row]
                hits += 1
    return matrix, hits


def coverage(vectors: StaticVectors, words: Sequence[str]) -> dict[str, int]:
    """How many of ``words`` the vectors hold exactly, only lower-cased (``Paris`` as ``paris``), or not at all."""
    exact = sum(w in vectors.index for w in words)
    lower = sum(w not in vectors.index and w.lower() in vectors.index for w in words)
    return {"words": len(words), "exact": exact, "lower_cased": lower, "missing": len(words) - exact - lower}


def fingerprint(path: str | Path) -> str:
    """The size and a sha256 of the first and last MiB of a vectors file (of its zip, for a member):
    cheap on a 5 GB file, and different when the file is replaced."""
    path = _Source.resolve(path).path
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read(1 << 20))
        handle.seek(max(size - (1 << 20), 0))
        digest.update(handle.read(1 << 20))
    return f"{size}:{digest.hexdigest()[:16]}"


def read_corpus(path: str | Path) -> Iterator[list[str]]:
    """Whitespace tokens of each non-empty line of a UTF-8 corpus (compressed or not), streamed."""
    source = _Source.resolve(path, what="corpus")
    with source.open() as stream:
        for _, line in decode_lines(stream, source.name):
            tokens = line.split()
            if tokens:
                yield tokens


def train_word2vec(
    corpus: str | Path,
    output: str | Path,
    dim: int = 100,
    sg: bool = True,
    window: int = 5,
    min_count: int = 2,
    epochs: int = 5,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
) -> StaticVectors:
    """Skip-gram (``sg``) or CBOW word2vec with gensim; written as text. Deterministic with ``workers=1``."""
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    check_positive(dim=dim, window=window, min_count=min_count, epochs=epochs, workers=workers)
    check_output(output)
    sentences = _Sentences(corpus)
    model = Word2Vec(
        vector_size=dim, sg=int(sg), window=window, min_count=min_count, epochs=epochs, seed=seed, workers=workers
    )
    model.build_vocab(sentences)
    if model.corpus_total_words == 0:
        raise ElmoError(f"{corpus} is empty: no words to train on")
    if len(model.wv) == 0:
        raise ElmoError(f"{corpus}: no word occurs {min_count} times or more; lower --min-count")

    class _Epochs(CallbackAny2Vec):
        def __init__(self, bar: Progress) -> None:
            self.bar, self.done = bar, 0

        def on_epoch_end(self, model: Word2Vec) -> None:
            self.done += 1
            self.bar.set_postfix(epoch=f"{self.done}/{epochs}")

    with Progress("word2vec", model.corpus_count * epochs, "sent", enabled=progress) as bar:
        sentences.bar = bar  # counts the sentences gensim reads, so a long epoch shows progress too
        model.train(sentences, total_examples=model.corpus_count, epochs=epochs, callbacks=[_Epochs(bar)])
    vectors = StaticVectors(list(model.wv.index_to_key), model.wv.vectors.copy())
    vectors.save_text(output)
    return vectors


def check_positive(**values: float) -> None:
    """One-line error for the first setting that is not > 0."""
    for name, value in values.items():
        if not value > 0:
            raise ElmoError(f"{name.replace('_', '-')} must be positive, got {value}")


class _Sentences:
    """Re-iterable corpus for gensim; lines longer than gensim's limit are split, not cut."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self.bar: Progress | None = None  # updated per sentence read, once set

    def __iter__(self) -> Iterator[list[str]]:
        for tokens in read_corpus(self.path):
            for start in range(0, len(tokens), _W2V_MAX_WORDS):
                yield tokens[start : start + _W2V_MAX_WORDS]
                if self.bar is not None:
                    self.bar.update()


@dataclass
class _Source:
    """A file, or a member of a zip, opened as decompressed bytes."""

    path: Path
    name: str
    compression: str  # "", gzip, bz2, xz, zip
    member: str | None = None

    @classmethod
    def resolve(cls, path: str | Path, what: str = "vectors file") -> _Source:
        path = Path(path)
        member = None
        if not path.exists():
            archive = next((p for p in path.parents if p.is_file()), None)
            if archive is None or not zipfile.is_zipfile(archive):
                raise ElmoError(f"{what} not found: {path}")
            member, path = path.relative_to(archive).as_posix(), archive
        if path.is_dir():
            raise ElmoError(f"{what} is a directory, not a file: {path}")
        with open(path, "rb") as f:
            magic = f.read(6)
        kinds = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip"}
        compression = next((kind for head, kind in kinds.items() if magic.startswith(head)), "")
        if member is not None and compression != "zip":
            raise ElmoError(f"{what} not found: {path / member}")
        return cls(path, str(path if member is None else path / member), compression, member)

    @property
    def gensim_ok(self) -> bool:
        """gensim (smart_open) picks decompression by extension and cannot open zip members."""
        suffix = {"": None, "gzip": ".gz", "bz2": ".bz2"}.get(self.compression, "?")
        return suffix is None or self.path.suffix == suffix

    @contextlib.contextmanager
    def open(self) -> Iterator[BinaryIO]:
        opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}.get(self.compression, open)
        try:
            if self.compression == "zip":
                with zipfile.ZipFile(self.path) as archive, archive.open(self._member(archive)) as stream:
                    yield stream
            else:
                with opener(self.path, "rb") as stream:
                    yield stream
        except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as err:
            raise ElmoError(f"{self.name}: cannot read ({self.compression or 'file'}): {err}") from None

    def _member(self, archive: zipfile.ZipFile) -> str:
        files = [info.filename for info in archive.infolist() if not info.is_dir()]
        if self.member is not None:
            if self.member not in files:
                raise ElmoError(f"{self.path} has no member {self.member!r} (it holds: {', '.join(files[:5])})")
            return self.member
        if len(files) != 1:
            listed = ", ".join(files[:5]) + (", ..." if len(files) > 5 else "")
            if not files:
                raise ElmoError(f"{self.path} is an empty zip")
            raise ElmoError(f"{self.path} holds {len(files)} files ({listed}); name one as {self.path}/MEMBER")
        return files[0]


def _sniff(source: _Source, format: str) -> tuple[bool, tuple[int, int] | None, bool]:
    """(binary, header, starts with a BOM) from the first bytes, checked against an explicit ``format``."""
    with source.open() as stream:
        head = stream.read(_SNIFF)
    bom = head.startswith(_BOM)
    head = head.removeprefix(_BOM)
    if not head.strip():
        raise ElmoError(f"{source.name} is empty: no vectors")
    if head.startswith(_FASTTEXT_BIN):
        raise ElmoError(f"{source.name} is a fastText binary model; give its .vec text file")
    first, _, rest = head.partition(b"\n")
    fields = first.split()
    header = (int(fields[0]), int(fields[1])) if len(fields) == 2 and all(f.isdigit() for f in fields) else None
    binary = header is not None and _looks_binary(rest, header[1])
    if binary and format in ("glove", "word2vec", "fasttext"):
        raise ElmoError(f"{source.name} is binary, not {format} text; use format 'word2vec-binary' (or 'auto')")
    if format == "glove" and header is not None:
        raise ElmoError(f"{source.name}:1: a 'count dim' header, so word2vec/fastText text, not glove (use 'auto')")
    if format in ("word2vec", "word2vec-binary", "fasttext") and header is None:
        raise ElmoError(f"{source.name}:1: no 'count dim' header line, so not {format} (GloVe text? use 'auto')")
    if format == "word2vec-binary" and not binary:
        raise ElmoError(f"{source.name} is text, not word2vec binary; use format 'word2vec' (or 'auto')")
    bad = -1 if binary else _first_binary_byte(head)
    if bad >= 0:
        line = head.count(b"\n", 0, bad) + 1
        raise ElmoError(
            f"{source.name}:{line}: binary data (byte 0x{head[bad]:02x}) in a text vectors file; "
            "for word2vec binary use format 'word2vec-binary'"
        )
    return binary, header, bom


def _looks_binary(rest: bytes, dim: int) -> bool:
    """After a header: is the first vector raw float32 bytes rather than ``dim`` numbers in text?"""
    start = rest.find(b" ") + 1
    text, newline, _ = rest[start : start + 4 * dim].partition(b"\n")
    if text.translate(None, _TEXT_FLOAT):
        return True  # bytes no float text has
    # a short line: text with the wrong count of numbers, or floats that happen to hold a 0x0a byte
    return bool(newline) and len(text.split()) != dim and _first_binary_byte(rest) >= 0


def _first_binary_byte(data: bytes) -> int:
    """Offset of the first NUL or invalid UTF-8 byte in ``data`` (a prefix of a file), else -1."""
    nul = data.find(b"\0")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.reason != "unexpected end of data":  # not just a character cut by the end of the prefix
            return err.start if nul < 0 else min(nul, err.start)
    return nul


def _load_gensim(source: _Source, binary: bool, header: tuple[int, int] | None) -> StaticVectors | None:
    """gensim's loader; None when it rejects the file (our reader then names the problem)."""
    from gensim.models import KeyedVectors

    try:
        kv = KeyedVectors.load_word2vec_format(str(source.path), binary=binary, no_header=header is None)
    except Exception:  # any rejection: the streaming reader explains it, or copes (e.g. spaced words)
        return None
    return StaticVectors(list(kv.index_to_key), kv.vectors) if kv.vector_size else None


def _read_text(stream: BinaryIO, name: str, header: tuple[int, int] | None, wanted: set[bytes] | None) -> StaticVectors:
    count, dim = header if header else (None, None)
    where = "the header"
    words: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[bytes] = set()
    read = 0
    for number, raw in enumerate(stream, start=1):
        if header and number == 1:
            continue
        line = raw.rstrip().removeprefix(_BOM)
        if not line:
            continue
        if read == count:
            break  # rows past the header's count are ignored, as gensim does
        read += 1
        word, _, values = line.partition(b" ")
        size = values.count(b" ") + 1 if values else 0
        if dim is None:
            if size == 0:
                raise ElmoError(f"{name}:{number}: a word without a vector")
            dim, where = size, f"line {number}"
        if size != dim:
            word, values = _spaced_word(line, dim, f"{name}:{number}: {size} values where {where} has {dim}")
        if (wanted is not None and word not in wanted) or word in seen:
            continue
        seen.add(word)
        try:
            rows.append(np.array(values.split(b" "), dtype=np.float32))
        except ValueError:
            bad = next(v for v in values.split(b" ") if not _is_number(v))
            raise ElmoError(f"{name}:{number}: {bad.decode(errors='replace')!r} is not a number") from None
        try:
            words.append(word.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise ElmoError(f"{name}:{number}: not valid UTF-8 (byte 0x{word[err.start]:02x})") from None
    if count is not None and read < count:
        raise ElmoError(f"{name}: the header promises {count} vectors but the file ends after {read} (truncated?)")
    return StaticVectors(words, np.stack(rows) if rows else np.zeros((0, dim or 0), np.float32))


def _spaced_word(line: bytes, dim: int, problem: str) -> tuple[bytes, bytes]:
    """GloVe 840B has words with spaces: the last ``dim`` fields are the vector; else a dimension error."""
    parts = line.split(b" ")
    if len(parts) > dim + 1 and not _is_number(parts[-dim - 1]):
        return b" ".join(parts[:-dim]), b" ".join(parts[-dim:])
    raise ElmoError(f"{problem} (inconsistent dimensions)")


def _is_number(field: bytes) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _read_binary(
    stream: BinaryIO, name: str, header: tuple[int, int] | None, wanted: set[bytes] | None
) -> StaticVectors:
    count, dim = header
    size = 4 * dim
    stream.readline()  # the header
    buffer, start = b"", 0
    words: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[bytes] = set()
    for i in range(count):
        while True:
            space = buffer.find(b" ", start)
            if space >= 0 and len(buffer) - space - 1 >= size:
                break
            more = stream.read(1 << 20)
            if not more:
                raise ElmoError(f"{name}: the header promises {count} vectors but the file ends after {i} (truncated?)")
            buffer, start = buffer[start:] + more, 0
        word = buffer[start:space].lstrip(b"\n")
        if (wanted is None or word in wanted) and word not in seen:
            seen.add(word)
            try:
                words.append(word.decode("utf-8"))
            except UnicodeDecodeError:
                raise ElmoError(f"{name}: vector {i + 1}: the word is not valid UTF-8 ({word[:20]!r})") from None
            rows.append(np.frombuffer(buffer, dtype="<f4", count=dim, offset=space + 1).copy())
        start = space + 1 + size
    return StaticVectors(words, np.stack(rows) if rows else np.zeros((0, dim), np.float32))

"""Frozen biLM layers on disk: computed once per unique sentence, read by every later epoch and run.

Layout: ``root / fingerprint[:16] /`` holds immutable shard files (``<random>.shard``), each
written to a temporary name and renamed, so a shard on disk is always complete. A shard is
self-describing: magic, a JSON header (format version, the full fingerprint, its sentence
index key -> (row, length), the sha256 of its data) followed by the header's own sha256,
and float16 rows, token-major, so one
sentence is one contiguous slice. A row is ``[x | fwd_1 bwd_1 | ... | fwd_L bwd_L]``: layer 0
is ``[x, x]``, so ``x`` is stored once (a sixth less disk for the 2-layer models).

- The fingerprint hashes the format version, the options, the state mode (with the warm-up
  text when ``warm``), the bf16 flag and every weight tensor: another model never reads this
  folder's shards, and a foreign shard copied in is refused by its header.
- There is no manifest: the rename is the commit, so a killed build leaves only complete
  shards (and a stale temporary file, removed by the next build) and resumes where it
  stopped. A shard whose header, size or checksum is wrong is never used: it is deleted
  (with a warning) and its sentences are computed again.
- Builders hold an exclusive ``flock`` on ``.lock``; readers take no lock: shards never change
  once renamed, and a reader that mapped a shard keeps it even if a builder deletes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from elmo_features.atomic import atomic_path
from elmo_features.bilm import WARM_UP_TEXT, BiLM
from elmo_features.errors import ElmoError
from elmo_features.models import cache_root
from elmo_features.progress import Progress

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: builders are not serialised
    fcntl = None

FORMAT_VERSION = 1
MAGIC = b"ELMOFC\x00\x01"
SUFFIX = ".shard"
SHARD_TOKENS = 8_192  # tokens per shard: bounds the build buffer (40 MB for the original model) and lost work
BATCH_TOKENS = 4_096  # padded tokens per biLM batch: bounds its activations
ALIGN = 64


def default_root() -> Path:
    """``$ELMO_TASKS_FEATURE_CACHE``, else ``cache_root() / "features"``."""
    env = os.environ.get("ELMO_TASKS_FEATURE_CACHE")
    return Path(env) if env else cache_root() / "features"


def sentence_key(tokens: Sequence[str]) -> bytes:
    """16-byte key of a token sequence (JSON-encoded first: no two sequences share it)."""
    return hashlib.blake2b(
        json.dumps(list(tokens), ensure_ascii=False).encode("utf-8", "surrogatepass"), digest_size=16
    ).digest()


def fingerprint(bilm: BiLM) -> str:
    """sha256 of everything that decides the layers: format, options, state mode, bf16, weights."""
    meta = {
        "format": FORMAT_VERSION,
        "options": bilm.options.to_dict(),
        "state": bilm.state,
        "warm_up": WARM_UP_TEXT if bilm.state == "warm" else None,
        "bf16": bool(bilm.bf16),
    }
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for name, tensor in sorted(bilm.state_dict().items()):
        array = tensor.detach().float().cpu().contiguous().numpy()
        digest.update(f"{name}{tuple(array.shape)}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


@dataclass
class BuildStats:
    """What :meth:`FeatureCache.build` did. ``tokens`` counts the unique sentences' tokens."""

    sentences: int = 0
    unique: int = 0
    tokens: int = 0
    new: int = 0
    new_tokens: int = 0
    shards: int = 0
    seconds: float = 0.0
    size_bytes: int = 0


@dataclass
class _Shard:
    path: Path
    keys: list[bytes]
    rows: int
    data_offset: int
    sha256: str
    verified: bool = False
    array: np.ndarray | None = field(default=None, repr=False)


class _BadShard(Exception):
    pass


class FeatureCache:
    """Float16 biLM layers on disk for one biLM (``stateless`` or ``warm``; ``stateful`` is refused).

    ``get`` has the contract of ``BiLM.forward`` (boundaries removed, padding zero), on the
    CPU, and computes and stores the sentences it does not find unless ``build_missing=False``.
    The biLM must not change once the cache is made (its fingerprint is taken here).
    """

    def __init__(self, bilm: BiLM, root: str | Path | None = None, shard_tokens: int = SHARD_TOKENS) -> None:
        if bilm.state == "stateful":
            raise ElmoError(
                "the feature cache needs a deterministic state mode (stateless or warm): "
                "in stateful mode a sentence's layers depend on the sentences before it"
            )
        self.bilm = bilm
        self.root = Path(root) if root is not None else default_root()
        self.fingerprint = fingerprint(bilm)
        self.folder = self.root / self.fingerprint[:16]
        self.shard_tokens = shard_tokens
        p, n = bilm.options.projection_dim, bilm.options.n_layers
        self.projection_dim, self.n_layers, self.width = p, n, p * (2 * n + 1)
        self._mode = (bilm.state, bool(bilm.bf16))
        self._shards: dict[Path, _Shard] = {}
        self._index: dict[bytes, tuple[_Shard, int, int]] = {}  # key -> (shard, first row, length)
        self._refused: set[Path] = set()
        self._refresh()

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self._index)

    def contains(self, tokens: Sequence[str]) -> bool:
        """Whether the sentence is on disk (an empty sentence always is)."""
        if not tokens:
            return True
        key = sentence_key(tokens)
        if key not in self._index:
            self._refresh()
        return key in self._index

    __contains__ = contains

    def size_bytes(self) -> int:
        """Bytes of the shard files on disk."""
        total = 0
        for path in self.folder.glob(f"*{SUFFIX}") if self.folder.is_dir() else ():
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    def get(self, sentences: Sequence[Sequence[str]], build_missing: bool = True) -> tuple[Tensor, Tensor]:
        """Sentences -> (layers (L+1, B, T, 2P) float32, mask (B, T) bool), like ``BiLM.forward``."""
        self._check_mode()
        sentences = [list(s) for s in sentences]
        keys = [sentence_key(s) if s else b"" for s in sentences]
        for _ in range(3):  # each retry follows a shard found bad (and dropped)
            missing = {k: s for k, s in zip(keys, sentences, strict=True) if s and k not in self._index}
            if missing:
                self._refresh()
                missing = {k: s for k, s in missing.items() if k not in self._index}
            if missing:
                if not build_missing:
                    raise ElmoError(
                        f"{len(missing)} of {len(sentences)} sentences are not in the feature cache {self.folder}; "
                        "build it first (elmo-tasks cache build)"
                    )
                with self._locked():
                    self._refresh()
                    self._write_new([s for k, s in missing.items() if k not in self._index])
            try:
                return self._gather(keys, [len(s) for s in sentences])
            except _BadShard:
                continue
        raise ElmoError(f"the feature cache {self.folder} keeps failing its checksums; is the disk failing?")

    # ------------------------------------------------------------------ building
    def build(
        self,
        sentences: Iterable[Sequence[str]],
        batch_size: int = 64,
        progress: bool = True,
        batch_tokens: int = BATCH_TOKENS,
    ) -> BuildStats:
        """Compute and store every sentence not yet on disk; streams, resumable after a kill.

        Sentences are deduplicated; new ones are buffered up to ``shard_tokens`` tokens,
        computed in length-sorted batches (at most ``batch_size`` sentences and
        ``batch_tokens`` padded tokens) and written as one shard. Existing shards are
        verified first; bad ones are deleted and their sentences computed again.
        """
        if batch_size < 1:
            raise ElmoError(f"batch size must be at least 1, got {batch_size}")
        self._check_mode()
        start = time.perf_counter()
        stats = BuildStats()
        total = len(sentences) if hasattr(sentences, "__len__") else None
        with (
            self._locked(),
            Progress("cache build", total, "sent", enabled=progress) as bar,
        ):
            self._refresh()
            for shard in list(self._shards.values()):
                with contextlib.suppress(_BadShard):
                    self._verify(shard)
            seen: set[bytes] = set()
            pending: list[list[str]] = []
            pending_tokens = 0
            for sentence in sentences:
                stats.sentences += 1
                tokens = list(sentence)
                key = sentence_key(tokens) if tokens else b""
                if key in seen:
                    bar.update()
                    continue
                seen.add(key)
                stats.unique += 1
                stats.tokens += len(tokens)
                if not tokens or key in self._index:
                    bar.update()
                    continue
                pending.append(tokens)
                pending_tokens += len(tokens)
                if pending_tokens >= self.shard_tokens:
                    self._flush(pending, stats, batch_size, batch_tokens, bar)
                    pending, pending_tokens = [], 0
            if pending:
                self._flush(pending, stats, batch_size, batch_tokens, bar)
        stats.seconds = time.perf_counter() - start
        stats.size_bytes = self.size_bytes()
        return stats

    def _flush(
        self, pending: list[list[str]], stats: BuildStats, batch_size: int, batch_tokens: int, bar: Progress
    ) -> None:
        self._write_new(pending, batch_size, batch_tokens, bar.update)
        stats.new += len(pending)
        stats.new_tokens += sum(map(len, pending))
        stats.shards += 1

    def _write_new(
        self, sentences: list[list[str]], batch_size: int = 64, batch_tokens: int = BATCH_TOKENS, done=None
    ) -> None:
        """Compute non-empty, distinct ``sentences`` and write them as one shard (lock held)."""
        unique = {sentence_key(s): s for s in sentences if s}
        if not unique:
            return
        keys, sentences = list(unique), list(unique.values())
        data, rows = self._compute(sentences, batch_size, batch_tokens, done)
        self._write_shard(keys, [len(s) for s in sentences], rows, data)

    def _compute(
        self, sentences: list[list[str]], batch_size: int, batch_tokens: int, done=None
    ) -> tuple[np.ndarray, list[int]]:
        """(float16 rows (tokens, width), first row of each sentence), batched by length."""
        lengths = [len(s) for s in sentences]
        starts = np.concatenate([[0], np.cumsum(lengths)]).tolist()
        data = np.empty((starts[-1], self.width), dtype=np.float16)
        p = self.projection_dim
        for batch in _batches(lengths, batch_size, batch_tokens):
            layers, _ = self.bilm([sentences[i] for i in batch])
            layers = layers.cpu()
            rows = len(batch)
            upper = layers[1:].permute(1, 2, 0, 3).reshape(rows, layers.shape[2], -1)
            packed = torch.cat([layers[0, :, :, :p], upper], dim=-1).to(torch.float16).numpy()
            if not np.isfinite(packed).all():
                raise ElmoError("biLM outputs exceed the float16 range; the feature cache cannot store them")
            for row, i in enumerate(batch):
                data[starts[i] : starts[i + 1]] = packed[row, : lengths[i]]
            if done is not None:
                done(rows)
        return data, starts[:-1]

    # ------------------------------------------------------------------ shard files
    def _write_shard(self, keys: list[bytes], lengths: list[int], rows: list[int], data: np.ndarray) -> None:
        data = np.ascontiguousarray(data)
        header = {
            "format": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "width": self.width,
            "rows": len(data),
            "sha256": hashlib.sha256(memoryview(data).cast("B")).hexdigest(),
            "sentences": [[k.hex(), r, n] for k, r, n in zip(keys, rows, lengths, strict=True)],
        }
        blob = json.dumps(header, separators=(",", ":")).encode()
        blob += hashlib.sha256(blob).digest()
        data_offset = _align(len(MAGIC) + 8 + len(blob))
        path = self.folder / f"{uuid.uuid4().hex}{SUFFIX}"
        with atomic_path(path) as tmp, open(tmp, "wb") as out:
            out.write(MAGIC + struct.pack("<Q", len(blob) - 32) + blob)
            out.write(b"\0" * (data_offset - out.tell()))
            out.write(memoryview(data).cast("B"))
            out.flush()
            os.fsync(out.fileno())
        shard = _Shard(path, keys, len(data), data_offset, header["sha256"], verified=True)
        self._add(shard, rows, lengths)

    def _add(self, shard: _Shard, rows: list[int], lengths: list[int]) -> None:
        self._shards[shard.path] = shard
        for key, row, length in zip(shard.keys, rows, lengths, strict=True):
            self._index[key] = (shard, row, length)

    def _refresh(self) -> None:
        """Index the shards that appeared since the last look (headers only)."""
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob(f"*{SUFFIX}")):
            if path in self._shards or path in self._refused:
                continue
            try:
                shard, rows, lengths = self._read_header(path)
            except FileNotFoundError:
                continue
            except (_BadShard, OSError, ValueError, KeyError, TypeError) as err:
                self._reject(path, str(err))
                continue
            self._add(shard, rows, lengths)

    def _read_header(self, path: Path) -> tuple[_Shard, list[int], list[int]]:
        with open(path, "rb") as handle:
            head = handle.read(len(MAGIC) + 8)
            if len(head) < len(MAGIC) + 8 or head[: len(MAGIC)] != MAGIC:
                raise _BadShard("not a feature-cache shard")
            (size,) = struct.unpack("<Q", head[len(MAGIC) :])
            if size > 1 << 31:
                raise _BadShard("header size is corrupt")
            blob, digest = handle.read(size), handle.read(32)
        if hashlib.sha256(blob).digest() != digest:
            raise _BadShard("header checksum mismatch (corrupt header)")
        header = json.loads(blob)
        if header.get("format") != FORMAT_VERSION:
            raise _BadShard(f"format {header.get('format')!r}, expected {FORMAT_VERSION}")
        if header.get("fingerprint") != self.fingerprint:
            raise _BadShard("made by another biLM (fingerprint differs)")
        rows, width = int(header["rows"]), int(header["width"])
        data_offset = _align(len(MAGIC) + 8 + size + 32)
        if width != self.width or path.stat().st_size != data_offset + rows * width * 2:
            raise _BadShard("size does not match its header (truncated?)")
        keys, starts, lengths = [], [], []
        for key, start, length in header["sentences"]:
            if not 0 <= start <= start + length <= rows:
                raise _BadShard("index points outside the data")
            keys.append(bytes.fromhex(key))
            starts.append(int(start))
            lengths.append(int(length))
        return _Shard(path, keys, rows, data_offset, str(header["sha256"])), starts, lengths

    def _verify(self, shard: _Shard) -> None:
        """Check the data's sha256 once per process (read in chunks: no RSS growth)."""
        if shard.verified:
            return
        digest = hashlib.sha256()
        try:
            with open(shard.path, "rb") as handle:
                handle.seek(shard.data_offset)
                while chunk := handle.read(1 << 23):
                    digest.update(chunk)
        except FileNotFoundError:  # deleted by a builder since we indexed it
            self._drop(shard)
            raise _BadShard(str(shard.path)) from None
        if digest.hexdigest() != shard.sha256:
            self._drop(shard)
            self._reject(shard.path, "checksum mismatch (corrupt data)")
            raise _BadShard(str(shard.path))
        shard.verified = True

    def _open(self, shard: _Shard) -> np.ndarray:
        if shard.array is None:
            self._verify(shard)
            shard.array = np.memmap(
                shard.path, dtype=np.float16, mode="r", offset=shard.data_offset, shape=(shard.rows, self.width)
            )
        return shard.array

    def _drop(self, shard: _Shard) -> None:
        self._shards.pop(shard.path, None)
        for key in shard.keys:
            if self._index.get(key, (None,))[0] is shard:
                del self._index[key]

    def _reject(self, path: Path, reason: str) -> None:
        """Never use ``path`` again; delete it when this process can (a rebuild then replaces it)."""
        self._refused.add(path)
        try:
            path.unlink()
            action = "deleted; its sentences will be computed again"
        except FileNotFoundError:
            return
        except OSError:
            action = "ignored (cannot delete it here)"
        warnings.warn(f"feature cache: {path} is unusable ({reason}); {action}", stacklevel=3)

    def _gather(self, keys: list[bytes], lengths: list[int]) -> tuple[Tensor, Tensor]:
        longest = max(lengths, default=0)
        packed = np.zeros((len(keys), longest, self.width), dtype=np.float16)
        for b, (key, length) in enumerate(zip(keys, lengths, strict=True)):
            if length:
                entry = self._index.get(key)
                if entry is None:  # its shard was dropped while gathering: retry
                    raise _BadShard(key.hex())
                shard, row, _ = entry
                packed[b, :length] = self._open(shard)[row : row + length]
        data = torch.from_numpy(packed).float()
        p, d = self.projection_dim, 2 * self.projection_dim
        x = data[..., :p]
        layers = [torch.cat([x, x], dim=-1)] + [data[..., p + k * d : p + (k + 1) * d] for k in range(self.n_layers)]
        mask = torch.arange(longest) < torch.tensor(lengths, dtype=torch.long).unsqueeze(1)
        return torch.stack(layers), mask

    # ------------------------------------------------------------------ locking
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive builder lock; fails with a one-line error before anything is computed."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = open(self.folder / ".lock", "a+b")  # noqa: SIM115 - held across the yield
        except OSError as err:
            raise ElmoError(f"feature cache directory is not writable: {self.root} ({err.strerror or err})") from None
        with handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            for stale in self.folder.glob(".*.tmp"):  # left by a killed builder
                stale.unlink(missing_ok=True)
            yield

    def _check_mode(self) -> None:
        if (self.bilm.state, bool(self.bilm.bf16)) != self._mode:
            raise ElmoError("the biLM's state mode or bf16 flag changed after its feature cache was made")


def _align(offset: int) -> int:
    return -(-offset // ALIGN) * ALIGN


def _batches(lengths: list[int], batch_size: int, batch_tokens: int) -> Iterator[list[int]]:
    """Indices sorted by length, cut at ``batch_size`` rows or ``batch_tokens`` padded tokens."""
    batch: list[int] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if batch and (len(batch) == batch_size or (len(batch) + 1) * (lengths[i] + 2) > batch_tokens):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch

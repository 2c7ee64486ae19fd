"""The frozen-feature cache on a tiny random biLM: parity, dedup, resume, corruption, isolation."""

from __future__ import annotations

import argparse
import errno
import multiprocessing
import os
import shutil
import threading
import warnings
from pathlib import Path

import pytest
import torch

from elmo_features.bilm import BiLM
from elmo_features.errors import ElmoError
from elmo_features.feature_cache import SUFFIX, FeatureCache, sentence_key
from elmo_features.options import BiLMOptions
from elmo_features.weights import random_weights, write_weights
from tasks.commands.cache import add_parser

TEXT = [
    "the cat sat on the mat",
    "a dog",
    "",
    "colourless green ideas sleep furiously",
    "run",
    "he ran home",
    "the cat sat on the mat",  # repeated
    "EU rejects German call to boycott British lamb .",
    "Peter Blackburn",
    "a dog",  # repeated
]
SENTENCES = [line.split() for line in TEXT]
UNIQUE = {tuple(s) for s in SENTENCES if s}
# float16 keeps 11 significant bits: round-to-nearest is within 2^-11 relative (2^-25 absolute
# where it is subnormal); 1e-6 more covers float32 noise from other batch neighbours (~1e-8 here).
F16_RTOL, F16_ATOL = 2.0**-11, 1e-6


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: threads only add contention on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def load(files, state="warm") -> BiLM:
    return BiLM.from_files(*files, state=state)


def assert_f16_close(cached: torch.Tensor, live: torch.Tensor) -> None:
    assert cached.shape == live.shape
    bound = live.abs() * F16_RTOL + F16_ATOL
    excess = (cached - live).abs() - bound
    assert excess.max() <= 0, f"off by {float(excess.max())} beyond the float16 bound"


def count_rows(bilm: BiLM, fail_after: int | None = None) -> list[tuple[str, ...]]:
    """Record every sentence the biLM computes; raise (a simulated kill) after ``fail_after`` calls."""
    seen: list[tuple[str, ...]] = []
    forward, calls = bilm.forward, [0]

    def counted(sentences, *args, **kwargs):
        if fail_after is not None and calls[0] >= fail_after:
            raise KeyboardInterrupt
        calls[0] += 1
        seen.extend(tuple(s) for s in sentences)
        return forward(sentences, *args, **kwargs)

    bilm.forward = counted
    return seen


@pytest.mark.parametrize("state", ["stateless", "warm"])
def test_cached_layers_equal_live_layers_within_float16(tiny_files, tmp_path, state):
    bilm = load(tiny_files, state)
    live, live_mask = bilm(SENTENCES)
    stats = FeatureCache(bilm, tmp_path).build(SENTENCES, batch_size=3, progress=False)
    assert (stats.sentences, stats.unique, stats.new) == (10, 8, 7)  # the empty line is unique, never stored
    # A later run: a new cache object (and biLM) reads the disk only.
    reader = FeatureCache(load(tiny_files, state), tmp_path)
    count_rows(reader.bilm, fail_after=0)
    cached, mask = reader.get(SENTENCES, build_missing=False)
    assert torch.equal(mask, live_mask)
    assert_f16_close(cached, live)
    assert cached[:, 2].abs().max() == 0 and cached[:, 4, 1:].abs().max() == 0  # padding is zero
    assert (cached - live).abs().max() > 0  # really float16, not the live tensor


def test_duplicates_are_computed_once_and_later_builds_compute_nothing(tiny_files, tmp_path):
    cache = FeatureCache(load(tiny_files), tmp_path)
    computed = count_rows(cache.bilm)
    cache.build(SENTENCES + SENTENCES[::-1], progress=False)
    assert sorted(computed) == sorted(UNIQUE)
    computed.clear()
    again = cache.build(SENTENCES, progress=False)
    assert computed == [] and again.new == 0 and again.unique == 8
    cache.get([["brand", "new"], ["a", "dog"], ["brand", "new"]])  # only the miss, once
    assert computed == [("brand", "new")]
    assert cache.contains(["brand", "new"]) and not cache.contains(["never", "seen"]) and cache.contains([])


def test_killed_build_resumes_from_its_completed_shards(tiny_files, tmp_path):
    cache = FeatureCache(load(tiny_files), tmp_path, shard_tokens=10)
    count_rows(cache.bilm, fail_after=2)  # batch_size 64: one call per shard; dies in the third shard
    with pytest.raises(KeyboardInterrupt):
        cache.build(SENTENCES, progress=False)
    first = sorted(cache.folder.glob(f"*{SUFFIX}"))
    assert len(first) == 2
    (cache.folder / ".deadbeef.4242.tmp").write_bytes(b"half a shard")  # what a SIGKILL mid-write leaves

    resumed = FeatureCache(load(tiny_files), tmp_path, shard_tokens=10)
    computed = count_rows(resumed.bilm)
    stats = resumed.build(SENTENCES, progress=False)
    done = len(UNIQUE) - stats.new
    assert done >= 2 and len(computed) == stats.new and not set(computed) & set(first_keys(resumed, first))
    assert set(computed) | set(first_keys(resumed, first)) == UNIQUE
    assert not list(resumed.folder.glob("*.tmp")) and set(first) <= set(resumed.folder.glob(f"*{SUFFIX}"))
    cached, _ = resumed.get(SENTENCES, build_missing=False)
    assert_f16_close(cached, load(tiny_files)(SENTENCES)[0])


def first_keys(cache: FeatureCache, shards: list[Path]) -> list[tuple[str, ...]]:
    """The sentences (of UNIQUE) stored in ``shards``."""
    return [s for s in UNIQUE if cache._index[sentence_key(s)][0].path in shards]


def corrupt(path: Path) -> None:
    """Overwrite the last 8 data bytes with 0x7b7b (float16 ~ 6e4)."""
    with open(path, "r+b") as handle:
        handle.seek(-8, os.SEEK_END)
        handle.write(b"\x7b" * 8)


def test_corrupt_shard_is_detected_deleted_and_recomputed_never_used(tiny_files, tmp_path):
    FeatureCache(load(tiny_files), tmp_path).build(SENTENCES, progress=False)
    live, _ = load(tiny_files)(SENTENCES)
    (shard,) = FeatureCache(load(tiny_files), tmp_path).folder.glob(f"*{SUFFIX}")
    corrupt(shard)

    reader = FeatureCache(load(tiny_files), tmp_path)
    with pytest.warns(UserWarning, match="checksum mismatch"), pytest.raises(ElmoError, match="not in the feature"):
        reader.get(SENTENCES, build_missing=False)
    assert not shard.exists()

    corrupt_again = FeatureCache(load(tiny_files), tmp_path)
    corrupt_again.build(SENTENCES, progress=False)
    (rebuilt,) = corrupt_again.folder.glob(f"*{SUFFIX}")
    corrupt(rebuilt)
    healer = FeatureCache(load(tiny_files), tmp_path)
    computed = count_rows(healer.bilm)
    with pytest.warns(UserWarning, match="checksum mismatch"):
        cached, _ = healer.get(SENTENCES)
    assert sorted(computed) == sorted(UNIQUE)
    assert_f16_close(cached, live)

    # Truncated and foreign files are refused from their header alone; build replaces them.
    (good,) = healer.folder.glob(f"*{SUFFIX}")
    with open(good, "r+b") as handle:
        handle.truncate(good.stat().st_size - 2)
    (healer.folder / f"foreign{SUFFIX}").write_bytes(b"not a shard at all")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fresh = FeatureCache(load(tiny_files), tmp_path)
    messages = " | ".join(str(w.message) for w in caught)
    assert len(caught) == 2 and "foreign.shard is unusable (not a feature-cache shard)" in messages
    assert f"{good.name} is unusable (size does not match its header (truncated?))" in messages
    assert len(fresh) == 0 and fresh.build(SENTENCES, progress=False).new == len(UNIQUE)


def test_build_verifies_existing_shards(tiny_files, tmp_path):
    cache = FeatureCache(load(tiny_files), tmp_path)
    cache.build(SENTENCES, progress=False)
    (shard,) = cache.folder.glob(f"*{SUFFIX}")
    corrupt(shard)
    again = FeatureCache(load(tiny_files), tmp_path)  # the header is intact: indexed, not yet trusted
    assert len(again) == len(UNIQUE)
    with pytest.warns(UserWarning, match="checksum mismatch"):
        stats = again.build(SENTENCES, progress=False)
    assert stats.new == len(UNIQUE) and not shard.exists()


def test_edited_header_is_refused_even_when_it_still_parses(tiny_files, tmp_path):
    cache = FeatureCache(load(tiny_files), tmp_path)
    cache.build(SENTENCES, progress=False)
    (shard,) = cache.folder.glob(f"*{SUFFIX}")
    blob = shard.read_bytes()
    assert blob.count(b'",0,') == 1
    shard.write_bytes(blob.replace(b'",0,', b'",1,'))  # valid JSON; the first sentence now points one row off
    with pytest.warns(UserWarning, match="header checksum mismatch"):
        healer = FeatureCache(load(tiny_files), tmp_path)
    assert len(healer) == 0 and not shard.exists()
    assert_f16_close(healer.get(SENTENCES)[0], load(tiny_files)(SENTENCES)[0])


def test_other_weights_or_mode_use_another_folder_and_never_read_this_one(tiny_files, tmp_path):
    base = FeatureCache(load(tiny_files, "warm"), tmp_path)
    base.build(SENTENCES, progress=False)
    other_weights = tmp_path / "other.hdf5"
    write_weights(other_weights, random_weights(BiLMOptions.load(tiny_files[0]), seed=2))
    others = [
        FeatureCache(load(tiny_files, "stateless"), tmp_path),
        FeatureCache(BiLM.from_files(tiny_files[0], other_weights, state="warm"), tmp_path),
    ]
    bf16 = load(tiny_files, "warm")
    bf16.bf16 = True
    others.append(FeatureCache(bf16, tmp_path))
    folders = {base.folder, *(c.folder for c in others)}
    assert len(folders) == 4 and all(f.parent == tmp_path for f in folders)
    for cache in others:
        assert len(cache) == 0
        with pytest.raises(ElmoError, match="not in the feature cache"):
            cache.get(SENTENCES, build_missing=False)
    # A shard copied into a foreign folder is refused by the fingerprint in its header.
    target = others[1].folder
    target.mkdir(parents=True)
    for shard in base.folder.glob(f"*{SUFFIX}"):
        shutil.copy(shard, target / shard.name)
    with pytest.warns(UserWarning, match="fingerprint differs"):
        assert len(FeatureCache(others[1].bilm, tmp_path)) == 0


def test_mode_change_after_creation_is_refused(tiny_files, tmp_path):
    cache = FeatureCache(load(tiny_files), tmp_path)
    cache.bilm.bf16 = True
    with pytest.raises(ElmoError, match="changed after"):
        cache.get(SENTENCES)


def test_default_root_follows_the_environment(tiny_files, tmp_path, monkeypatch):
    monkeypatch.delenv("ELMO_TASKS_FEATURE_CACHE", raising=False)
    monkeypatch.setenv("ELMO_TASKS_CACHE", str(tmp_path / "base"))
    assert FeatureCache(load(tiny_files, "stateless")).folder.parent == tmp_path / "base" / "features"
    monkeypatch.setenv("ELMO_TASKS_FEATURE_CACHE", str(tmp_path / "features"))
    assert FeatureCache(load(tiny_files, "stateless")).folder.parent == tmp_path / "features"


def test_stateful_bilm_is_refused(tiny_files, tmp_path):
    with pytest.raises(ElmoError, match="deterministic state mode"):
        FeatureCache(load(tiny_files, "stateful"), tmp_path)


def test_unwritable_directory_is_a_one_line_error_and_leaves_nothing(tiny_files, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    before = sorted(tmp_path.rglob("*"))
    cache = FeatureCache(load(tiny_files), blocker / "cache")
    computed = count_rows(cache.bilm)
    with pytest.raises(ElmoError, match=r"^feature cache directory is not writable: .*a-file/cache \(") as err:
        cache.build(SENTENCES, progress=False)
    assert "\n" not in str(err.value) and computed == []
    with pytest.raises(ElmoError, match="not writable"):
        cache.get(SENTENCES)
    assert sorted(tmp_path.rglob("*")) == before


def test_disk_full_in_a_shard_write_is_a_one_line_error_and_keeps_only_whole_shards(tiny_files, tmp_path, monkeypatch):
    cache = FeatureCache(load(tiny_files), tmp_path, shard_tokens=10)
    fsync, calls = os.fsync, [0]

    def full(fd):  # the second shard's bytes do not fit on the disk
        calls[0] += 1
        if calls[0] == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ElmoError) as err:
        cache.build(SENTENCES, batch_size=64, progress=False)
    message = str(err.value)
    assert message.startswith(f"cannot write {cache.folder}/") and message.endswith(f": {os.strerror(errno.ENOSPC)}")
    assert "\n" not in message
    monkeypatch.setattr(os, "fsync", fsync)
    assert [p.name for p in cache.folder.iterdir() if p.name.endswith(".tmp")] == []  # nothing half-written
    shards = list(cache.folder.glob(f"*{SUFFIX}"))
    assert len(shards) == 1
    reader = FeatureCache(load(tiny_files), tmp_path, shard_tokens=10)  # the whole shard is read back as it is
    stored = [s for s in UNIQUE if reader.contains(list(s))]
    assert stored and len(stored) < len(UNIQUE)
    count_rows(reader.bilm, fail_after=0)
    reader.get([list(s) for s in stored], build_missing=False)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory_is_a_one_line_error(tiny_files, tmp_path):
    root = tmp_path / "ro"
    root.mkdir(mode=0o500)
    with pytest.raises(ElmoError, match="not writable"):
        FeatureCache(load(tiny_files), root).build(SENTENCES, progress=False)
    assert list(root.iterdir()) == []


def test_concurrent_builders_are_serialised_and_share_the_work(tiny_files, tmp_path):
    first, second = FeatureCache(load(tiny_files), tmp_path), FeatureCache(load(tiny_files), tmp_path)
    started, go = threading.Event(), threading.Event()
    forward = first.bilm.forward

    def slow(sentences, *args, **kwargs):
        started.set()
        go.wait(10)
        return forward(sentences, *args, **kwargs)

    first.bilm.forward = slow
    computed = count_rows(second.bilm)
    builders = [threading.Thread(target=c.build, args=(SENTENCES, 64, False)) for c in (first, second)]
    builders[0].start()
    assert started.wait(10)
    builders[1].start()
    builders[1].join(0.3)
    assert builders[1].is_alive() and computed == []  # waiting for the lock
    go.set()
    for builder in builders:
        builder.join(10)
    assert computed == [] and len(second) == len(UNIQUE)  # it found the first builder's shard


def _read_in_child(files: tuple[Path, Path], root: Path, barrier, results) -> None:
    torch.set_num_threads(1)
    cache = FeatureCache(BiLM.from_files(*files, state="warm"), root)
    barrier.wait()  # both processes read at the same time
    results.put(torch.stack([cache.get(SENTENCES, build_missing=False)[0] for _ in range(20)]).numpy())


@pytest.mark.slow
def test_concurrent_readers_get_identical_results(tiny_files, tmp_path):
    cache = FeatureCache(load(tiny_files), tmp_path)
    cache.build(SENTENCES, progress=False)
    expected = cache.get(SENTENCES, build_missing=False)[0].numpy()
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(2), context.Queue()
    readers = [context.Process(target=_read_in_child, args=(tiny_files, tmp_path, barrier, queue)) for _ in range(2)]
    for reader in readers:
        reader.start()
    results = [queue.get(timeout=60) for _ in readers]
    for reader in readers:
        reader.join(timeout=60)
        assert reader.exitcode == 0
    for result in results:
        assert result.shape == (20, *expected.shape)
        assert (result == expected).all()


def test_cache_build_command(tiny_files, tmp_path, capsys):
    conll = tmp_path / "train.conll"
    conll.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n")
    lines = tmp_path / "more.txt"
    lines.write_text("EU rejects\n\nsomething new here\n")
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    model = ["--options-file", str(tiny_files[0]), "--weight-file", str(tiny_files[1]), "--cache-dir", str(tmp_path)]
    args = parser.parse_args(["cache", "build", str(conll), *model, "--format", "conll", "--state", "stateless"])
    args.func(args)
    out = capsys.readouterr().out
    assert "2 sentences, 2 unique, 3 tokens, 2 new" in out and out.count("\n") == 1
    args = parser.parse_args(["cache", "build", str(lines), *model, "--state", "stateless"])
    args.func(args)
    assert "3 sentences, 3 unique, 5 tokens, 1 new" in capsys.readouterr().out  # "EU rejects" was cached
    cache = FeatureCache(load(tiny_files, "stateless"), tmp_path)
    assert all(cache.contains(s) for s in (["EU", "rejects"], ["Peter"], ["something", "new", "here"]))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\n")
    for data, message in ((bad, r"bad.txt:2: not valid UTF-8"), (tmp_path / "nope.txt", "data file not found")):
        args = parser.parse_args(["cache", "build", str(data), *model])
        with pytest.raises(ElmoError, match=message):
            args.func(args)
    with pytest.raises(SystemExit):
        parser.parse_args(["cache", "build", str(lines), *model, "--state", "stateful"])

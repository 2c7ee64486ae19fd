"""`elmo-tasks embed`, run in-process through ``tasks.cli.main`` on a tiny random biLM."""

from __future__ import annotations

import errno
import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import TINY_OPTIONS as OPTS

from elmo_features.models import OFFICIAL, official_paths, official_urls
from elmo_features.options import BiLMOptions
from elmo_features.weights import random_weights, write_weights
from tasks.cli import main

DIM = 16  # 2 x projection_dim
# An empty line in the middle, lengths 1..6, a repeated token.
TEXT = ["the cat sat on the mat", "a dog", "", "colourless green ideas sleep furiously", "run", "he ran home"]


def write_model(folder: Path, options: dict = OPTS, drop: str | None = None) -> list[str]:
    """Options JSON + random weights for OPTS (whatever ``options`` says); CLI flags naming them."""
    folder.mkdir(parents=True, exist_ok=True)
    options_file, weight_file = folder / "options.json", folder / "weights.hdf5"
    options_file.write_text(json.dumps(options))
    arrays = random_weights(BiLMOptions.from_dict(OPTS), seed=0)
    arrays.pop(drop, None)
    write_weights(weight_file, arrays)
    return ["--options-file", str(options_file), "--weight-file", str(weight_file)]


def read_h5(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {key: handle[key][()] for key in handle}


def sentence_index(out: dict[str, np.ndarray]) -> dict[str, str]:
    return json.loads(out["sentence_to_index"][0])


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELMO_TASKS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ELMO_TASKS_OFFLINE", raising=False)


@pytest.fixture
def model_args(tmp_path: Path) -> list[str]:
    return write_model(tmp_path / "model")


@pytest.fixture
def embed(tmp_path: Path, model_args: list[str]) -> Callable[..., dict[str, np.ndarray]]:
    """embed(lines, *flags) -> {dataset: array} of a successful run."""
    counter = itertools.count()

    def run(lines: list[str], *flags: str, model: list[str] = model_args) -> dict[str, np.ndarray]:
        n = next(counter)
        source, out = tmp_path / f"in{n}.txt", tmp_path / f"out{n}.hdf5"
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert main(["embed", str(source), str(out), *model, *flags]) == 0
        return read_h5(out)

    return run


def one_line_error(capsys: pytest.CaptureFixture[str], code: int, after_progress: bool = False) -> str:
    """The error message; stderr must hold only it (or, ``after_progress``, end with it after tqdm's bar)."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code != 0
    assert "Traceback" not in err
    assert lines and lines[-1].startswith("elmo-tasks: error: "), err
    assert after_progress or len(lines) == 1, err
    return lines[-1]


# ------------------------------------------------------------------ output layout
def test_all_layers_default_with_sentence_index(embed) -> None:
    out = embed(TEXT)
    assert set(out) == {str(i) for i in range(len(TEXT))} | {"sentence_to_index"}
    for i, line in enumerate(TEXT):
        assert out[str(i)].shape == (3, len(line.split()), DIM)
        assert out[str(i)].dtype == np.float32
    assert sentence_index(out) == {line: str(i) for i, line in enumerate(TEXT)}
    assert not np.allclose(out["0"][1], out["0"][2])  # layers are distinct


def test_top_and_average_are_reductions_of_all(embed) -> None:
    full, top, average = embed(TEXT), embed(TEXT, "--top"), embed(TEXT, "--average")
    for i, line in enumerate(TEXT):
        assert top[str(i)].shape == average[str(i)].shape == (len(line.split()), DIM)
        np.testing.assert_allclose(top[str(i)], full[str(i)][-1], atol=1e-6)
        np.testing.assert_allclose(average[str(i)], full[str(i)].mean(axis=0), atol=1e-6)


def test_empty_line_is_an_empty_sentence_and_keeps_line_numbers(embed) -> None:
    out = embed(TEXT)
    assert TEXT[2] == "" and out["2"].shape == (3, 0, DIM)
    without_empty = embed(TEXT[:2] + TEXT[3:])  # warm state: a sentence's output is context-free
    for i in (3, 4, 5):
        np.testing.assert_allclose(out[str(i)], without_empty[str(i - 1)], atol=1e-5)


def test_forget_sentences_omits_index(embed) -> None:
    out = embed(TEXT, "--forget-sentences")
    assert set(out) == {str(i) for i in range(len(TEXT))}


def test_use_sentence_keys(embed) -> None:
    lines = [line for line in TEXT if line]
    by_text, by_number = embed(lines, "--use-sentence-keys"), embed(lines)
    assert set(by_text) == set(lines)
    for i, line in enumerate(lines):
        np.testing.assert_allclose(by_text[line], by_number[str(i)], atol=1e-6)


def test_duplicate_sentence_with_sentence_keys_fails(tmp_path, model_args, capsys) -> None:
    source, out = tmp_path / "in.txt", tmp_path / "out.hdf5"
    source.write_text("a b\nc d\na b\n")
    message = one_line_error(capsys, main(["embed", str(source), str(out), *model_args, "--use-sentence-keys"]))
    assert "line 3" in message and "line 1" in message
    assert not out.exists()


@pytest.mark.parametrize("text", ["a/b\nc\n", "a\0b\nc\n"], ids=["slash", "nul"])
def test_sentence_that_cannot_be_a_key_fails(tmp_path, model_args, capsys, text) -> None:
    source, out = tmp_path / "in.txt", tmp_path / "out.hdf5"
    source.write_text(text)
    message = one_line_error(capsys, main(["embed", str(source), str(out), *model_args, "--use-sentence-keys"]))
    assert "line 1" in message and "cannot be an HDF5 key" in message
    assert not out.exists()


def test_long_tokens_are_fine(embed) -> None:
    lines = ["short " + "x" * 80 + " end", "é" * 60, "a " + "ab" * 40]
    out = embed(lines, "--top")
    for i, line in enumerate(lines):
        assert out[str(i)].shape == (len(line.split()), DIM)
        assert np.isfinite(out[str(i)]).all()


# ------------------------------------------------------------------ state modes
def _stack(out: dict[str, np.ndarray], n: int) -> list[np.ndarray]:
    return [out[str(i)] for i in range(n)]


@pytest.mark.parametrize("state", ["stateless", "warm"])
def test_batch_size_does_not_matter_without_carried_state(embed, state) -> None:
    one, three = embed(TEXT, "--state", state, "--batch-size", "1"), embed(TEXT, "--state", state, "--batch-size", "3")
    for a, b in zip(_stack(one, len(TEXT)), _stack(three, len(TEXT)), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_warm_differs_from_stateless(embed) -> None:
    warm, stateless = embed(TEXT, "--state", "warm"), embed(TEXT, "--state", "stateless")
    assert not np.allclose(warm["0"][1:], stateless["0"][1:], atol=1e-4)
    np.testing.assert_allclose(warm["0"][0], stateless["0"][0], atol=1e-6)  # layer 0 has no state


def test_stateful_carries_state_across_batches(embed) -> None:
    one = _stack(embed(TEXT, "--state", "stateful", "--batch-size", "1"), len(TEXT))
    three = _stack(embed(TEXT, "--state", "stateful", "--batch-size", "3"), len(TEXT))
    np.testing.assert_allclose(one[0], three[0], atol=1e-5)  # first sentence: zero state either way
    assert any(not np.allclose(a, b, atol=1e-4) for a, b in zip(one[1:], three[1:], strict=True))


def test_stateful_parity_with_bilm_tf_fixture(tmp_path, embed, fixtures_dir) -> None:
    fixture = fixtures_dir / "elmo-bilm-tf"
    lists = json.loads((fixture / "lm_embeddings_sentences.json").read_text())
    lines = [lists[k][i] for i in range(len(lists[0])) for k in range(len(lists))]
    model = ["--options-file", str(fixture / "options.json"), "--weight-file", str(fixture / "lm_weights.hdf5")]
    out = embed(lines, "--top", "--state", "stateful", "--batch-size", str(len(lists)), model=model)
    for k in range(len(lists)):
        with h5py.File(fixture / f"lm_embeddings_{k}.hdf5", "r") as expected:
            for i in range(len(lists[k])):
                want = np.concatenate(expected[str(i)][()], axis=-1)
                np.testing.assert_allclose(out[str(i * len(lists) + k)], want, atol=1e-5, err_msg=f"list {k} #{i}")


# ------------------------------------------------------------------ bad input
def _good_input(d: Path) -> Path:
    (d / "in.txt").write_text("a b c\nd e\n")
    return d / "in.txt"


def _write(d: Path, name: str, data: bytes) -> Path:
    (d / name).write_bytes(data)
    return d / name


def _corrupt(d: Path) -> Path:
    return _write(d, "bad.hdf5", np.random.default_rng(0).bytes(4096))


def _swap_weights(model: list[str], path: Path) -> list[str]:
    return [*model[:3], str(path)]


def _offline_small(d: Path, mp: pytest.MonkeyPatch):
    mp.setenv("ELMO_TASKS_OFFLINE", "1")
    return _good_input(d), ["--model", "small"], [*official_urls("small"), *map(str, official_paths("small"))]


# Each case: (folder, monkeypatch) -> (input file, model flags, substrings the message must contain).
BAD: dict[str, Callable[[Path, pytest.MonkeyPatch], tuple[Path, list[str], list[str]]]] = {
    "missing-input": lambda d, mp: (d / "nope.txt", write_model(d), ["not found", "nope.txt"]),
    "empty-input": lambda d, mp: (_write(d, "in.txt", b""), write_model(d), ["empty"]),
    "blank-lines": lambda d, mp: (_write(d, "in.txt", b"\n  \n\t\n\n"), write_model(d), ["empty"]),
    "non-utf8-line-3": lambda d, mp: (
        _write(d, "in.txt", b"a b\nc d\ne \xff f\ng\n"),
        write_model(d),
        ["in.txt:3:", "UTF-8"],
    ),
    "missing-weights": lambda d, mp: (
        _good_input(d),
        _swap_weights(write_model(d), d / "gone.hdf5"),
        ["gone.hdf5", "not found"],
    ),
    "corrupt-hdf5": lambda d, mp: (_good_input(d), _swap_weights(write_model(d), _corrupt(d)), ["bad.hdf5", "HDF5"]),
    "options-mismatch": lambda d, mp: (
        _good_input(d),
        write_model(d, {**OPTS, "lstm": {**OPTS["lstm"], "projection_dim": 16}}),
        ["'CNN_proj/W_proj'", "(20, 8)", "(20, 16)"],
    ),
    "missing-dataset": lambda d, mp: (_good_input(d), write_model(d, drop="CNN_proj/b_proj"), ["'CNN_proj/b_proj'"]),
    "options-not-json": lambda d, mp: (_good_input(d), _options_not_json(write_model(d)), ["options.json", "JSON"]),
    "unknown-model": lambda d, mp: (_good_input(d), ["--model", "huge"], ["'huge'", ", ".join(OFFICIAL)]),
    "small-offline-uncached": _offline_small,
}


def _options_not_json(model: list[str]) -> list[str]:
    Path(model[1]).write_text("{'char_cnn': not json")
    return model


@pytest.mark.parametrize("case", BAD.keys())
def test_bad_input_is_a_one_line_error(tmp_path, monkeypatch, capsys, case) -> None:
    source, model, expected = BAD[case](tmp_path, monkeypatch)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    message = one_line_error(capsys, main(["embed", str(source), str(out_dir / "out.hdf5"), *model]))
    for part in expected:
        assert part in message
    assert list(out_dir.iterdir()) == []


def _disk_full_on_second_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HDF5 write itself fails (ENOSPC) once the first sentence is in the file."""
    create, calls = h5py.Group.create_dataset, itertools.count()

    def failing(self, *args, **kwargs):
        if next(calls) == 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return create(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)


@pytest.mark.parametrize("failure", ["corrupt-weights", "disk-full-mid-write"])
def test_failed_run_keeps_existing_output(tmp_path, monkeypatch, capsys, failure) -> None:
    model = write_model(tmp_path / "model")
    if failure == "corrupt-weights":
        model = _swap_weights(model, _corrupt(tmp_path))
    else:
        _disk_full_on_second_dataset(monkeypatch)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out, before = out_dir / "out.hdf5", b"precious bytes \x00\x01"
    out.write_bytes(before)
    code = main(["embed", str(_good_input(tmp_path)), str(out), *model, "--batch-size", "1"])
    message = one_line_error(capsys, code, after_progress=failure == "disk-full-mid-write")
    if failure == "disk-full-mid-write":
        assert message == f"elmo-tasks: error: cannot write {out}: {os.strerror(errno.ENOSPC)}"
    assert out.read_bytes() == before
    assert list(out_dir.iterdir()) == [out]

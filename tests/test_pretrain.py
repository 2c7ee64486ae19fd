"""``elmo-tasks pretrain``: export parity with the inference biLM, learning, exact resume, DDP, errors."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from elmo_features.bilm import BiLM
from elmo_features.errors import ElmoError
from elmo_features.options import BiLMOptions
from elmo_features.pretrain.corpus import IGNORE, Batcher, read_numbered_tokens, sentence_stream
from elmo_features.pretrain.export import load_official, to_official
from elmo_features.pretrain.lm import BidirectionalLM
from elmo_features.pretrain.softmax import Softmax, expected_count, sample_log_uniform
from elmo_features.pretrain.vocab import Vocabulary
from elmo_features.weights import read_weights
from tasks.cli import main

REPO = Path(__file__).resolve().parents[1]
SENTENCES = [
    "the cat sat on the mat .",
    "a dog ran in the park .",
    "my friend likes green tea .",
    "the dog sat in the park .",
]
FAST = ["--size", "tiny", "--batch-size", "8", "--unroll", "10", "--optimizer", "adam", "--lr", "0.01", "--no-progress"]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path]:
    rng = random.Random(0)
    train, heldout = tmp_path / "train.txt", tmp_path / "heldout.txt"
    train.write_text("\n".join(rng.choice(SENTENCES) for _ in range(300)) + "\n")
    heldout.write_text("\n".join(SENTENCES) + "\n")
    return train, heldout


def _weights(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {name: handle[name][...] for name in _datasets(handle)}


def _datasets(handle: h5py.File) -> list[str]:
    names: list[str] = []
    handle.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("elmo-tasks: error: ") and "\n" not in err
    return err


# ---------------------------------------------------------------------- pieces
def test_tokenize_and_vocab_order(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text('He said: "it\'s 3.5 well-known"!\n', encoding="utf-8")
    tokens = ["He", "said", ":", '"', "it", "'s", "3.5", "well-known", '"', "!"]
    assert [t for _, _, t in read_numbered_tokens([raw], raw_text=True)] == [tokens]  # the shared spaCy tokenizer
    from collections import Counter

    vocab = Vocabulary.from_counts(Counter(["b", "a", "b", "c", "c", "c", "<S>"]), size=2)
    assert vocab.words == ["<S>", "</S>", "<UNK>", "c", "b"]
    assert vocab.id("a") == vocab.unk
    vocab.save(tmp_path / "v.txt")
    assert Vocabulary.load(tmp_path / "v.txt") == vocab


def test_batches_are_shifted_streams_of_both_directions() -> None:
    vocab = Vocabulary(["a", "b", "c"])
    stream = sentence_stream([], 10)  # unused
    del stream
    batches = Batcher(iter([["a", "b"], ["c"]]), vocab, rows=1, unroll=3)
    first, second = next(batches), next(batches)
    # forward stream: <S> a b </S> <S> c </S>; backward: </S> b a <S> </S> c <S>
    ids = lambda ws: [vocab.id(w) for w in ws]  # noqa: E731
    assert first.fwd_targets[0].tolist() == ids(["a", "b", "</S>"])
    assert first.bwd_targets[0].tolist() == ids(["b", "a", "<S>"])
    assert second.fwd_targets[0].tolist() == ids(["<S>", "c", "</S>"])
    assert second.n_tokens == 3
    with pytest.raises(StopIteration):
        next(batches)


def test_log_uniform_sampler_inclusion_matches_the_logq_correction() -> None:
    """Each class is among the unique candidates with probability expected_count (what logQ subtracts)."""
    torch.manual_seed(0)
    vocab_size, draws, trials = 100, 30, 3000
    seen = torch.zeros(vocab_size)
    for _ in range(trials):
        seen[torch.unique(sample_log_uniform(draws, vocab_size))] += 1
    expected = expected_count(torch.arange(vocab_size), vocab_size, draws)
    z = (seen / trials - expected) / torch.sqrt(expected * (1 - expected) / trials)
    assert z.abs().max() < 4.5  # binomial z-scores
    assert expected[0] > 0.9 and expected[-1] < 0.2  # Zipfian: frequent (low) ids first


def test_sampled_softmax_equals_full_softmax_when_every_class_is_a_candidate() -> None:
    torch.manual_seed(0)
    softmax = Softmax(vocab_size=50, dim=8, num_sampled=50)  # not fewer than the vocabulary: full softmax
    hidden, targets = torch.randn(16, 8), torch.randint(0, 50, (16,))
    targets[3] = IGNORE
    (loss,) = softmax.sampled_losses([hidden], [targets])
    full = torch.nn.functional.cross_entropy(hidden @ softmax.weight.T + softmax.bias, targets, reduction="sum")
    torch.testing.assert_close(loss, full)
    softmax.num_sampled = 20
    (sampled,) = softmax.sampled_losses([hidden], [targets])
    assert torch.isfinite(sampled) and sampled.requires_grad


# ---------------------------------------------------------------------- the command
def test_export_round_trip_matches_the_inference_bilm(corpus, tmp_path: Path) -> None:
    train, _ = corpus
    out = tmp_path / "run"
    assert main(["pretrain", str(train), "-o", str(out), *FAST, "--max-steps", "8"]) == 0
    options = BiLMOptions.load(out / "options.json")
    vocab = Vocabulary.load(out / "vocab.txt")
    model = BidirectionalLM(options, len(vocab))
    model.load_state_dict(torch.load(out / "checkpoints" / "last.pt", weights_only=True)["model"])
    model.eval()
    bilm = BiLM.from_files(out / "options.json", out / "weights.hdf5", state="stateless")
    sentences = [s.split() for s in SENTENCES] + [["Zebra", "unseen-word", "ÿ"]]
    layers, mask = bilm(sentences, keep_boundaries=True)
    for row, sentence in enumerate(sentences):
        mine = model.layers(sentence)
        assert mine.shape[1] == int(mask[row].sum())
        torch.testing.assert_close(layers[:, row, : mine.shape[1]], mine, atol=1e-5, rtol=0)
    # the export is what `elmo-tasks embed` reads
    text = tmp_path / "in.txt"
    text.write_text("the cat sat .\n")
    embedded = tmp_path / "embedded.hdf5"
    argv = ["embed", str(text), str(embedded), "--options-file", str(out / "options.json")]
    assert main([*argv, "--weight-file", str(out / "weights.hdf5"), "--state", "stateless"]) == 0
    with h5py.File(embedded, "r") as handle:
        assert handle["0"].shape == (3, 4, 16)


def test_import_then_export_unchanged_gives_identical_arrays(tiny_files, corpus, tmp_path: Path) -> None:
    options_file, weight_file = tiny_files
    options = BiLMOptions.load(options_file)
    original = read_weights(weight_file, options)
    model = BidirectionalLM(options, vocab_size=10)
    load_official(model, original)
    exported = to_official(model)
    assert exported.keys() == original.keys()
    assert all(np.array_equal(exported[k], original[k]) for k in original)
    # through the command: zero steps, then export
    train, _ = corpus
    out = tmp_path / "adapted"
    argv = ["pretrain", str(train), "-o", str(out), "--init-from", str(options_file), str(weight_file)]
    assert main([*argv, "--max-steps", "0", "--no-progress"]) == 0
    written = _weights(out / "weights.hdf5")
    assert written.keys() == original.keys()
    assert all(np.array_equal(written[k], original[k]) for k in original)
    # and training from there moves away from the imported weights
    out2 = tmp_path / "adapted2"
    assert main([*argv[:3], str(out2), *argv[4:], "--max-steps", "3", "--no-progress", "--optimizer", "adam"]) == 0
    moved = _weights(out2 / "weights.hdf5")
    assert not np.array_equal(moved["CNN_proj/W_proj"], original["CNN_proj/W_proj"])


def test_heldout_perplexity_falls_on_a_repetitive_corpus(corpus, tmp_path: Path) -> None:
    train, heldout = corpus
    out = tmp_path / "run"
    assert main(["pretrain", str(train), "-o", str(out), *FAST, "--heldout", str(heldout), "--epochs", "2"]) == 0
    rows = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    before, after = rows[0]["heldout_ppl"], rows[-1]["heldout_ppl"]
    assert after < 0.3 * before, (before, after)
    assert rows[-1]["train_ppl"] < rows[1]["train_ppl"]
    assert {"heldout_ppl_fwd", "heldout_ppl_bwd", "train_ppl_fwd", "train_ppl_bwd", "tokens_per_s"} <= rows[-1].keys()
    assert (out / "metrics.csv").read_text().startswith("epoch,step,")


# The pretrain command in a process that SIGKILLs itself right after its 12th optimiser step (the
# production loop has no hook for this: the test patches train_step in the child process).
KILLED_AFTER_STEP_12 = """
import os, signal, sys
import elmo_features.pretrain.train as train
step = train.train_step
done = []
def killing(*args, **kwargs):
    out = step(*args, **kwargs)
    done.append(1)
    if len(done) == 12:
        os.kill(os.getpid(), signal.SIGKILL)
    return out
train.train_step = killing
from tasks.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_uninterrupted_weights(corpus, tmp_path: Path) -> None:
    train, heldout = corpus
    args = [str(train), *FAST, "--heldout", str(heldout), "--max-steps", "20", "--checkpoint-every", "5"]
    args += ["--dropout", "0.2", "--n-samples", "8"]  # dropout and sampling: the RNG state must resume too
    killed = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", KILLED_AFTER_STEP_12, "pretrain", *args, "-o", str(killed)]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert torch.load(killed / "checkpoints" / "last.pt", weights_only=True)["step"] == 10
    assert not (killed / "weights.hdf5").exists()
    assert main(["pretrain", *args, "-o", str(killed), "--resume"]) == 0
    straight = tmp_path / "straight"
    assert main(["pretrain", *args, "-o", str(straight)]) == 0
    a, b = _weights(killed / "weights.hdf5"), _weights(straight / "weights.hdf5")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert json.loads((killed / "metrics.json").read_text())[-1]["step"] == 20


@pytest.mark.slow
def test_ddp_two_gloo_processes_with_torchrun(corpus, tmp_path: Path) -> None:
    train, heldout = corpus
    out = tmp_path / "ddp"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd = [*torchrun, "-m", "tasks.cli", "pretrain", str(train), "-o", str(out), *FAST, "--heldout", str(heldout)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [*cmd, "--devices", "2", "--max-steps", "6"], env=env, cwd=REPO, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((out / "metrics.json").read_text())
    assert rows[-1]["step"] == 6
    ckpt = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert len(ckpt["ranks"]) == 2  # both processes' LSTM states and RNGs are kept
    BiLM.from_files(out / "options.json", out / "weights.hdf5")


# ---------------------------------------------------------------------- bad input
def test_one_line_errors(corpus, tmp_path: Path, capsys) -> None:
    train, _ = corpus
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    assert "holds no text" in _error(capsys, ["pretrain", str(empty), "-o", str(tmp_path / "a"), *FAST])
    long = tmp_path / "long.txt"
    long.write_text("a b c d e\nf g h i j k\n")
    err = _error(capsys, ["pretrain", str(long), "-o", str(tmp_path / "b"), *FAST, "--max-tokens", "4"])
    assert "all 2 lines are longer than --max-tokens 4" in err
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("the\ncat\nthe\n")
    err = _error(capsys, ["pretrain", str(train), "-o", str(tmp_path / "c"), *FAST, "--vocab", str(vocab)])
    assert "vocab.txt:3: duplicate word 'the'" in err
    assert "no checkpoint" in _error(capsys, ["pretrain", str(train), "-o", str(tmp_path / "d"), *FAST, "--resume"])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and not (tmp_path / "d").exists()

    out = tmp_path / "run"
    assert main(["pretrain", str(train), "-o", str(out), *FAST, "--max-steps", "2"]) == 0
    assert "already holds a pretraining run" in _error(capsys, ["pretrain", str(train), "-o", str(out), *FAST])
    err = _error(capsys, ["pretrain", str(train), "-o", str(out), *FAST, "--resume", "--batch-size", "4"])
    assert "'batch_size' differs" in err
    err = _error(capsys, ["pretrain", str(train), "-o", str(out), *FAST, "--resume", "--vocab-size", "3"])
    assert "vocabulary" in err
    # more steps on resume is allowed
    assert main(["pretrain", str(train), "-o", str(out), *FAST, "--resume", "--max-steps", "4"]) == 0
    shutil.rmtree(out)
    with pytest.raises(ElmoError):
        Vocabulary.load(empty)


def test_max_time_stops_with_a_checkpoint_and_an_export(corpus, tmp_path: Path) -> None:
    train, _ = corpus
    out = tmp_path / "run"
    assert main(["pretrain", str(train), "-o", str(out), *FAST, "--max-time", "0"]) == 0
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["step"] == 1
    rows = json.loads((out / "metrics.json").read_text())
    assert rows[-1]["step"] == 1 and rows[-1]["epoch_fraction"] < 1
    BiLM.from_files(out / "options.json", out / "weights.hdf5")


def test_bf16_on_raw_text(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text("Hello, world! It's a test.\nThe dog (a big one) barked.\n" * 20)
    out = tmp_path / "run"
    assert (
        main(["pretrain", str(raw), "-o", str(out), *FAST, "--tokenize", "--precision", "bf16", "--max-steps", "2"])
        == 0
    )
    words = (out / "vocab.txt").read_text().split()
    assert {",", "!", "It", "'s", "(", "test"} <= set(words)
    rows = json.loads((out / "metrics.json").read_text())
    assert math.isfinite(rows[-1]["train_ppl"])
    BiLM.from_files(out / "options.json", out / "weights.hdf5")


def test_init_from_a_run_folder_continues_its_softmax_and_perplexity(corpus, tmp_path: Path, capsys) -> None:
    """Domain adaptation from a pretraining run: the new run's step-0 held-out perplexity is the old run's final
    one, because the softmax (which the official files lack) and the vocabulary come along."""
    train, heldout = corpus
    first = tmp_path / "first"
    assert main(["pretrain", str(train), "-o", str(first), *FAST, "--max-steps", "30", "--heldout", str(heldout)]) == 0
    before = json.loads((first / "metrics.json").read_text())[-1]["heldout_ppl"]
    adapted = tmp_path / "adapted"
    fast = [a for a in FAST if a not in ("--size", "tiny")]
    argv = ["pretrain", str(heldout), "-o", str(adapted), *fast, "--max-steps", "5", "--heldout", str(heldout)]
    assert main([*argv, "--init-from", str(first)]) == 0
    assert (adapted / "vocab.txt").read_text() == (first / "vocab.txt").read_text()
    rows = json.loads((adapted / "metrics.json").read_text())
    assert rows[0]["step"] == 0 and rows[0]["heldout_ppl"] == pytest.approx(before, rel=1e-5)
    (tmp_path / "other.txt").write_text("a\nb\nc\n", encoding="utf-8")
    capsys.readouterr()
    again = ["pretrain", str(heldout), "-o", str(tmp_path / "x"), *fast, "--init-from", str(first)]
    assert main([*again, "--vocab", str(tmp_path / "other.txt")]) == 2
    assert "its softmax has" in capsys.readouterr().err

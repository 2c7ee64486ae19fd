"""The one progress helper of the long stages: a bar on a terminal, plain timed lines elsewhere, silence when quiet."""

from __future__ import annotations

import io

import pytest

from elmo_features.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(stream: io.StringIO, clock: Clock, **kwargs) -> None:
    """Ten updates of 10 tok, one every 4 s, then a normal exit."""
    with Progress("embedding", total=100, unit="tok", every=10, stream=stream, clock=clock, **kwargs) as bar:
        for step in range(10):
            clock.now += 4
            bar.update(10)
            bar.set_postfix(ppl=f"{50 - step:.1f}")


def test_plain_lines_at_the_interval_with_rate_eta_and_a_final_line() -> None:
    stream, clock = io.StringIO(), Clock()
    run(stream, clock)
    lines = stream.getvalue().splitlines()
    # 12 s after the start (30 tok done), then 12 s after that (60 tok), then 12 s after (90 tok), then the final line
    assert lines == [
        "embedding: 30/100 tok (30%), 2.5 tok/s, ETA 00:28, ppl 49.0",
        "embedding: 60/100 tok (60%), 2.5 tok/s, ETA 00:16, ppl 46.0",
        "embedding: 90/100 tok (90%), 2.5 tok/s, ETA 00:04, ppl 43.0",
        "embedding: 100/100 tok (100%), 2.5 tok/s, done in 00:40, ppl 41.0",
    ]


def test_unknown_total_and_a_resumed_start() -> None:
    stream, clock = io.StringIO(), Clock()
    with Progress("pretrain", initial=1000, unit="step", every=0, stream=stream, clock=clock) as bar:
        clock.now += 2
        bar.update(5)
        bar.set_total(1010)
        clock.now += 2
        bar.update(5)
    assert stream.getvalue().splitlines() == [
        "pretrain: 1,005 step, 2.5 step/s",  # no total: no share, no ETA; the rate counts from the resumed step
        "pretrain: 1,010/1,010 step (100%), 2.5 step/s, ETA 00:00",
        "pretrain: 1,010/1,010 step (100%), 2.5 step/s, done in 00:04",
    ]


def test_bytes_are_scaled() -> None:
    stream, clock = io.StringIO(), Clock()
    with Progress("downloading", total=4e6, unit="B", unit_scale=True, every=0, stream=stream, clock=clock) as bar:
        clock.now += 2
        bar.update(1e6)
    assert stream.getvalue().splitlines()[0] == "downloading: 1.00MB/4.00MB (25%), 500kB/s, ETA 00:06"


def test_quiet_prints_nothing() -> None:
    for stream in (io.StringIO(), Terminal()):
        run(stream, Clock(), enabled=False)
        with Progress("x", stream=stream, enabled=False) as bar:
            bar.write("epoch 1 done")
        assert stream.getvalue() == ""


def test_a_terminal_gets_the_bar_and_no_plain_lines() -> None:
    stream = Terminal()
    run(stream, Clock())
    out = stream.getvalue()
    assert "\r" in out and "100/100" in out and "|" in out  # tqdm's bar, redrawn in place
    assert "ETA" not in out and "done in" not in out  # none of the plain lines


def test_an_error_skips_the_final_line() -> None:
    stream = io.StringIO()
    with pytest.raises(KeyError), Progress("x", total=3, stream=stream, clock=Clock()) as bar:
        bar.update()
        raise KeyError("boom")
    assert stream.getvalue() == ""


def test_write_is_a_line_of_its_own() -> None:
    stream = io.StringIO()
    with Progress("x", stream=stream, clock=Clock()) as bar:
        bar.write("epoch=1 ppl=40.00")
    assert stream.getvalue().splitlines()[0] == "epoch=1 ppl=40.00"


@pytest.mark.parametrize("command", ["embed", "cache"])
def test_a_long_command_logs_plain_progress_lines_to_a_file(command, tiny_files, tmp_path, monkeypatch, capsys) -> None:
    import sys

    import elmo_features.progress
    from tasks.cli import main

    text = tmp_path / "in.txt"
    text.write_text("the bank of the river\nthe bank lends money\nsomething new\n")
    model = ["--options-file", str(tiny_files[0]), "--weight-file", str(tiny_files[1])]
    argv = {
        "embed": ["embed", str(text), str(tmp_path / "out.hdf5"), *model, "--batch-size", "1"],
        "cache": ["cache", "build", str(text), *model, "--cache-dir", str(tmp_path / "cache"), "--batch-size", "1"],
    }[command]
    monkeypatch.setattr(elmo_features.progress, "EVERY_S", 0.0)  # a line at every update
    log = tmp_path / "stderr.log"
    with log.open("w") as stream:
        monkeypatch.setattr(sys, "stderr", stream)
        assert main(argv) == 0
        monkeypatch.undo()
    lines = [line for line in log.read_text().splitlines() if not line.startswith("elmo-tasks: warning")]
    desc, total, unit = ("embed", 11, "tok") if command == "embed" else ("cache build", 3, "sent")
    assert len(lines) >= 3 and all(line.startswith(f"{desc}: ") for line in lines), lines
    assert f"/{total} {unit} (" in lines[0] and f"{unit}/s, ETA " in lines[0]
    assert lines[-1].startswith(f"{desc}: {total}/{total} {unit} (100%)") and "done in" in lines[-1]
    assert "\r" not in log.read_text() and f"{desc}:" not in capsys.readouterr().out  # never on stdout

    monkeypatch.setattr(elmo_features.progress, "EVERY_S", 0.0)
    quiet = tmp_path / "quiet.log"
    argv[argv.index(str(tmp_path / "out.hdf5") if command == "embed" else str(tmp_path / "cache"))] += "2"
    with quiet.open("w") as stream:
        monkeypatch.setattr(sys, "stderr", stream)
        assert main([*argv, "--quiet"]) == 0
        monkeypatch.undo()
    assert not [line for line in quiet.read_text().splitlines() if line.startswith(f"{desc}: ")]


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("glove", ["glove vocabulary: 4 line", "glove counting: 4/4 line (100%)", "glove: 3/3 epoch (100%)"]),
        ("word2vec", ["word2vec: 12/12 sent (100%)"]),
    ],
)
def test_vectors_train_logs_each_stage(method, expected, tmp_path, monkeypatch, capsys) -> None:
    import elmo_features.progress
    from tasks.cli import main

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the bank of the river\nthe bank lends money\nthe river bank\nmoney in the bank\n")
    monkeypatch.setattr(elmo_features.progress, "EVERY_S", 0.0)
    argv = ["vectors", "train", str(corpus), "-o", str(tmp_path / "v.txt"), "--method", method, "--epochs", "3"]
    assert main([*argv, "--min-count", "1", "--dim", "4"]) == 0
    err = capsys.readouterr().err
    finals = [line for line in err.splitlines() if "done in" in line]
    assert [line.split(",")[0] for line in finals] == expected, err
    assert ("loss " if method == "glove" else "epoch 3/3") in finals[-1]
    assert main([*argv, "--min-count", "1", "--dim", "4", "-o", str(tmp_path / "quiet.txt"), "--quiet"]) == 0
    assert "done in" not in capsys.readouterr().err


def test_pretrain_logs_steps_with_ppl_and_tokens_per_second(tmp_path, monkeypatch, capsys) -> None:
    import elmo_features.progress
    from tasks.cli import main

    text = tmp_path / "train.txt"
    text.write_text("the cat sat on the mat .\na dog ran in the park .\n" * 20)
    monkeypatch.setattr(elmo_features.progress, "EVERY_S", 0.0)
    argv = ["pretrain", str(text), "--size", "tiny", "--batch-size", "2", "--unroll", "5", "--max-steps", "3"]
    argv += ["--optimizer", "adam", "--n-samples", "8"]
    assert main([*argv, "-o", str(tmp_path / "run")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("pretrain: ")]
    assert lines[0].startswith("pretrain: 1/3 step (33%)") and "ETA" in lines[0], lines
    assert all("ppl " in line and "tok/s " in line for line in lines), lines
    assert lines[-1].startswith("pretrain: 3/3 step (100%)") and "done in" in lines[-1]
    for flag in ("--quiet", "--no-progress"):
        assert main([*argv, "-o", str(tmp_path / flag), flag]) == 0
        assert "pretrain: " not in capsys.readouterr().err

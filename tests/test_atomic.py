"""One way to write a file whole: mode from the umask, nothing left behind, output checked early."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from elmo_features.atomic import atomic_path, check_output, check_output_folder, write_text_atomic
from elmo_features.errors import ElmoError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_mode_follows_the_umask(tmp_path, umask):
    before = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "a.json", "{}\n")
        with atomic_path(tmp_path / "b.bin") as tmp, open(tmp, "wb") as out:
            out.write(b"x")
    finally:
        os.umask(before)
    assert _mode(tmp_path / "a.json") == 0o666 & ~umask
    assert _mode(tmp_path / "b.bin") == 0o666 & ~umask


def test_nothing_half_written_on_error_or_ctrl_c(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    for error in (ValueError, KeyboardInterrupt):
        with pytest.raises(error), atomic_path(target) as tmp:
            tmp.write_text("new, half")
            raise error
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_failing_write_is_one_line(tmp_path):
    with pytest.raises(ElmoError, match=r"cannot write .*missing.*does not exist"):
        write_text_atomic(tmp_path / "missing" / "x.txt", "x")


def test_check_output(tmp_path, deny):
    with pytest.raises(ElmoError, match="it is a folder"):
        check_output(tmp_path)
    with pytest.raises(ElmoError, match="does not exist"):
        check_output(tmp_path / "no" / "x.txt")
    locked = tmp_path / "locked"
    locked.mkdir()
    deny(locked)
    with pytest.raises(ElmoError, match="Permission denied"):
        check_output(locked / "x.txt")
    check_output(tmp_path / "x.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locked"]  # the probe is gone


def test_check_output_folder(tmp_path, deny):
    (tmp_path / "file").write_text("")
    with pytest.raises(ElmoError, match="it is a file"):
        check_output_folder(tmp_path / "file")
    with pytest.raises(ElmoError, match="is a file"):
        check_output_folder(tmp_path / "file" / "run")
    locked = tmp_path / "locked"
    locked.mkdir()
    deny(locked)
    with pytest.raises(ElmoError, match="Permission denied"):
        check_output_folder(locked / "a" / "run")
    check_output_folder(tmp_path / "new" / "run")
    assert not (tmp_path / "new").exists()

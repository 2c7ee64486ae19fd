"""The README's Python example runs as written: embed sentences, then train NER from Python."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import elmo_features
import tasks

pytest.importorskip("lightning")

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    section = README.read_text(encoding="utf-8").split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_public_names_resolve() -> None:
    for module in (elmo_features, tasks):
        for name in module.__all__:
            assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError):
        elmo_features.NoSuchName  # noqa: B018


def test_readme_python_example_runs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    rows = [("John", "B-PER"), ("lives", "O"), ("in", "O"), ("Paris", "B-LOC"), (".", "O")]
    text = "\n\n".join("\n".join(f"{t} {g}" for t, g in rows) for _ in range(6)) + "\n"
    for name in ("train.txt", "valid.txt"):
        Path(name).write_text(text, encoding="utf-8")
    embed, ner = python_blocks()
    scope: dict = {}
    exec(compile(embed, "README embed", "exec"), scope)
    assert tuple(scope["vectors"].shape) == (2, 7, 256) and tuple(scope["mask"].shape) == (2, 7)
    exec(compile(ner, "README ner", "exec"), scope)
    assert 0.0 <= scope["metrics"]["dev"]["f1"] <= 100.0
    assert (tmp_path / "runs" / "my_ner" / "metrics.json").is_file()

"""`elmo-tasks quickstart` end to end at toy sizes: three embeddings, three heads, the table."""

from __future__ import annotations

import json

import pytest

import tasks.quickstart as quickstart
from tasks import quickstart_data
from tasks.cli import main


@pytest.fixture
def toy(monkeypatch):
    """Tiny biLM, one epoch per head, small splits: the same code path in well under a minute."""
    from elmo_features.pretrain.sizes import size_options

    monkeypatch.setattr(quickstart, "QUICK_BILM", size_options("tiny"))
    monkeypatch.setattr(quickstart, "CORPUS_SENTENCES", 500)
    for task, sizes in {"ner": (60, 20, 20), "sentiment": (60, 20, 20), "qa": (30, 10)}.items():
        monkeypatch.setitem(quickstart_data.SIZES, task, dict(zip(quickstart_data.SIZES[task], sizes, strict=False)))
    for task in quickstart.quickstart_tasks():
        monkeypatch.setattr(task.QUICKSTART, "trainer", {**task.QUICKSTART.trainer, "epochs": 1})


def test_quickstart_prints_the_comparison_on_generated_data(toy, tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "-o", str(out), "--data", "generated", "--lm-steps", "5"]) == 0
    printed = capsys.readouterr().out
    assert "data: generated" in printed and "| task | score | glove | word2vec | elmo | ELMo - GloVe |" in printed
    results = json.loads((out / "results.json").read_text())
    rows = results["heads"]
    assert {"cpu", "cpu_flags", "cpu_capability", "threads", "torch"} <= set(results["machine"])
    assert [(r["task"], r["embedding"]) for r in rows] == [
        (t, e) for t in ("ner", "sentiment", "qa") for e in quickstart.EMBEDDINGS
    ]
    assert all(0.0 <= r["score"] <= 100.0 and r["ambiguous"] is not None for r in rows)
    assert "| entity type from the token's own vector |" in printed
    assert list(results["probes"]) == ["glove", "word2vec", "elmo layer 0", "elmo layer 1", "elmo layer 2"]
    # a static vector (and the context-free layer 0) is one vector for both readings of a word
    assert all(0.0 <= p["ambiguous"] <= 100.0 for p in results["probes"].values())
    assert (out / "embeddings" / "bilm" / "weights.hdf5").is_file() and (out / "results.md").is_file()


def test_real_data_needs_data_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "nothing"))
    assert main(["quickstart", "-o", str(tmp_path / "qs"), "--data", "real"]) == 2
    assert "--data real needs conll2003/ and sst/ under DATA_DIR" in capsys.readouterr().err

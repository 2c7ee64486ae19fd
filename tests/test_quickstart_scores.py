"""The quickstart's numbers on hand-made predictions: ambiguous-item scores, the head scores, the printed table,
and which data ``--data real|auto|generated`` picks. No training: the heavy steps are replaced at their seams."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

import tasks.common.task as task_registry
import tasks.common.trainer as trainer
import tasks.quickstart as quickstart
from elmo_features.errors import ElmoError
from tasks import quickstart_data
from tasks.common.config import validate_config
from tasks.common.task import Quickstart, Task, all_tasks, get_task
from tasks.ner.reader import load_split
from tasks.quickstart import QuickData, Row

GOLD_NER = [["B-PER", "L-PER", "O"], ["U-LOC", "O"], ["U-ORG"]]
PRED_NER = [["B-PER", "U-PER", "O"], ["U-PER", "O"], ["U-LOC"]]
SST_TEST = ["1\tnot bad at all", "0\tgood but dull", "1\tfine", "0\tbad"]
QA_DEV = {
    "version": "1.1",
    "data": [
        {
            "title": "t",
            "paragraphs": [
                {
                    "context": "coach Jordan flew to Jordan .",
                    "qas": [
                        {"id": "q1", "question": "Who flew?", "answers": [{"text": "coach Jordan", "answer_start": 0}]},
                        {"id": "q2", "question": "Where?", "answers": [{"text": "Jordan", "answer_start": 21}]},
                        {"id": "q3", "question": "Who?", "answers": [{"text": "Jordan", "answer_start": 6}]},
                        {"id": "q4", "question": "x?", "answers": [{"text": "flew", "answer_start": 13}]},
                    ],
                }
            ],
        }
    ],
}


def _data(tmp_path: Path) -> QuickData:
    sst, dev = tmp_path / "sst_test.tsv", tmp_path / "qa_dev.json"
    sst.write_text("\n".join(SST_TEST) + "\n", encoding="utf-8")
    dev.write_text(json.dumps(QA_DEV), encoding="utf-8")
    ambiguous = {
        # (sentence, token): PER/PER hit (L- vs U-: only the type counts), LOC/PER miss, ORG/LOC miss, O/O hit,
        # and a token beyond its sentence, skipped: 2 of 4
        "ner": {"test": [[0, 1], [1, 0], [2, 0], [0, 2], [2, 5]]},
        "sentiment": {"test": [0, 1, 3]},
        "qa": {"dev": ["q1", "q2", "q3", "absent"]},
    }
    files = {"sentiment/test": sst, "qa/dev": dev}
    return QuickData("hand-made", tmp_path / "corpus.txt", files, ambiguous)


# The runs behind the quickstart's scores, replaced by fixed predictions; each task's own quickstart_hits scores them.
def _load_run(run_dir):
    return "model", {"labels": ["negative", "positive"]}, "config"


def _read_split(config, split, source=None):
    assert (config, split) == ("config", "test")
    return SimpleNamespace(tokens=[["w"] * len(t) for t in GOLD_NER], tags=GOLD_NER)


def _tag(model, tokens, batch_size=32):
    return PRED_NER


def _predict_file(model, vocab, config, path, fmt=None):
    if path.endswith(".json"):  # QA: q1 right up to an article and case, q2 right, q3 the wrong Jordan
        return {"q1": "Coach Jordan", "q2": "Jordan", "q3": "coach Jordan", "q4": "flew"}
    texts = Path(path).read_text(encoding="utf-8").splitlines()
    assert texts == [line.split("\t")[1] for line in SST_TEST]  # the test texts, in order
    return [{"label": label} for label in ("positive", "positive", "negative", "positive")]


@pytest.fixture
def fixed_runs(monkeypatch):
    for task in all_tasks().values():
        for name, fake in (("load_run", _load_run), ("read_split", _read_split), ("tag", _tag),
                           ("predict_file", _predict_file)):  # fmt: skip
            monkeypatch.setattr(task, name, fake, raising=False)


@pytest.mark.parametrize(("task", "expected"), [("ner", 50.0), ("sentiment", 100 / 3), ("qa", 200 / 3)])
def test_ambiguous_score_on_hand_made_predictions(fixed_runs, tmp_path, task, expected):
    assert quickstart.ambiguous_score(get_task(task), tmp_path, _data(tmp_path)) == pytest.approx(expected)


def test_no_ambiguous_items_gives_none(fixed_runs, tmp_path):
    data = _data(tmp_path)
    data.ambiguous["qa"]["dev"] = ["absent"]
    assert quickstart.ambiguous_score(get_task("qa"), tmp_path, data) is None


ROWS = [
    Row("ner", "glove", 81.25, 40.0, 1.0),
    Row("ner", "word2vec", 79.0, None, 1.0),
    Row("ner", "elmo", 90.5, 72.5, 1.0),
    Row("sentiment", "glove", 70.0, 55.55, 1.0),
    Row("sentiment", "elmo", 75.0, 60.0, 1.0),
]
TABLE = """\
| task | score | glove | word2vec | elmo | ELMo - GloVe |
| --- | --- | --- | --- | --- | --- |
| ner | test span F1 | 81.2 | 79.0 | 90.5 | +9.2 |
| ner | type accuracy on ambiguous words | 40.0 | - | 72.5 | +32.5 |
| sentiment | test accuracy | 70.0 | - | 75.0 | +5.0 |
| sentiment | accuracy on negation/contrast/context | 55.5 | - | 60.0 | +4.5 |
| qa | dev F1 | - | - | - | - |
| qa | exact match, ambiguous answers | - | - | - | - |"""


def test_table_shows_exactly_the_rows_numbers():
    assert quickstart.table(ROWS) == TABLE


def test_head_rows_take_the_test_score_and_the_ambiguous_score(monkeypatch, tmp_path):
    """Every task's metrics are in percent and shown as they are; dev when there is no test split."""
    metrics = {"ner": {"test": {"f1": 81.25}}, "sentiment": {"test": {"accuracy": 70.0}}, "qa": {"dev": {"f1": 42.0}}}
    monkeypatch.setattr(quickstart, "EMBEDDINGS", ("glove",))
    monkeypatch.setattr(quickstart, "task_config", lambda task, *a: task.name)
    monkeypatch.setattr("tasks.common.config.validate_config", lambda config, where: config)
    monkeypatch.setattr(trainer, "train", lambda task, run_dir, quiet: metrics[task])
    scores = {"ner": 12.5, "qa": None}
    monkeypatch.setattr(quickstart, "ambiguous_score", lambda task, run_dir, data: scores.get(task.name))
    rows = quickstart.train_heads(_data(tmp_path), {"glove": {}}, tmp_path / "runs", 0, lambda line: None)
    assert [(r.task, r.embedding, r.ambiguous) for r in rows] == [
        ("ner", "glove", 12.5),
        ("sentiment", "glove", None),
        ("qa", "glove", None),
    ]
    assert [r.score for r in rows] == pytest.approx([81.25, 70.0, 42.0])


def test_run_prints_and_saves_the_table_of_its_rows(monkeypatch, tmp_path):
    data = _data(tmp_path)
    monkeypatch.setattr(quickstart, "prepare_data", lambda folder, seed, source: folder.mkdir(parents=True) or data)
    monkeypatch.setattr(quickstart, "train_embeddings", lambda *a: {})
    monkeypatch.setattr(quickstart, "train_heads", lambda *a: ROWS)
    probes = {"glove": {"all": 50.0}, "elmo layer 1": {"ambiguous": 87.5, "all": 90.0}}
    monkeypatch.setattr(quickstart, "run_probes", lambda *a: probes)
    printed: list[str] = []
    assert quickstart.run(tmp_path / "out", say=printed.append) == ROWS
    text = "\n".join(printed)
    assert TABLE in text
    assert "| ambiguous words | - | 87.5 |\n| all entity tokens | 50.0 | 90.0 |" in text
    assert TABLE in (tmp_path / "out" / "results.md").read_text(encoding="utf-8")
    saved = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert saved.pop("machine")["cpu_capability"]  # the CPU the numbers came from
    assert saved == {"heads": [r.__dict__ for r in ROWS], "probes": probes}


# ---------------------------------------------------------------------------- the tasks come from the registry
class ToyTask(Task):
    """A task registered only in these tests, with a quickstart head."""

    name = "toy"
    MONITOR = "hits"
    QUICKSTART = Quickstart(
        order=9,
        splits={"train": "a", "validation": "b"},
        data={"size": 3},
        model={"width": 1},
        trainer={"epochs": 2},
        score_label="toy hits",
        ambiguous_label="toy ambiguous",
        elmo_model={"elmo": "late"},
    )

    def quickstart_hits(self, run_dir, files, ambiguous):
        return [True, False, False, True] if ambiguous == "mixed" else []


@pytest.fixture
def toy_task(monkeypatch):
    monkeypatch.setitem(task_registry.TASKS, "toy", ToyTask())


def test_the_quickstart_takes_the_registered_tasks_with_a_head(toy_task):
    assert [t.name for t in quickstart.quickstart_tasks()] == ["ner", "sentiment", "qa", "toy"]  # QUICKSTART.order
    assert "pos" in all_tasks() and get_task("pos").QUICKSTART is None  # registered, but not in the quickstart


def test_a_registered_task_gets_its_rows_config_and_ambiguous_score(toy_task, tmp_path, monkeypatch):
    toy = get_task("toy")
    files = {"toy/a": tmp_path / "a.txt", "toy/b": tmp_path / "b.txt"}
    data = QuickData("x", tmp_path / "corpus.txt", files, {"toy": "mixed"})
    assert quickstart.task_config(toy, data, {"type": "concat"}, 7) == {
        "name": "quickstart_toy",
        "task": {"name": "toy"},
        "data": {"train": str(tmp_path / "a.txt"), "validation": str(tmp_path / "b.txt"), "size": 3},
        "embedder": {"type": "concat"},
        "model": {"width": 1, "elmo": "late"},
        "trainer": {"epochs": 2, "seed": 7},
    }
    assert quickstart.task_config(toy, data, {"type": "glove"}, 7)["model"] == {"width": 1}
    assert quickstart.ambiguous_score(toy, tmp_path, data) == 50.0
    data.ambiguous["toy"] = "none"
    assert quickstart.ambiguous_score(toy, tmp_path, data) is None
    table = quickstart.table([Row("toy", "glove", 25.0, 75.0, 1.0)])
    assert table.endswith("| toy | toy hits | 25.0 | - | - | - |\n| toy | toy ambiguous | 75.0 | - | - | - |")

    trained = []
    monkeypatch.setattr(quickstart, "EMBEDDINGS", ("glove",))
    monkeypatch.setattr(quickstart, "task_config", lambda task, *a: task.name)
    monkeypatch.setattr("tasks.common.config.validate_config", lambda config, where: config)
    scores = {"dev": {"hits": 25.0, "f1": 1.0, "accuracy": 1.0}}
    monkeypatch.setattr(trainer, "train", lambda task, run_dir, quiet: trained.append(task) or scores)
    monkeypatch.setattr(quickstart, "ambiguous_score", lambda task, run_dir, data: 75.0)
    rows = quickstart.train_heads(data, {"glove": {}}, tmp_path / "runs", 0, lambda line: None)
    assert trained == ["ner", "sentiment", "qa", "toy"]
    assert (rows[-1].task, rows[-1].score, rows[-1].ambiguous) == ("toy", 25.0, 75.0)  # its MONITOR, on dev


def test_every_quickstart_head_is_a_valid_config(tmp_path):
    splits = ("train", "valid", "dev", "test")
    files = {f"{t.name}/{s}": tmp_path / f"{t.name}_{s}.txt" for t in quickstart.quickstart_tasks() for s in splits}
    data = QuickData("x", tmp_path / "corpus.txt", files, {})
    glove = {"type": "glove", "path": str(tmp_path / "glove.txt"), "trainable": True}
    elmo = {"type": "concat", "parts": [glove, {"type": "elmo", "options": "o.json", "weights": "w.hdf5"}]}
    configs = {
        (t.name, e): validate_config(quickstart.task_config(t, data, block, 3), t.name)
        for t in quickstart.quickstart_tasks()
        for e, block in (("glove", glove), ("elmo", elmo))
    }
    ner = configs["ner", "glove"]
    assert (ner.data.validation, ner.data.test) == (str(files["ner/valid"]), str(files["ner/test"]))
    assert ner.trainer.seed == 3 and ner.trainer.lr == 0.005 and ner.model.hidden == 64
    assert configs["sentiment", "glove"].data.classes == 2
    assert configs["sentiment", "glove"].data.validation == str(files["sentiment/dev"])
    assert configs["qa", "elmo"].model.elmo == "output" and configs["qa", "glove"].model.elmo != "output"
    assert configs["qa", "glove"].data.test is None


# ---------------------------------------------------------------------------- --data real|auto|generated
CONLL = {
    "train": "EU B-ORG\nrejects O\nGerman B-MISC\ncall O\n\nEU B-LOC\nvotes O\n\nPeter B-PER\nBlackburn I-PER\n",
    "valid": "Paris B-LOC\nwins O\n\nJohn B-PER\nmeets O\nEU B-ORG\n",
    "test": "EU B-ORG\nagrees O\n\nRome B-LOC\nfalls O\n",
}
SST = {
    "train": "(3 (2 It) (3 (2 is) (3 good)))\n(1 (2 It) (1 (2 is) (1 (1 not) (3 good))))\n(4 (2 a) (4 gem))\n",
    "dev": "(4 (2 A) (4 delight))\n(0 (2 A) (0 bore))\n",
    "test": "(0 (2 Never) (0 again))\n(4 (2 Pure) (4 joy))\n(3 (3 fine) (2 but) (2 long))\n",
}


@pytest.fixture
def small(monkeypatch):
    """Generated data at toy sizes; the real subsets take as many sentences as the generated splits."""
    monkeypatch.setattr(quickstart, "CORPUS_SENTENCES", 50)
    sizes = {"ner": (2, 2, 2), "sentiment": (2, 2, 3), "qa": (3, 2)}
    for task, n in sizes.items():
        monkeypatch.setitem(quickstart_data.SIZES, task, dict(zip(quickstart_data.SIZES[task], n, strict=True)))


def _write_real(root: Path) -> None:
    for folder, splits in (("conll2003", CONLL), ("sst", SST)):
        (root / folder).mkdir(parents=True)
        for split, text in splits.items():
            (root / folder / f"{split}.txt").write_text(text, encoding="utf-8")


def test_real_reads_data_dir(small, tmp_path):
    root = Path(os.environ["DATA_DIR"])
    _write_real(root)
    data = quickstart.prepare_data(tmp_path / "q", seed=0, source="real")
    assert data.source.startswith(f"real: first sentences of {root}/conll2003")
    ner = data.files["ner/train"].read_text(encoding="utf-8")
    assert ner == "EU B-ORG\nrejects O\nGerman B-MISC\ncall O\n\nEU B-LOC\nvotes O\n"
    assert data.files["ner/test"].read_text(encoding="utf-8").startswith("EU B-ORG\nagrees O\n")
    for split in ("train", "valid", "test"):  # read back as the quickstart's NER config reads them (IOB2)
        assert len(load_split(str(data.files[f"ner/{split}"]), split, scheme="IOB2")) == 2
    # SST-2: neutral roots dropped (none here), 0-1 negative, 3-4 positive; texts are the trees' leaves
    assert data.files["sentiment/test"].read_text(encoding="utf-8") == "0\tNever again\n1\tPure joy\n1\tfine but long\n"
    assert data.ambiguous["sentiment"]["test"] == [2]  # "but"
    corpus = data.corpus.read_text(encoding="utf-8").splitlines()
    assert corpus[:3] == ["EU rejects German call", "EU votes", "Peter Blackburn"]
    assert corpus[3:] == ["It is good", "It is not good", "a gem"]
    # "EU" is ORG and LOC in the two train sentences taken: ambiguous wherever it occurs
    assert data.ambiguous["ner"] == {"train": [[0, 0], [1, 0]], "valid": [[1, 2]], "test": [[0, 0]]}
    assert json.loads((tmp_path / "q" / "qa" / "dev.json").read_text())["data"]  # QA stays generated


def test_auto_picks_real_data_when_present_and_generated_when_absent(small, tmp_path):
    generated = quickstart.prepare_data(tmp_path / "a", seed=0, source="auto")
    assert generated.source.startswith("generated")
    assert not generated.files["ner/train"].read_text(encoding="utf-8").startswith("EU B-ORG")
    _write_real(Path(os.environ["DATA_DIR"]))
    real = quickstart.prepare_data(tmp_path / "b", seed=0, source="auto")
    assert real.source.startswith("real:")
    assert real.files["ner/train"].read_text(encoding="utf-8").startswith("EU B-ORG\nrejects O\n")
    forced = quickstart.prepare_data(tmp_path / "c", seed=0, source="generated")
    assert forced.source.startswith("generated")
    assert forced.files["ner/train"].read_text(encoding="utf-8") == generated.files["ner/train"].read_text("utf-8")


def test_real_without_sst_is_an_error(small, tmp_path):
    root = Path(os.environ["DATA_DIR"])
    _write_real(root)
    for path in (root / "sst").iterdir():
        path.unlink()
    (root / "sst").rmdir()
    with pytest.raises(ElmoError, match="--data real needs conll2003/ and sst/ under DATA_DIR"):
        quickstart.prepare_data(tmp_path / "q", seed=0, source="real")
    assert quickstart.prepare_data(tmp_path / "q", seed=0, source="auto").source.startswith("generated")


@pytest.mark.parametrize(
    ("argv", "source"), [([], "generated"), (["--data", "auto"], "auto"), (["--data", "real"], "real")]
)
def test_the_command_passes_its_data_choice_on(monkeypatch, tmp_path, argv, source):
    from tasks.cli import main

    calls = []
    monkeypatch.setattr(quickstart, "run", lambda output_dir, **kwargs: calls.append(kwargs["source"]))
    assert main(["quickstart", "-o", str(tmp_path / "q"), *argv]) == 0
    assert calls == [source]

"""The comparison harness on tiny data: the floors (tfidf, majority class), still-improving runs, significance,
learning curves, bench.json files without absolute paths; and the CPU suite file with its configs."""

from __future__ import annotations

import csv
import json
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from tasks.bench.stats import bootstrap, item_counts, paired_t
from tasks.bench.suite import jobs, load_suite
from tasks.cli import main
from tasks.common.config import load_config

REPO = Path(__file__).resolve().parents[1]
SENTENCES = [
    "John B-PER\nlives O\nin O\nParis B-LOC",
    "Mary B-PER\nworks O\nat O\nAcme B-ORG",
    "Acme B-ORG\nhired O\nBob B-PER",
    "Anna B-PER\nflew O\nto O\nBerlin B-LOC",
]
WORDS = ["awful", "bad", "good", "great"]


def _ner_suite(epochs: int = 1, **task) -> Path:
    """A suite in the current folder, its data under DATA_DIR and its config named relative to the cwd."""
    data = Path(os.environ["DATA_DIR"]) / "ner.txt"
    data.write_text("\n\n".join(SENTENCES * 3) + "\n", encoding="utf-8")
    config = {
        "name": "tiny",
        "task": {"name": "ner"},
        "data": {"train": "${DATA_DIR}/ner.txt", "validation": "${DATA_DIR}/ner.txt", "test": "${DATA_DIR}/ner.txt"},
        "embedder": {"type": "random", "dim": 4},
        "model": {"hidden": 4, "layers": 1, "char_cnn": False},
        "trainer": {"epochs": epochs, "batch_size": 2, "lr": 0.05, "patience": 100},
    }
    Path("tiny.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    spec = {"name": "ner", "seeds": [0, 1], "runs": {"a": {"config": "tiny.yaml"}, "b": {"config": "tiny.yaml"}}}
    Path("suite.yaml").write_text(yaml.safe_dump({"name": "unit", "tasks": [{**spec, **task}]}), encoding="utf-8")
    return Path("suite.yaml")


def _csv(path: str) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _absolute_paths(text: str) -> list[str]:
    return re.findall(r"(?<![\w.$}])/(?:[\w.@-]+/)+[\w.@-]*", text)


def test_a_run_whose_best_epoch_is_its_last_is_extended_then_flagged(capsys):
    suite = _ner_suite(epochs=1, max_epochs=2, seeds=[0], runs={"a": {"config": "tiny.yaml"}})
    assert main(["benchmark", str(suite), "-o", "out"]) == 0
    folder = Path("out/runs/ner/a/seed0")
    info = json.loads((folder / "bench.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    # one epoch is always best and last: resumed with twice the epochs (= max_epochs 2) in the same command
    assert metrics["epochs"] == 2 and info["overrides"][-1] == "trainer.epochs=2" and info["resumed"] is True
    assert f"{folder}: still improving at its epoch cap: resumed with more" in capsys.readouterr().err
    rows = _csv("out/ner.csv")
    if info["still_improving"]:  # still best at the cap: not counted, listed
        assert rows[0]["mean"] == "" and rows[0]["still_improving"].startswith("seed0:")
    else:
        assert rows[0]["seeds"] == "1" and rows[0]["still_improving"] == ""
    capsys.readouterr()
    assert main(["benchmark", str(suite), "-o", "out", "--dry-run"]) == 0  # at max_epochs: done, flagged or not
    assert "0 runs missing" in capsys.readouterr().err


def test_still_improving_runs_are_not_counted(tmp_path):
    from tasks.bench.report import collect

    suite = load_suite(_ner_suite())
    for seed, best in ((0, 3), (1, 5)):
        folder = Path(f"out/runs/ner/a/seed{seed}")
        folder.mkdir(parents=True)
        metrics = {
            "dev": {"f1": 50.0},
            "test": {"f1": 60.0 + seed},
            "scale": "percent",
            "epochs": 5,
            "best_epoch": best,
        }
        (folder / "metrics.json").write_text(json.dumps(metrics))
    (a,) = collect(suite, Path("out"), suite.tasks[0])
    assert a.scores == [60.0] and a.improving == {1: 61.0}


def test_bench_json_re_runs_the_job_and_holds_no_absolute_path(monkeypatch):
    monkeypatch.setenv("MY_VECTORS", str(Path.cwd() / "vectors"))
    suite = _ner_suite(epochs=2, learning_curve={"fractions": [0.5], "runs": ["b"]}, seeds=[0])
    raw = yaml.safe_load(suite.read_text())
    raw["variables"] = ["MY_VECTORS"]
    suite.write_text(yaml.safe_dump(raw))
    assert main(["benchmark", str(suite), "-o", "out"]) == 0
    folders = [Path("out/runs/ner/a/seed0"), Path("out/runs/ner/b/seed0"), Path("out/runs/ner/b/train0.5/seed0")]
    for folder in folders:
        for name in ("bench.json", "config.yaml", "metrics.json", "epochs.csv"):
            text = (folder / name).read_text()
            assert _absolute_paths(text) == [], (folder / name, _absolute_paths(text))
        info = json.loads((folder / "bench.json").read_text())
        assert info["config"] == "tiny.yaml" and info["cpu_s"] >= 0
        assert "${DATA_DIR}/ner.txt" in (folder / "config.yaml").read_text()
        config = load_config(info["config"], info["overrides"])  # what re-runs it
        assert config.model_dump() == load_config(str(folder / "config.yaml")).model_dump()
    assert json.loads((folders[2] / "bench.json").read_text())["overrides"] == [
        "data.train_fraction=0.5",
        "trainer.seed=0",
    ]
    curve = _csv("out/ner_curve.csv")
    assert [(r["run"], r["train_fraction"]) for r in curve] == [("b", "0.5"), ("b", "1.0")]
    assert Path("out/ner_curve.png").stat().st_size > 0
    assert "CPU time" in Path("out/README.md").read_text()
    # a finished run with portable files still resumes (its config.yaml is compared after expansion)
    assert main(["train", "tiny.yaml", "-o", str(folders[0]), "--resume", "--set", "trainer.epochs=3"]) == 0


def _write_trees(path: Path, count: int, seed: int) -> None:
    rng = random.Random(seed)
    lines = []
    for k in range(count):
        label = k % 4
        root = label if label < 2 else label + 1  # SST labels 0 1 3 4
        lines.append(f"({root} (2 {rng.choice(['the', 'a', 'film'])}) ({root} {WORDS[label]}))")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _sst_suite(task: dict, **data) -> None:
    """A tiny SST (40 train trees, 12 dev, 12 test, both classes equally often) and a suite of ``task`` over it;
    ``data``: more keys of the config's data section."""
    sst = Path("data/sst")
    sst.mkdir(parents=True)
    for name, count, seed in (("train", 40, 1), ("dev", 12, 2), ("test", 12, 3)):
        _write_trees(sst / f"{name}.txt", count, seed)
    config = {
        "name": "tiny_sst",
        "task": {"name": "sentiment"},
        "data": {"train": "${DATA_DIR}/sst/train.txt", "validation": "${DATA_DIR}/sst/dev.txt",
                 "test": "${DATA_DIR}/sst/test.txt", "classes": 2, **data},
        "embedder": {"type": "random", "dim": 4},
    }  # fmt: skip
    Path("sst.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    spec = {"name": "sst2", "metric": "accuracy", "seeds": [0, 1, 2], **task}
    Path("suite.yaml").write_text(yaml.safe_dump({"name": "unit", "tasks": [spec]}), encoding="utf-8")


def test_floor_rows_are_one_seed_independent_value():
    _sst_suite(
        {
            "runs": {
                "bow": {"kind": "tfidf", "config": "sst.yaml"},
                "majority": {"kind": "majority", "config": "sst.yaml"},
            }
        }
    )
    assert len(list(jobs(load_suite("suite.yaml")))) == 2
    assert main(["benchmark", "suite.yaml", "-o", "out"]) == 0
    metrics = json.loads(Path("out/runs/sst2/bow/metrics.json").read_text())
    assert metrics["test"]["accuracy"] == 100.0 and metrics["C"] in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    majority = json.loads(Path("out/runs/sst2/majority/metrics.json").read_text())
    assert majority["label"] == 0 and majority["test"]["accuracy"] == 50.0  # a 20/20 tie: the smaller label
    bow, floor = _csv("out/sst2.csv")
    assert bow["seeds"] == "seed-independent" and bow["mean"] == "100.0" and bow["sd"] == ""
    assert floor["run"] == "majority" and floor["mean"] == "50.0"
    assert item_counts(Path("out/runs/sst2/bow/predictions_test.tsv"), "accuracy").sum(0).tolist() == [12.0, 12.0]
    assert item_counts(Path("out/runs/sst2/majority/predictions_test.tsv"), "accuracy").sum(0).tolist() == [6.0, 12.0]


def test_a_metric_the_runs_do_not_have_is_one_line_error(capsys):
    _sst_suite({"extra_metrics": ["em"], "runs": {"bow": {"kind": "tfidf", "config": "sst.yaml"}}})
    assert main(["benchmark", "suite.yaml", "-o", "out"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        err.startswith("elmo-tasks: error: sst2: no test score 'em' in out/runs/sst2/bow/metrics.json")
        and "accuracy" in err
    )


@pytest.mark.parametrize("where", ["suite", "config"])
def test_floors_on_a_train_fraction_use_each_seeds_subset_of_a_trained_run(where):
    from collections import Counter

    from tasks.common.subset import nested_subset
    from tasks.common.task import get_task

    floors = {"bow": {"kind": "tfidf", "config": "sst.yaml"}, "majority": {"kind": "majority", "config": "sst.yaml"}}
    if where == "suite":
        _sst_suite({"set": ["data.train_fraction=0.3"], "runs": floors})
    else:
        _sst_suite({"runs": floors}, train_fraction=0.3)
    assert len(list(jobs(load_suite("suite.yaml")))) == 6  # a subset is drawn per seed: a floor per seed
    assert main(["benchmark", "suite.yaml", "-o", "out"]) == 0
    train = get_task("sentiment").read_split(load_config("sst.yaml"), "train")
    labels = set()
    for seed in (0, 1, 2):
        subset = nested_subset(train, 0.3, seed).labels
        counts = Counter(subset)
        majority = json.loads(Path(f"out/runs/sst2/majority/seed{seed}/metrics.json").read_text())
        assert majority["train_items"] == len(subset) == 12
        assert majority["label"] == min(counts, key=lambda k: (-counts[k], k))
        assert json.loads(Path(f"out/runs/sst2/bow/seed{seed}/metrics.json").read_text())["train_items"] == 12
        assert json.loads(Path(f"out/runs/sst2/bow/seed{seed}/bench.json").read_text())["train_fraction"] == 0.3
        labels.add(tuple(subset))
    assert len(labels) > 1  # the seeds drew different subsets
    assert [row["seeds"] for row in _csv("out/sst2.csv")] == ["3", "3"]


def test_recomputing_a_whole_split_floor_keeps_its_learning_curve_runs():
    from tasks.bench.runner import run_job

    floors = {"bow": {"kind": "tfidf", "config": "sst.yaml"}}
    _sst_suite({"learning_curve": {"fractions": [0.5], "runs": ["bow"]}, "runs": floors})
    assert main(["benchmark", "suite.yaml", "-o", "out"]) == 0
    curve = [Path(f"out/runs/sst2/bow/train0.5/seed{k}/metrics.json") for k in (0, 1, 2)]
    assert all(path.is_file() for path in curve) and Path("out/runs/sst2/bow/metrics.json").is_file()
    (whole,) = [job for job in jobs(load_suite("suite.yaml")) if job.fraction == 1.0]
    run_job(whole, Path("out"))
    assert all(path.is_file() for path in curve)


def test_item_counts_rebuild_span_f1_and_the_bootstrap_sees_a_real_gap(tmp_path):
    conll = tmp_path / "p.conll"
    conll.write_text("John B-PER B-PER\nin O O\nParis B-LOC O\n\nBob B-PER B-ORG\n", encoding="utf-8")
    counts = item_counts(conll, "f1")
    assert counts.tolist() == [[1, 1, 2], [0, 1, 1]]  # per sentence: true positives, predicted, gold
    assert item_counts(conll, "accuracy") is None  # not a metric the file can give
    rng = np.random.default_rng(0)
    worse = [np.stack([rng.random(400) < 0.6, np.ones(400)], 1).astype(float) for _ in range(3)]
    better = [np.stack([rng.random(400) < 0.8, np.ones(400)], 1).astype(float) for _ in range(3)]
    gap = bootstrap(worse, better, resamples=2000)
    assert 15 < gap.diff < 25 and gap.p < 0.01 and gap.low < gap.diff < gap.high and "bootstrap" in gap.test
    same = bootstrap(worse, worse, resamples=2000)
    assert same.diff == 0 and same.p == 1.0


def test_qa_predictions_are_scored_per_question_against_the_test_file_their_config_names(tmp_path, monkeypatch):
    """QA's predictions hold no gold answers: the bootstrap scores them against the run's test file, and without
    that file (a results folder read where the data is not) the comparison falls back to the paired t-test."""
    from tasks.bench.stats import compare

    questions = [("q1", ["Paris", "the city of Paris"]), ("q2", ["1943"]), ("q3", ["New York City"])]
    qas = [{"id": q, "question": "?", "answers": [{"text": t, "answer_start": 0} for t in a]} for q, a in questions]
    paragraph = {"context": "x", "qas": qas}
    data = tmp_path / "data"
    (data / "squad").mkdir(parents=True)
    (data / "squad" / "test.json").write_text(json.dumps({"data": [{"title": "t", "paragraphs": [paragraph]}]}))
    monkeypatch.setenv("DATA_DIR", str(data))
    runs = {}
    for name, answers in (("a", {"q1": "Paris", "q2": "1944", "q3": "York City"}), ("b", {"q1": "city of Paris"})):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.yaml").write_text(  # only the test file's variable needs to be set
            "data:\n  test: ${DATA_DIR}/squad/test.json\nembedder:\n  path: ${UNSET_VECTORS_PATH}\n"
        )
        (folder / "predictions_test.json").write_text(json.dumps(answers))
        runs[name] = folder / "predictions_test.json"
    assert item_counts(runs["a"], "exact_match").tolist() == [[1, 1], [0, 1], [0, 1]]
    assert item_counts(runs["a"], "f1")[:, 0].tolist() == pytest.approx([1, 0, 0.8])  # "York City" in "New York City"
    assert item_counts(runs["b"], "f1")[:, 0].tolist() == [1, 0, 0]  # best over the golds; no prediction scores 0
    gap = compare({0: runs["a"]}, {0: runs["b"]}, {0: 60.0}, {0: 33.3}, "f1")
    assert "bootstrap over 3 test items" in gap.test and gap.diff == pytest.approx(100 / 3 - 60)
    partial = compare(
        {0: runs["a"], 1: runs["a"]}, {0: runs["b"], 1: None}, {0: 60.0, 1: 60.0}, {0: 33.3, 1: 40.0}, "f1"
    )
    assert "t-test over 2 seeds" in partial.test  # seed 1 of b kept no predictions: not the mean the table shows
    (runs["b"].parent / "config.yaml").write_text("data:\n  test: ${DATA_DIR}/squad/elsewhere.json\n")
    assert item_counts(runs["b"], "f1") is None
    assert "paired seed" in compare({0: runs["a"]}, {0: runs["b"]}, {0: 60.0}, {0: 33.3}, "f1").test  # the t-test's


def test_paired_t_over_seeds():
    result = paired_t({0: 80.0, 1: 81.0, 2: 79.5}, {0: 82.0, 1: 83.5, 2: 81.0})
    assert result.diff == pytest.approx(2.0) and 0 < result.p < 0.05 and "t-test over 3 seeds" in result.test
    assert paired_t({0: 1.0}, {0: 2.0}).p is None


def test_cpu_suite_names_and_configs(monkeypatch):
    for name in ("GLOVE_PATH", "WORD2VEC_PATH"):
        monkeypatch.setenv(name, f"/vectors/{name}.txt")
    suite = load_suite(REPO / "benchmarks" / "suites" / "cpu.yaml")
    assert [t.name for t in suite.tasks] == ["conll2003_ner", "sst5", "sst2", "squad_articles"]
    rows = ["random", "glove6b", "glove", "word2vec", "elmo", "elmo_only"]
    for task in suite.tasks:
        expected = (["bow", "majority"] if task.name.startswith("sst") else []) + rows
        assert list(task.runs) == expected and task.seeds == [0, 1, 2]
        assert ("glove6b", "elmo") in task.compare
        for job in jobs(suite, task.name):
            config = load_config(job.spec.config, job.overrides)  # validates, opens no file
            if job.spec.kind == "train":
                assert config.trainer.patience >= 3 and config.trainer.epochs >= 2 * config.trainer.patience
    assert [t.metrics for t in suite.tasks] == [
        ["f1"],
        ["accuracy"],
        ["accuracy"],
        ["f1", "exact_match"],
    ]  # the MONITORs
    assert {t.name for t in suite.tasks if t.learning_curve} == {"conll2003_ner", "sst2"}
    assert set(suite.variables) == {"GLOVE_PATH", "WORD2VEC_PATH"}


def test_cpu_suite_elmo_only_is_the_elmo_row_without_glove(monkeypatch):
    """Everything but the embedder's GloVe part is the elmo row's: head, trainer, the biLM block (dropout, mixes)."""
    for name in ("GLOVE_PATH", "WORD2VEC_PATH"):
        monkeypatch.setenv(name, f"/vectors/{name}.txt")
    suite = load_suite(REPO / "benchmarks" / "suites" / "cpu.yaml")
    for task in suite.tasks:
        elmo, alone = (
            next(load_config(j.spec.config, j.overrides) for j in jobs(suite, task.name, [run]) if j.seed == 0)
            for run in ("elmo", "elmo_only")
        )
        with_glove, without = elmo.model_dump(mode="json"), alone.model_dump(mode="json")
        glove, bilm = with_glove.pop("embedder")["parts"]
        assert glove["type"] == "glove" and without.pop("embedder") == bilm, task.name
        assert {k: v for k, v in with_glove.items() if k != "name"} == {
            k: v for k, v in without.items() if k != "name"
        }, task.name


def test_a_suite_task_without_metric_takes_its_tasks_monitor(monkeypatch):
    from tasks.common.task import get_task

    assert load_suite(_ner_suite()).tasks[0].metric == get_task("ner").MONITOR == "f1"
    monkeypatch.setattr(type(get_task("ner")), "MONITOR", "macro")
    assert load_suite(_ner_suite()).tasks[0].metric == "macro"  # read from the registry, not a default of its own
    assert load_suite(_ner_suite(metric="precision")).tasks[0].metric == "precision"  # a named one is kept


def test_a_suite_task_without_metric_needs_runs_of_one_kind_of_task(capsys):
    suite = _ner_suite()
    sst = {"name": "s", "task": {"name": "sentiment"}, "data": {"train": "t.txt"}, "embedder": {"type": "random"}}
    Path("sst.yaml").write_text(yaml.safe_dump(sst), encoding="utf-8")
    raw = yaml.safe_load(suite.read_text())
    raw["tasks"][0]["runs"]["b"] = {"config": "sst.yaml"}
    suite.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert main(["benchmark", str(suite), "-o", "out", "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == (
        "elmo-tasks: error: suite.yaml: tasks.0.metric: not given, and its runs train tasks that early-stop on "
        "different scores (accuracy, f1)"
    )
    raw["tasks"][0]["runs"]["b"] = {"config": "missing.yaml"}
    suite.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert main(["benchmark", str(suite), "-o", "out", "--dry-run"]) == 2
    assert "suite.yaml: tasks.0.metric: not given, and config not found: missing.yaml" in capsys.readouterr().err
    raw["tasks"][0]["metric"] = "f1"  # named: the runs' configs are not read here
    suite.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert load_suite(suite).tasks[0].metric == "f1"


def test_curve_overrides_per_fraction_and_stale_runs_are_retrained(capsys):
    suite = _ner_suite(
        epochs=1, seeds=[0], runs={"a": {"config": "tiny.yaml"}},
        learning_curve={"fractions": [0.5], "runs": ["a"], "set": {0.5: ["trainer.patience=7"]}},
    )  # fmt: skip
    assert main(["benchmark", str(suite), "-o", "out"]) == 0
    curve_run = Path("out/runs/ner/a/train0.5/seed0")
    overrides = json.loads((curve_run / "bench.json").read_text())["overrides"]
    assert overrides[:3] == ["data.train_fraction=0.5", "trainer.patience=7", "trainer.seed=0"]
    assert yaml.safe_load((curve_run / "config.yaml").read_text())["trainer"]["patience"] == 7
    assert yaml.safe_load(Path("out/runs/ner/a/seed0/config.yaml").read_text())["trainer"]["patience"] == 100
    capsys.readouterr()
    raw = yaml.safe_load(suite.read_text())  # the suite changes under a finished run: it no longer counts as done
    raw["tasks"][0]["learning_curve"]["set"] = {0.5: ["trainer.patience=8"]}
    suite.write_text(yaml.safe_dump(raw))
    assert main(["benchmark", str(suite), "-o", "out", "--dry-run"]) == 0
    assert "1 runs missing" in capsys.readouterr().err
    assert main(["benchmark", str(suite), "-o", "out"]) == 0
    err = capsys.readouterr().err
    assert "retrained from scratch: it trained with --set data.train_fraction=0.5 trainer.patience=7" in err
    assert "trainer.patience=8" in json.loads((curve_run / "bench.json").read_text())["overrides"]


def test_an_edited_config_file_makes_its_finished_runs_stale(capsys):
    suite = _ner_suite(epochs=1, seeds=[0], runs={"a": {"config": "tiny.yaml"}})
    assert main(["benchmark", str(suite), "-o", "out"]) == 0
    capsys.readouterr()
    assert main(["benchmark", str(suite), "-o", "out", "--dry-run"]) == 0
    assert "0 runs missing" in capsys.readouterr().err  # unchanged: reused
    config = yaml.safe_load(Path("tiny.yaml").read_text())
    config["trainer"]["patience"] = 7
    Path("tiny.yaml").write_text(yaml.safe_dump(config))
    assert main(["benchmark", str(suite), "-o", "out"]) == 0
    err = capsys.readouterr().err
    assert (
        "retrained from scratch: its config.yaml differs from tiny.yaml with the suite's overrides in trainer.patience"
        in err
    )
    assert yaml.safe_load(Path("out/runs/ner/a/seed0/config.yaml").read_text())["trainer"]["patience"] == 7


def test_a_killed_run_of_an_edited_config_is_retrained_not_resumed(capsys):
    """A run killed under another config is not resumed (the trainer would refuse, ending the whole suite)."""
    suite = _ner_suite(epochs=2, seeds=[0], runs={"a": {"config": "tiny.yaml"}})
    assert main(["benchmark", str(suite), "-o", "out"]) == 0
    folder = Path("out/runs/ner/a/seed0")
    for name in ("metrics.json", "bench.json"):  # as if killed after its last checkpoint
        (folder / name).unlink()
    config = yaml.safe_load(Path("tiny.yaml").read_text())
    Path("tiny.yaml").write_text(yaml.safe_dump({**config, "model": {**config["model"], "hidden": 6}}))
    capsys.readouterr()
    assert main(["benchmark", str(suite), "-o", "out"]) == 0
    assert (
        "retrained from scratch: its config.yaml differs from tiny.yaml with the suite's overrides in model.hidden"
        in (capsys.readouterr().err)
    )
    assert yaml.safe_load((folder / "config.yaml").read_text())["model"]["hidden"] == 6
    assert json.loads((folder / "bench.json").read_text())["resumed"] is False


def test_more_patience_resumes_a_run_that_stopped_early(capsys):
    """Raising the patience of a config whose runs stopped early resumes them (not retrained), and a resumed run
    equals one trained with that patience from the start."""
    import torch

    suite = _ner_suite(epochs=30, seeds=[0], runs={"a": {"config": "tiny.yaml"}})
    config = yaml.safe_load(Path("tiny.yaml").read_text())
    for patience, out in ((1, "out"), (4, "straight")):
        Path("tiny.yaml").write_text(yaml.safe_dump({**config, "trainer": {**config["trainer"], "patience": patience}}))
        assert main(["benchmark", str(suite), "-o", out]) == 0
    folder, straight = Path("out/runs/ner/a/seed0"), Path("straight/runs/ner/a/seed0")
    stopped = json.loads((folder / "metrics.json").read_text())
    assert (
        stopped["stopped_early"] and stopped["epochs"] < json.loads((straight / "metrics.json").read_text())["epochs"]
    )
    capsys.readouterr()
    assert main(["benchmark", str(suite), "-o", "out"]) == 0  # patience 4 now: resumed
    assert "retrained" not in capsys.readouterr().err
    resumed, expected = (json.loads((f / "metrics.json").read_text()) for f in (folder, straight))
    assert resumed["resumed_from"] == stopped["epochs"] and resumed["epochs"] == expected["epochs"]
    weights = [torch.load(f / "model.pt", weights_only=True) for f in (folder, straight)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[1])
    assert yaml.safe_load((folder / "config.yaml").read_text())["trainer"]["patience"] == 4
    capsys.readouterr()
    assert main(["benchmark", str(suite), "-o", "out", "--dry-run"]) == 0
    assert "0 runs missing" in capsys.readouterr().err
    shutil.rmtree(straight / "checkpoints")  # without a checkpoint to resume, more patience means training again
    Path("tiny.yaml").write_text(yaml.safe_dump({**config, "trainer": {**config["trainer"], "patience": 6}}))
    assert main(["benchmark", str(suite), "-o", "straight", "--dry-run"]) == 0
    assert "1 runs missing" in capsys.readouterr().err


def test_more_patience_at_the_epoch_cap_goes_past_the_cap(capsys):
    """A run that stopped early on the very epoch of its cap, given more patience, ends at the cap with patience
    left: still improving, so resumed with a higher cap, as a run with that patience from the start is (the
    checkpoint's early stop is not this fit's)."""
    import torch

    suite = _ner_suite(epochs=30, seeds=[0], runs={"a": {"config": "tiny.yaml"}}, max_epochs=60)
    config = yaml.safe_load(Path("tiny.yaml").read_text())

    def write(epochs: int, patience: int) -> None:
        trainer = {**config["trainer"], "epochs": epochs, "patience": patience}
        Path("tiny.yaml").write_text(yaml.safe_dump({**config, "trainer": trainer}))

    write(30, 1)
    assert main(["benchmark", str(suite), "-o", "probe"]) == 0
    cap = json.loads(Path("probe/runs/ner/a/seed0/metrics.json").read_text())["epochs"]  # where patience 1 stops
    write(cap, 1)
    assert main(["benchmark", str(suite), "-o", "out"]) == 0
    folder = Path("out/runs/ner/a/seed0")
    stopped = json.loads((folder / "metrics.json").read_text())
    assert stopped["stopped_early"] and stopped["epochs"] == cap
    write(cap, 4)
    for out in ("out", "straight"):
        assert main(["benchmark", str(suite), "-o", out]) == 0
    resumed, expected = (
        json.loads((Path(out) / "runs/ner/a/seed0/metrics.json").read_text()) for out in ("out", "straight")
    )
    assert resumed["epochs"] == expected["epochs"] > cap
    weights = [torch.load(Path(out) / "runs/ner/a/seed0/model.pt", weights_only=True) for out in ("out", "straight")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[1])


def test_a_run_killed_while_resumed_for_more_patience_is_not_finished(capsys, monkeypatch):
    """Killed during its resume, a run keeps no metrics.json of its earlier stop under the new config.yaml: the
    next command resumes it, and it ends as a run with the new patience from the start."""
    import torch

    suite = _ner_suite(epochs=1, seeds=[0], runs={"a": {"config": "tiny.yaml"}}, max_epochs=8)
    config = yaml.safe_load(Path("tiny.yaml").read_text())
    Path("tiny.yaml").write_text(yaml.safe_dump({**config, "trainer": {**config["trainer"], "patience": 1}}))
    assert main(["benchmark", str(suite), "-o", "out"]) == 0  # past its cap of 1, raised while it improved
    folder = Path("out/runs/ner/a/seed0")
    before = json.loads((folder / "metrics.json").read_text())
    cap = yaml.safe_load((folder / "config.yaml").read_text())["trainer"]["epochs"]
    assert before["stopped_early"] and cap >= before["epochs"] > 1
    Path("tiny.yaml").write_text(yaml.safe_dump({**config, "trainer": {**config["trainer"], "patience": 3}}))
    import tasks.common.trainer as trainer

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:  # only this command: undo() would also undo the fixture's chdir
        patched.setattr(trainer, "_fit", killed)
        assert main(["benchmark", str(suite), "-o", "out"]) == 130  # Ctrl-C
    assert not (folder / "metrics.json").exists()
    assert yaml.safe_load((folder / "config.yaml").read_text())["trainer"]["patience"] == 3
    capsys.readouterr()
    assert main(["benchmark", str(suite), "-o", "out", "--dry-run"]) == 0
    assert "1 runs missing" in capsys.readouterr().err
    assert main(["benchmark", str(suite), "-o", "out"]) == 0
    assert main(["benchmark", str(suite), "-o", "straight"]) == 0  # patience 3 from the start
    after, expected = (
        json.loads((Path(out) / "runs/ner/a/seed0/metrics.json").read_text()) for out in ("out", "straight")
    )
    assert after["epochs"] == expected["epochs"] > before["epochs"] and after["resumed_from"] >= before["epochs"]
    weights = [torch.load(Path(out) / "runs/ner/a/seed0/model.pt", weights_only=True) for out in ("out", "straight")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[1])


def test_a_second_process_skips_the_runs_the_first_is_training(capsys):
    """The lock is an OS file lock: held here, as another process's would be, its job is left alone; once it is
    released (as when that process ends, killed or not), the next command trains it."""
    from tasks.bench.runner import claimed

    suite = _ner_suite(epochs=1)
    busy = next(job for job in jobs(load_suite(suite)) if job.run == "a" and job.seed == 0)
    with claimed(busy, Path("out")) as mine:
        assert mine
        with claimed(busy, Path("out")) as again:  # a second open file, as another process has
            assert not again
        assert main(["benchmark", str(suite), "-o", "out"]) == 0
    err = capsys.readouterr().err
    assert "out/runs/ner/a/seed0: skipped: another process is training it" in err
    assert "1 runs were left to another process" in err
    assert not Path("out/runs/ner/a/seed0").exists()
    assert all(Path(f"out/runs/ner/{run}/seed{seed}/metrics.json").is_file() for run, seed in (("a", 1), ("b", 0)))
    assert main(["benchmark", str(suite), "-o", "out"]) == 0
    assert "skipped" not in capsys.readouterr().err
    assert Path("out/runs/ner/a/seed0/metrics.json").is_file()


def test_curve_overrides_name_a_fraction(capsys):
    suite = _ner_suite(learning_curve={"fractions": [0.5], "runs": ["a"], "set": {0.2: ["trainer.patience=7"]}})
    assert main(["benchmark", str(suite), "-o", "out", "--dry-run"]) == 2
    assert "learning_curve: Value error, set: 0.2 is not one of the fractions (0.5)" in capsys.readouterr().err


def test_a_resumed_runs_time_adds_its_earlier_epochs_to_its_last_attempt():
    """bench.json times only the attempt that finished a run. A resumed run adds its epochs before that attempt at
    its row's seconds per epoch (runs never resumed), or else at its last attempt's; with neither, it is unknown."""
    suite = _ner_suite(runs={"a": {"config": "tiny.yaml"}, "b": {"config": "tiny.yaml"}})
    for run, seed, wall, cpu, resumed_from in (
        ("a", 0, 120.0, 100.0, None),  # 12 s (CPU 10 s) per epoch
        ("a", 1, 100.0, 90.0, 8),  # 100 s + 8 x 12 s
        ("b", 0, 120.0, 100.0, 5),  # 120 s + 5 x 120 s / 5
        ("b", 1, 30.0, 20.0, 10),  # killed after its last epoch: its last attempt trained none
    ):
        folder = Path(f"out/runs/ner/{run}/seed{seed}")
        folder.mkdir(parents=True)
        info = {"resumed": resumed_from is not None, "wall_s": wall, "cpu_s": cpu, "epochs": 10, "git": "abc123"}
        (folder / "bench.json").write_text(json.dumps({**info, "machine": {}}))
        metrics = {"dev": {"f1": 50.0}, "test": {"f1": 50.0}, "epochs": 10, "best_epoch": 4, "stopped_early": True}
        (folder / "metrics.json").write_text(json.dumps({**metrics, "resumed_from": resumed_from}))
    assert main(["benchmark", str(suite), "-o", "out", "--report-only"]) == 0
    table = {row["run"]: row for row in _csv("out/ner.csv")}
    assert (table["a"]["wall_min_per_run"], table["a"]["epoch_s"]) == ("2.6", "15.8")  # (120 + 196) / 2 s
    assert (table["b"]["wall_min_per_run"], table["b"]["epoch_s"]) == ("4.0", "24.0")  # seed 1 unknown
    report = Path("out/README.md").read_text()
    assert "Total over 4 finished runs: CPU time 0.14 h, wall time 0.16 h; 3 of them resumed" in report


def test_bench_json_names_the_revision_the_process_started_with(monkeypatch):
    """A commit made while a suite trains is not in the running process's code: its runs name the start revision."""
    from tasks.bench import runner

    revisions = iter(["abc123", "def456", "0f0f0f", "1e1e1e"])
    monkeypatch.setattr(runner, "git_revision", lambda: next(revisions))
    suite = _ner_suite(epochs=1)
    assert main(["benchmark", str(suite), "-o", "out", "--run", "a"]) == 0
    assert {json.loads(Path(f"out/runs/ner/a/seed{s}/bench.json").read_text())["git"] for s in (0, 1)} == {"abc123"}


def test_report_warns_when_runs_come_from_several_revisions_or_machines():
    from tasks.bench.report import provenance

    suite = load_suite(_ner_suite())
    machine = {"cpu": "AMD EPYC", "cpu_capability": "AVX512", "torch": "2.13.0+cpu"}
    for run, seed, git in (("a", 0, "abc123"), ("a", 1, "abc123"), ("b", 0, "abc123")):
        folder = Path(f"out/runs/ner/{run}/seed{seed}")
        folder.mkdir(parents=True)
        (folder / "bench.json").write_text(json.dumps({"git": git, "machine": machine}))
    assert provenance(suite, Path("out"), suite.tasks[0]) == ""
    (Path("out/runs/ner/b/seed0/bench.json")).write_text(
        json.dumps({"git": "def456", "machine": {**machine, "cpu_capability": "AVX2"}})
    )
    warning = provenance(suite, Path("out"), suite.tasks[0])
    assert "**The runs come from 2 code revisions** (`abc123`: 2, `def456`: 1)" in warning
    assert "**The runs come from 2 machines** (`AMD EPYC (AVX2, torch 2.13.0+cpu)`: 1, " in warning


def test_a_run_that_hit_its_epoch_cap_before_its_patience_ran_out_is_still_improving():
    from tasks.bench.runner import still_improving

    capped = {"dev": {"f1": 89.0}, "epochs": 30, "best_epoch": 28, "stopped_early": False}
    assert still_improving(capped)  # best 2 epochs before the cap, patience 3: early stopping never decided
    assert not still_improving({**capped, "stopped_early": True})
    assert still_improving({"dev": {}, "epochs": 5, "best_epoch": 5})  # older runs: best epoch = last epoch
    assert not still_improving({"dev": {}, "epochs": 5, "best_epoch": 3})
    assert not still_improving({"epochs": 5, "best_epoch": 5})  # no dev set: nothing to stop on


def test_trainer_records_whether_early_stopping_ended_the_run():
    _ner_suite()
    assert main(["train", "tiny.yaml", "-o", "capped", "--set", "trainer.epochs=2"]) == 0
    assert json.loads(Path("capped/metrics.json").read_text())["stopped_early"] is False
    args = ["--set", "trainer.epochs=40", "--set", "trainer.patience=1", "--set", "trainer.lr=1e-12"]  # frozen
    assert main(["train", "tiny.yaml", "-o", "stopped", *args]) == 0
    metrics = json.loads(Path("stopped/metrics.json").read_text())
    assert metrics["stopped_early"] is True and metrics["epochs"] < 40

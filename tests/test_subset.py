"""Learning-curve subsets: fixed per seed, nested across fractions, phrases of one tree kept together."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import yaml

from elmo_features.errors import ElmoError
from tasks.common.config import load_config
from tasks.common.subset import kept_groups, nested_subset
from tasks.common.task import get_task


@dataclass
class Rows:
    name: str
    tokens: list[list[str]]
    lines: list[int]


def test_subsets_are_nested_per_seed_and_differ_between_seeds():
    for seed in (0, 1, 2):
        small, middle, whole = (set(kept_groups(1000, f, seed)) for f in (0.01, 0.1, 1.0))
        assert len(small) == 10 and len(middle) == 100 and whole == set(range(1000))
        assert small < middle < whole
        assert kept_groups(1000, 0.1, seed) == kept_groups(1000, 0.1, seed)
    assert kept_groups(1000, 0.1, 0) != kept_groups(1000, 0.1, 1)
    assert len(kept_groups(5, 0.01, 0)) == 1  # never empty


def test_phrases_of_one_sentence_stay_together():
    split = Rows("train", [[str(k)] for k in range(12)], [k // 3 for k in range(12)])  # 4 trees of 3 phrases
    cut = nested_subset(split, 0.5, 0)
    assert len(cut.tokens) == 6 and len(set(cut.lines)) == 2
    assert all(cut.lines.count(line) == 3 for line in cut.lines) and cut.name == "train"


def test_fields_of_different_lengths_are_an_error():
    with pytest.raises(ElmoError, match="cannot subset"):
        nested_subset(Rows("train", [["a"]], [0, 1]), 0.5, 0)


def test_train_fraction_cuts_only_the_training_split(tmp_path):
    data = tmp_path / "ner.txt"
    data.write_text("\n\n".join(f"w{k} B-PER\nsaid O" for k in range(20)) + "\n", encoding="utf-8")
    config = {
        "name": "tiny",
        "task": {"name": "ner"},
        "data": {"train": str(data), "validation": str(data), "test": str(data)},
        "embedder": {"type": "random", "dim": 4},
        "model": {"hidden": 4, "layers": 1, "char_cnn": False},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    task = get_task("ner")
    whole = task.build(load_config(str(tmp_path / "tiny.yaml")))
    cut = task.build(load_config(str(tmp_path / "tiny.yaml"), ["data.train_fraction=0.1", "trainer.seed=3"]))
    assert len(whole.train.tokens) == 20 and len(cut.train.tokens) == 2 and len(cut.test.tokens) == 20
    assert set(map(tuple, cut.train.tokens)) <= set(map(tuple, whole.train.tokens))
    with pytest.raises(ElmoError, match="train_fraction"):
        load_config(str(tmp_path / "tiny.yaml"), ["data.train_fraction=0"])

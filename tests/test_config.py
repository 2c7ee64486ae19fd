"""Training configs: built-in YAML files, key checking with suggestions, env vars, --set overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict

from elmo_features.errors import ElmoError
from tasks.common import config as cfg
from tasks.common.config import (
    apply_overrides,
    builtin_configs,
    default_data_dir,
    dump_config,
    expand_env,
    load_config,
    validate_config,
)

REPO_CONFIGS = Path(__file__).resolve().parents[1] / "configs"
NER_FILES = sorted(p for p in (REPO_CONFIGS / "ner").glob("*.yaml") if "_cpu_" not in p.name)  # full size

MINIMAL = {
    "name": "tiny",
    "task": {"name": "ner"},
    "data": {"train": "train.txt"},
    "embedder": {"type": "glove", "path": "vectors.txt"},
}


@pytest.fixture
def dummy_env(monkeypatch, tmp_path):
    """Every variable the configs use points at paths that do not exist: validation must not open them."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("GLOVE_PATH", str(tmp_path / "no-glove.txt"))
    monkeypatch.setenv("WORD2VEC_PATH", str(tmp_path / "no-w2v.bin"))
    return tmp_path


def write(tmp_path: Path, data: Any, name: str = "config.yaml") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def error_of(call, *args, **kwargs) -> str:
    with pytest.raises(ElmoError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ---------------------------------------------------------------------------- built-in files
def test_the_ner_configs_exist():
    assert [p.stem for p in NER_FILES] == [
        "conll2003_elmo_finetune",  # full data, for a GPU; not the paper's recipe
        "conll2003_elmo_paper",
        "conll2003_glove_paper",
        "conll2003_word2vec_paper",
    ]
    cpu = sorted(p.stem for p in (REPO_CONFIGS / "ner").glob("*_cpu_*.yaml"))  # the benchmark suite's CPU sizes
    assert cpu == ["conll2003_cpu_elmo", "conll2003_cpu_glove6b"]


@pytest.mark.parametrize("path", NER_FILES, ids=lambda p: p.stem)
def test_ner_configs_load_and_validate_without_opening_files(path, dummy_env):
    config = load_config(str(path))
    assert config.task.name == "ner" and config.name == path.stem
    assert config.data.train == f"{dummy_env}/no-data/conll2003/train.txt"
    assert config.data.validation.endswith("conll2003/valid.txt") and config.data.test.endswith("conll2003/test.txt")
    assert (config.model.hidden, config.model.layers, config.model.dropout) == (200, 2, 0.5)
    assert (config.trainer.lr, config.trainer.grad_clip, config.trainer.optimizer) == (1e-3, 5.0, "adam")


def test_elmo_config_is_glove_concatenated_with_elmo(dummy_env):
    embedder = load_config("ner/conll2003_elmo_paper").embedder  # typed: the registered embedders' union
    glove, elmo = embedder.parts
    assert embedder.type == "concat" and glove.type == "glove" and elmo.type == "elmo"
    assert glove.path == [f"{dummy_env}/no-glove.txt", f"{dummy_env}/no-data/glove/glove.6B.50d.txt.gz"]
    assert (elmo.model, elmo.dropout, elmo.l2, elmo.cache) == ("original", 0.5, 0.001, True)


def test_nested_default_used_when_variable_unset(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GLOVE_PATH", raising=False)
    assert load_config("ner/conll2003_glove_paper").embedder.path == [
        f"{tmp_path}/glove/glove.6B.100d.txt",
        f"{tmp_path}/glove/glove.6B.50d.txt.gz",  # the GloVe file DATA_DIR has, when the 100d one is absent
    ]


def test_builtin_names_resolve_and_missing_lists_them(dummy_env):
    assert {f"ner/conll2003_{e}_paper" for e in ("glove", "word2vec", "elmo")} <= set(builtin_configs())
    assert load_config("ner/conll2003_glove_paper.yaml").embedder.type == "glove"
    message = error_of(load_config, "ner/conll2003_glvoe")
    assert "ner/conll2003_glvoe" in message and "ner/conll2003_glove_paper" in message


def test_builtin_search_list_includes_package_data_folder(monkeypatch, tmp_path, dummy_env):
    extra = tmp_path / "pkg-configs" / "wnut"
    extra.mkdir(parents=True)
    write(extra, {**MINIMAL, "name": "wnut17"}, "wnut17_glove.yaml")
    monkeypatch.setattr(cfg, "CONFIG_DIRS", [*cfg.CONFIG_DIRS, tmp_path / "pkg-configs"])
    assert "wnut/wnut17_glove" in builtin_configs()
    assert load_config("wnut/wnut17_glove").name == "wnut17"


def test_dump_round_trips(dummy_env, tmp_path):
    config = load_config("ner/conll2003_elmo_paper", ["trainer.epochs=3"])
    text = dump_config(config)
    assert "${" not in text and "precision: '32'" in text
    assert load_config(write(tmp_path, text)) == config


# ---------------------------------------------------------------------------- misspelt keys
@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"nmae": "x"}, "nmae: unknown key; did you mean 'name'?"),
        ({"trainer": {"epohcs": 3}}, "trainer.epohcs: unknown key; did you mean 'epochs'?"),
        ({"data": {"tag_colum": 3}}, "data.tag_colum: unknown key; did you mean 'tag_column'?"),
        ({"task": {"nam": "ner"}}, "task.nam: unknown key; did you mean 'name'?"),
        ({"embedder": {"type": "glove", "pth": "v.txt"}}, "embedder: unknown key 'pth'; did you mean 'path'?"),
    ],
)
def test_misspelt_keys_are_named_with_a_suggestion(tmp_path, section, expected):
    path = write(tmp_path, {**MINIMAL, **section})
    assert error_of(load_config, path) == f"{path}: {expected}"


def test_misspelt_key_deep_inside_concat_parts(tmp_path):
    embedder = {"type": "concat", "parts": [{"type": "glove", "path": "g"}, {"type": "elmo", "dropuot": 0.1}]}
    message = error_of(load_config, write(tmp_path, {**MINIMAL, "embedder": embedder}))
    assert "embedder.parts[1]" in message and "'dropuot'" in message and "did you mean 'dropout'?" in message


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"trainer": {"lr": 0}}, "trainer.lr: Input should be greater than 0"),
        ({"trainer": {"precision": "fp16"}}, "trainer.precision: Input should be '32' or 'bf16'"),
        ({"data": {"train": "t", "scheme": "IOB3"}}, "data.scheme: Input should be 'IOB1', 'IOB2' or 'BIOUL'"),
        ({"task": {"name": "srl"}}, "task.name: unknown task 'srl' (valid: ner, "),  # the registry's names
        ({"task": {"name": "nerr"}}, "task.name: unknown task 'nerr'; did you mean 'ner'?"),
        ({"model": {"hidden": "wide"}}, "model.hidden: Input should be a valid integer"),
        ({"data": {"train": "t", "separator": ""}}, "data.separator: Value error, an empty separator cannot split"),
    ],
)
def test_bad_values_are_one_line_errors(tmp_path, section, expected):
    path = write(tmp_path, {**MINIMAL, **section})
    assert error_of(load_config, path).startswith(f"{path}: {expected}")


@pytest.mark.parametrize(("override", "separator"), [("tab", "\t"), ("\\t", "\t"), ("space", " "), ("';'", ";")])
def test_separator_names(tmp_path, override, separator):
    config = load_config(write(tmp_path, MINIMAL), [f"data.separator={override}"])
    assert config.data.separator == separator


def test_misspelling_is_named_before_the_required_key_it_leaves_missing(tmp_path):
    path = write(tmp_path, {**MINIMAL, "data": {"trian": "t.txt"}})
    assert error_of(load_config, path) == f"{path}: data.trian: unknown key; did you mean 'train'?"


def test_missing_section_and_defaults(tmp_path):
    raw = {k: v for k, v in MINIMAL.items() if k != "task"}
    assert error_of(load_config, write(tmp_path, raw)).endswith("task: Field required")
    config = load_config(write(tmp_path, MINIMAL))
    assert config.trainer.precision == "32" and config.trainer.patience == 5 and config.model.char_cnn
    assert config.data.scheme == "IOB2" and config.data.tag_column == -1


def test_precision_written_as_a_number_is_accepted(tmp_path):
    assert load_config(write(tmp_path, {**MINIMAL, "trainer": {"precision": 32}})).trainer.precision == "32"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nname: y\n", "config.yaml:2:1: invalid YAML: duplicate key 'name'"),
        ("name: [x\n", "invalid YAML"),
        ("- just\n- a list\n", "expected a mapping of sections"),
        ("", "expected a mapping of sections"),
        ("name: !!python/object/apply:os.system [echo hi]\n", "invalid YAML"),
    ],
)
def test_malformed_yaml_is_one_line(tmp_path, text, expected):
    assert expected in error_of(load_config, write(tmp_path, text))


# ---------------------------------------------------------------------------- environment variables
def test_expand_env_forms(monkeypatch):
    monkeypatch.setenv("A", "alpha")
    monkeypatch.setenv("EMPTY", "")
    monkeypatch.delenv("UNSET", raising=False)
    data = {"x": "${A}/b", "y": ["${UNSET:-d}", "${EMPTY:-e}", "${UNSET:-${A}-z}"], "n": 5, "lit": "$${A} $x"}
    assert expand_env(data) == {"x": "alpha/b", "y": ["d", "e", "alpha-z"], "n": 5, "lit": "${A} $x"}
    assert expand_env("${EMPTY}") == ""


def test_unset_variable_names_variable_file_and_key(monkeypatch):
    monkeypatch.delenv("UNSET", raising=False)
    message = error_of(expand_env, {"data": {"train": "${UNSET}/t.txt"}}, "my.yaml")
    assert message.startswith("my.yaml: data.train: environment variable UNSET is not set")


def test_malformed_variable_references(monkeypatch):
    assert "unclosed" in error_of(expand_env, "${A")
    assert "bad variable name '1X'" in error_of(expand_env, "${1X}")


def test_data_dir_defaults_to_shared_data(monkeypatch, tmp_path):
    import tasks.common.data as data

    monkeypatch.delenv("DATA_DIR", raising=False)
    monkeypatch.setattr(data, "SHARED_DATA", tmp_path / "shared" / "data")  # absent
    assert default_data_dir() is None
    assert "DATA_DIR" in error_of(expand_env, "${DATA_DIR}/x")
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert default_data_dir() == tmp_path / "shared" / "data"
    assert expand_env("${DATA_DIR}/x") == f"{tmp_path}/shared/data/x"
    monkeypatch.setenv("DATA_DIR", "/elsewhere")
    assert expand_env("${DATA_DIR}/x") == "/elsewhere/x"


def test_missing_variable_in_config_file(monkeypatch, tmp_path):
    monkeypatch.delenv("NO_SUCH_VECTORS", raising=False)
    path = write(tmp_path, {**MINIMAL, "embedder": {"type": "glove", "path": "${NO_SUCH_VECTORS}"}})
    assert error_of(load_config, path) == (
        f"{path}: embedder.path: environment variable NO_SUCH_VECTORS is not set"
        " (or write ${NO_SUCH_VECTORS:-default})"
    )


# ---------------------------------------------------------------------------- overrides
def test_overrides_nested_list_and_new_section():
    out = apply_overrides(MINIMAL, ["trainer.epochs=3", "data.scheme=IOB1", "embedder.trainable=true", "name=run 2"])
    assert out["trainer"] == {"epochs": 3} and out["data"]["scheme"] == "IOB1" and out["embedder"]["trainable"] is True
    assert out["name"] == "run 2" and "trainer" not in MINIMAL  # input untouched


def test_override_list_values_and_list_items(dummy_env):
    config = load_config("ner/conll2003_elmo_paper", ["embedder.parts.1.dropout=0.25", "embedder.parts.-1.l2=0"])
    assert config.embedder.parts[1].dropout == 0.25 and config.embedder.parts[1].l2 == 0
    raw = apply_overrides({"embedder": {"type": "concat", "parts": []}}, ["embedder.parts=[{type: glove}]"])
    assert raw["embedder"]["parts"] == [{"type": "glove"}]


def test_set_walks_the_schema_into_list_items_by_their_type(dummy_env):
    """A list item's keys are those of the embedder its ``type`` names (the schema's union, not a marker)."""
    message = error_of(load_config, "ner/conll2003_elmo_paper", ["embedder.parts.1.top_only=true"])
    assert "unknown key 'top_only' in embedder.parts.1" in message and "layer_norm" in message
    assert "did you mean 'trainable'?" in error_of(
        load_config, "ner/conll2003_elmo_paper", ["embedder.parts.0.trainabel=1"]
    )
    assert "is a value, not a section" in error_of(
        load_config, "ner/conll2003_elmo_paper", ["embedder.parts.0.path.x=1"]
    )
    assert "is a value, not a section" in error_of(load_config, "ner/conll2003_glove_paper", ["trainer.lr.x=1"])


def test_override_list_value_that_fails_validation_is_a_type_error(dummy_env):
    message = error_of(load_config, "ner/conll2003_elmo_paper", ["embedder.parts.0.format=[a, b]"])
    assert "embedder.parts[0].format: Input should be a valid string" in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("trainer.epohcs=3", "--set trainer.epohcs=3: unknown key 'epohcs' in trainer; did you mean 'epochs'?"),
        ("trainr.epochs=3", "--set trainr.epochs=3: unknown key 'trainr' in top level; did you mean 'trainer'?"),
        ("embedder.parts.1.dropuot=0", "unknown key 'dropuot' in embedder.parts.1; did you mean 'dropout'?"),
        ("embedder.parts.0.dropout=0", "unknown key 'dropout' in embedder.parts.0 (valid: type, path,"),
        ("embedder.parts.2.path=x", "embedder.parts is a list of 2; '2' is not an index in it"),
        ("trainer.lr.value=1", "trainer.lr is a value, not a section"),
        ("name.first=x", "name is a value, not a section"),
        ("trainer.epochs", "expected KEY.PATH=VALUE"),
        ("trainer..epochs=1", "expected KEY.PATH=VALUE"),
        ("trainer.epochs=[1", "value is not valid YAML"),
    ],
)
def test_bad_overrides(dummy_env, override, expected):
    assert expected in error_of(load_config, "ner/conll2003_elmo_paper", [override])


def test_override_type_error_is_reported_by_validation(dummy_env):
    message = error_of(load_config, "ner/conll2003_glove_paper", ["trainer.batch_size=lots"])
    assert message.startswith("ner/conll2003_glove_paper: trainer.batch_size: Input should be a valid integer")


def test_override_values_may_use_variables(monkeypatch, dummy_env):
    monkeypatch.setenv("MY_VECTORS", "/v/mine.txt")
    assert load_config("ner/conll2003_glove_paper", ["embedder.path=${MY_VECTORS}"]).embedder.path == "/v/mine.txt"


def test_embedder_keys_follow_the_type_being_set():
    raw = apply_overrides({"embedder": {"type": "glove"}}, ["embedder.type=elmo", "embedder.dropout=0.1"])
    assert raw["embedder"] == {"type": "elmo", "dropout": 0.1}
    assert "did you mean 'dropout'?" in error_of(
        apply_overrides, {"embedder": {"type": "elmo"}}, ["embedder.dropuot=1"]
    )


class _WithFreeForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    extra: dict[str, Any] = {}


def test_free_form_dicts_accept_new_keys_only_inside():
    out = apply_overrides({"extra": {}}, ["extra.notes.who=me", "extra.n=1"], schema=_WithFreeForm)
    assert out == {"extra": {"notes": {"who": "me"}, "n": 1}}
    assert "did you mean 'extra'?" in error_of(apply_overrides, {}, ["extar.n=1"], schema=_WithFreeForm)


def test_train_config_validates_plain_data():
    config = validate_config(MINIMAL)
    assert type(config).__module__ == "tasks.ner.config" and config.model.hidden == 200
    block = config.embedder.model_dump()
    assert block == {**block, "type": "glove", "path": "vectors.txt", "trainable": False}

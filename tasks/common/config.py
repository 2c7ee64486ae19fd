"""Training configs: YAML files, validated, with ``${VAR}`` expansion and ``--set a.b=value`` overrides.

``load_config("ner/conll2003_elmo_paper", ["trainer.epochs=5"])`` reads a built-in (or any path), applies
the overrides, expands environment variables and validates; every problem is a one-line
:class:`ElmoError` naming the file and the key, with the closest valid key when one was misspelt.

Environment variables: ``${VAR}``, ``${VAR:-default}`` (the default is used when VAR is unset or
empty and may itself hold ``${...}``), ``$${`` for a literal ``${``. ``DATA_DIR`` behaves as if set to
``../shared/data`` beside the repository when that folder exists (see :func:`default_data_dir`).
Expansion runs after the overrides, so ``--set`` values may use variables too.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from elmo_features.embedders import EmbedderConfig, parse_config
from elmo_features.errors import ElmoError
from tasks.common.data import default_data_dir

_HERE = Path(__file__).resolve()
CONFIG_DIRS: list[Path] = [_HERE.parents[1] / "configs"]
"""Where built-in config names are looked up: the package data (the repository's ``configs/`` links there)."""


# ---------------------------------------------------------------------------- schema
class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskConfig(_Section):
    name: str  # a registered task (tasks.common.task.TASKS); checked by config_class


class DataConfig(_Section):
    """Splits: file or folder paths, or ``hub:NAME`` for a Hugging Face dataset. Tasks add their own options."""

    train: str
    validation: str | None = None
    test: str | None = None
    # the learning curve: train on this fraction of the training sentences, a subset fixed by trainer.seed and
    # nested (the 1% subset of a seed lies inside its 10% subset; tasks.common.subset)
    train_fraction: float = Field(1.0, gt=0.0, le=1.0)


class ModelConfig(_Section):
    """The head's settings; each task defines its own (``tasks/<name>/config.py``)."""


class TrainerConfig(_Section):
    epochs: int = Field(50, gt=0)
    batch_size: int = Field(32, gt=0)
    lr: float = Field(1e-3, gt=0.0)
    optimizer: Literal["adam", "sgd"] = "adam"
    grad_clip: float | None = Field(5.0, gt=0.0)
    patience: int = Field(5, ge=0)
    seed: int = 0
    precision: Literal["32", "bf16"] = "32"
    num_workers: int = Field(0, ge=0)
    devices: int = Field(1, gt=0)  # > 1: DDP over that many CPU processes (gloo) or GPUs

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class TrainConfig(_Section):
    """One training run. ``embedder`` is one of the registered embedders' config blocks (the union is
    generated from :data:`elmo_features.embedders.EMBEDDERS`), validated by
    :func:`~elmo_features.embedders.parse_config` for one-line errors. Each task subclasses it with its
    own ``data`` and ``model`` sections (:func:`config_class`)."""

    name: str
    task: TaskConfig
    data: DataConfig
    embedder: EmbedderConfig
    model: ModelConfig = ModelConfig()
    trainer: TrainerConfig = TrainerConfig()

    @field_validator("embedder", mode="before")
    @classmethod
    def _embedder(cls, block: Any) -> Any:
        return parse_config(block, "embedder")


# ---------------------------------------------------------------------------- environment
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _lookup(name: str) -> str | None:
    value = os.environ.get(name)
    if not value and name == "DATA_DIR" and (fallback := default_data_dir()) is not None:
        return str(fallback)
    return value


def _closing(text: str, start: int) -> int:
    depth, k = 1, start
    while k < len(text):
        if text.startswith("${", k):
            depth, k = depth + 1, k + 2
            continue
        if text[k] == "}":
            depth -= 1
            if depth == 0:
                return k
        k += 1
    return -1


def _expand_text(text: str, where: str) -> str:
    out, i = [], 0
    while (j := text.find("$", i)) >= 0:
        out.append(text[i:j])
        if text.startswith("$${", j):
            out.append("${")
            i = j + 3
            continue
        if not text.startswith("${", j):
            out.append("$")
            i = j + 1
            continue
        end = _closing(text, j + 2)
        if end < 0:
            raise ElmoError(f"{where}: unclosed '${{' in {text!r}")
        name, has_default, default = text[j + 2 : end].partition(":-")
        if not _NAME.fullmatch(name):
            raise ElmoError(f"{where}: bad variable name {name!r} in {text!r} (use ${{NAME}} or ${{NAME:-default}})")
        value = _lookup(name)
        if not value and has_default:
            value = _expand_text(default, where)
        elif value is None:
            raise ElmoError(f"{where}: environment variable {name} is not set (or write ${{{name}:-default}})")
        out.append(value)
        i = end + 1
    out.append(text[i:])
    return "".join(out)


def expand_env(value: Any, source: str = "config", _path: str = "") -> Any:
    """``value`` with ``${VAR}`` / ``${VAR:-default}`` expanded in every string (keys excepted);
    an unset variable without a default is an error naming ``source`` and the key."""
    if isinstance(value, str):
        return _expand_text(value, ": ".join(p for p in (source, _path) if p))
    if isinstance(value, dict):
        return {k: expand_env(v, source, f"{_path}.{k}" if _path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, source, f"{_path}[{i}]") for i, v in enumerate(value)]
    return value


# ---------------------------------------------------------------------------- overrides
# --set walks the pydantic schema: a node's annotation says which keys it takes (a model's fields; for a
# union of models, those of the one its ``type`` names), whether it is a list, free-form (dict) or a value.
def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation admits (through Annotated, Optional and unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) is Annotated:
        return _models(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return [m for arg in get_args(annotation) for m in _models(arg)]
    return []


def _unwrap(annotation: Any) -> Any:
    """``annotation`` without Annotated and Optional."""
    if get_origin(annotation) is Annotated:
        return _unwrap(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def _is_free(annotation: Any) -> bool:
    return _unwrap(annotation) is dict or get_origin(_unwrap(annotation)) is dict


def _is_list(annotation: Any) -> bool:
    return get_origin(_unwrap(annotation)) is list


def _valid_keys(annotation: Any, node: dict) -> dict[str, Any] | None:
    """Valid key -> its annotation at a dict node; None where any key goes (free-form dicts)."""
    if _is_free(annotation):
        return None
    models = _models(annotation)
    kind = node.get("type")
    chosen = [m for m in models if "type" in m.model_fields and kind in get_args(m.model_fields["type"].annotation)]
    fields: dict[str, Any] = {}
    for model in chosen or models:  # a union without a (known) type yet: the keys of any of its models
        for key, info in model.model_fields.items():
            fields.setdefault(key, info.annotation)
    return fields


def _is_section(annotation: Any) -> bool:
    return bool(_models(annotation)) or _is_free(annotation) or _is_list(annotation)


def _unknown(key: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else f" (valid: {', '.join(valid)})"


def _parse_override(item: str) -> tuple[list[str], Any]:
    path, sep, text = item.partition("=")
    keys = path.strip().split(".")
    if not sep or not all(keys):
        raise ElmoError(f"--set {item}: expected KEY.PATH=VALUE, e.g. trainer.epochs=5")
    try:
        return keys, yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ElmoError(f"--set {item}: value is not valid YAML ({getattr(err, 'problem', err)})") from None


def apply_overrides(raw: dict, overrides: Sequence[str], schema: type[BaseModel] | None = None) -> dict:
    """A copy of ``raw`` with each ``a.b.c=value`` set (value read as YAML: ``5``, ``true``, ``[1, 2]``).

    Keys are checked against ``schema`` (default: the config class of the task ``raw`` names) and the
    embedder's type, not only against what the file
    holds: a misspelt key is an error with the closest valid one; only dict-typed fields are free-form.
    List items are addressed by index (``embedder.parts.0.path=...``)."""
    out = copy.deepcopy(raw)
    schema = schema or config_class(raw)
    for item in overrides:
        keys, value = _parse_override(item)
        node: Any = out
        kind: Any = schema
        for depth, key in enumerate(keys):
            last = depth == len(keys) - 1
            where = ".".join(keys[:depth]) or "top level"
            if isinstance(node, list):
                if not re.fullmatch(r"-?\d+", key) or not -len(node) <= int(key) < len(node):
                    raise ElmoError(f"--set {item}: {where} is a list of {len(node)}; {key!r} is not an index in it")
                child = get_args(_unwrap(kind))[0] if _is_list(kind) else dict
                key = int(key)
            elif isinstance(node, dict):
                valid = _valid_keys(kind, node)
                if valid is not None and key not in valid:
                    raise ElmoError(f"--set {item}: unknown key {key!r} in {where}{_unknown(key, list(valid))}")
                child = dict if valid is None else valid[key]
            else:
                raise ElmoError(f"--set {item}: {where} is a value, not a section")
            if last:
                node[key] = value
            else:
                if not _is_section(child):
                    raise ElmoError(f"--set {item}: {'.'.join(keys[: depth + 1])} is a value, not a section")
                if isinstance(node, dict) and node.get(key) is None:
                    node[key] = {}
                node, kind = node[key], child
    return out


# ---------------------------------------------------------------------------- files
class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` (builds plain data only, never runs code) that refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def builtin_configs() -> list[str]:
    """Names of the built-in configs, e.g. ``ner/conll2003_elmo_paper``."""
    found = (p.relative_to(d) for d in CONFIG_DIRS if d.is_dir() for p in d.rglob("*.yaml"))
    return sorted({p.with_suffix("").as_posix() for p in found})


def resolve_config(name: str) -> Path:
    """A config file from a path, or a built-in name looked up in :data:`CONFIG_DIRS`."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    for folder in CONFIG_DIRS:
        for candidate in (name, f"{name}.yaml", f"{name}.yml"):
            if (folder / candidate).is_file():
                return folder / candidate
    available = ", ".join(builtin_configs()) or "none found"
    raise ElmoError(f"config not found: {name} (not a file; built-in configs: {available})")


def read_yaml(path: Path, source: str) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # a SafeLoader subclass: plain data only
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ElmoError(f"{source}{at}: invalid YAML: {err.problem or err.context}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ElmoError(f"{source}: cannot read: {err}".replace("\n", " ")) from None


def _model_at(loc: Sequence[Any], schema: type[TrainConfig]) -> type[BaseModel] | None:
    model: Any = schema
    for key in loc:
        fields = model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else {}
        found = _models(fields[key].annotation) if key in fields else []
        model = found[0] if len(found) == 1 else None
    return model


def _one_line(err: ValidationError, source: str, schema: type[TrainConfig]) -> str:
    errors = err.errors()
    # A misspelt key usually also leaves a required one missing: name the misspelling.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = [str(p) for p in first["loc"]]
    key = ".".join(loc) or "top level"
    if first["type"] == "extra_forbidden":
        model = _model_at(first["loc"][:-1], schema)
        hint = _unknown(loc[-1], list(model.model_fields)) if model else ""
        return f"{source}: {key}: unknown key{hint}"
    return f"{source}: {key}: {first['msg']}".replace("\n", " ")


def _need_mapping(raw: Any, source: str) -> None:
    if not isinstance(raw, dict):
        raise ElmoError(f"{source}: expected a mapping of sections ({', '.join(TrainConfig.model_fields)})")


def config_class(raw: Any, source: str = "config") -> type[TrainConfig]:
    """The config class of the registered task that ``raw`` (plain data) names."""
    from tasks.common.task import all_tasks

    task = raw.get("task") if isinstance(raw, dict) else None
    name = task.get("name") if isinstance(task, dict) else None
    if name is None:  # no task named: the base schema gives the error (a missing or misspelt key)
        return TrainConfig
    known = all_tasks()
    if name not in known:
        raise ElmoError(f"{source}: task.name: unknown task {name!r}{_unknown(str(name), list(known))}")
    return known[name].Config


def validate_config(raw: Any, source: str = "config") -> TrainConfig:
    """The task's config object from plain data; errors are one line, prefixed with ``source``."""
    _need_mapping(raw, source)
    schema = config_class(raw, source)
    try:
        return schema.model_validate(raw)
    except ValidationError as err:
        raise ElmoError(_one_line(err, source, schema)) from None
    except ElmoError as err:
        raise ElmoError(f"{source}: {err}") from None


def overridden_config(path_or_builtin_name: str, overrides: Sequence[str] = ()) -> dict:
    """A config as read, with ``overrides`` applied, its ``${VAR}`` not expanded yet (none need to be set)."""
    source = path_or_builtin_name
    raw = read_yaml(resolve_config(path_or_builtin_name), source)
    _need_mapping(raw, source)
    tasked = apply_overrides(raw, [o for o in overrides if o.startswith("task.")], TrainConfig)
    return apply_overrides(raw, overrides, config_class(tasked, source))


def load_config(path_or_builtin_name: str, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read, override, expand and validate a config (never opens the data or vector files)."""
    source = path_or_builtin_name
    return validate_config(expand_env(overridden_config(source, overrides), source), source)


def dump_config(config: TrainConfig) -> str:
    """The resolved config (defaults filled in, variables expanded) as YAML, for the run folder."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

"""Task heads over ELMo or static vectors: NER, sentiment, QA, POS (one folder each, one registry).

The names for use from Python, imported on first use::

    from tasks import get_task, train, validate_config
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Task": "tasks.common.task",
    "all_tasks": "tasks.common.task",
    "get_task": "tasks.common.task",
    "register": "tasks.common.task",
    "load_config": "tasks.common.config",
    "validate_config": "tasks.common.config",
    "train": "tasks.common.trainer",
}
__all__ = [
    "Task",
    "all_tasks",
    "get_task",
    "load_config",
    "register",
    "train",
    "validate_config",
]

if TYPE_CHECKING:
    from tasks.common.config import load_config, validate_config
    from tasks.common.task import Task, all_tasks, get_task, register
    from tasks.common.trainer import train


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tasks' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

"""Benchmark suites: tasks x runs (an embedding or an ablation) x seeds, read from YAML.

A suite file::

    name: cpu
    tasks:
      - name: ner                      # a label for the tables
        metric: f1                     # the test score in metrics.json to compare
        seeds: [0, 1, 2]
        set: [trainer.epochs=10]       # overrides for every run of this task
        baseline: glove                # what error reductions are measured against
        paper: {glove: 90.15, elmo: 92.22}
        runs:
          glove: {config: ner/conll2003_glove}
          elmo: {config: ner/conll2003_elmo}
          elmo_ln: {config: ner/conll2003_elmo, set: [embedder.parts.1.layer_norm=true]}

Run folders are ``OUT/runs/<task>/<run>/seed<k>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from elmo_features.errors import ElmoError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunSpec(_Strict):
    config: str
    set: list[str] = []


class TaskSpec(_Strict):
    name: str
    metric: str = "f1"
    seeds: list[int] = Field([0], min_length=1)
    set: list[str] = []
    baseline: str | None = None
    paper: dict[str, float] = {}
    runs: dict[str, RunSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _baseline_is_a_run(self) -> TaskSpec:
        if self.baseline is not None and self.baseline not in self.runs:
            raise ValueError(f"baseline {self.baseline!r} is not one of the runs ({', '.join(self.runs)})")
        return self


class Suite(_Strict):
    name: str
    tasks: list[TaskSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Job:
    """One training run of a suite."""

    task: TaskSpec
    run: str
    seed: int

    @property
    def spec(self) -> RunSpec:
        return self.task.runs[self.run]

    @property
    def overrides(self) -> list[str]:
        return [*self.task.set, *self.spec.set, f"trainer.seed={self.seed}"]

    def folder(self, out: Path) -> Path:
        return out / "runs" / self.task.name / self.run / f"seed{self.seed}"


def load_suite(path: str | Path) -> Suite:
    """A validated suite; errors are one line naming the file and the key."""
    from tasks.common.config import read_yaml

    raw = read_yaml(Path(path), str(path))
    try:
        return Suite.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "top level"
        raise ElmoError(f"{path}: {key}: {first['msg']}".replace("\n", " ")) from None


def jobs(suite: Suite, only: str | None = None, runs: Sequence[str] = ()) -> Iterator[Job]:
    """Every (task, run, seed) of ``suite`` (of task ``only``, of the named ``runs``), seeds innermost."""
    names = [t.name for t in suite.tasks]
    if only is not None and only not in names:
        raise ElmoError(f"no task {only!r} in suite {suite.name!r} (tasks: {', '.join(names)})")
    known = {r for t in suite.tasks for r in t.runs}
    if unknown := [r for r in runs if r not in known]:
        raise ElmoError(f"no run {unknown[0]!r} in suite {suite.name!r} (runs: {', '.join(sorted(known))})")
    for task in suite.tasks:
        if only is None or task.name == only:
            for run in task.runs:
                if not runs or run in runs:
                    for seed in task.seeds:
                        yield Job(task, run, seed)

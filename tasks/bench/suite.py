"""Benchmark suites: tasks x runs (an embedding or an ablation) x seeds, read from YAML.

A suite file::

    name: cpu
    tasks:
      - name: ner                      # a label for the tables
        metric: f1                     # the test score in metrics.json to compare; default: the MONITOR of the
                                       # runs' task (tasks.common.task), the score early stopping follows
        seeds: [0, 1, 2]
        set: [trainer.epochs=10]       # overrides for every run of this task
        baseline: glove                # what error reductions are measured against
        paper: {glove: 90.15, elmo: 92.22}
        extra_metrics: []              # more test scores to report (QA: [exact_match])
        max_epochs: 60                 # a run that ended at its epoch cap (not by early stopping) is resumed
                                       # with twice the epochs, up to this; past it the table flags it
                                       # "still improving"
        compare: [[glove, elmo]]       # elmo - glove with a significance test (tasks.bench.stats)
        learning_curve:                # data.train_fraction runs
          fractions: [0.01, 0.1]
          runs: [glove, elmo]
          set: {0.01: [trainer.patience=20, trainer.epochs=150]}   # overrides per fraction: an epoch of 1% of
                                       # the data is 1% of the steps, so patience counted in epochs needs more
        runs:
          bow: {kind: tfidf, config: sentiment/sst5_cpu_glove6b}   # TF-IDF + logistic regression, one value
          majority: {kind: majority, config: sentiment/sst5_cpu_glove6b}   # the train split's majority class
          glove: {config: ner/conll2003_glove_paper}
          elmo: {config: ner/conll2003_elmo_paper}
          elmo_ln: {config: ner/conll2003_elmo_paper, set: [embedder.parts.1.layer_norm=true]}

Run folders are ``OUT/runs/<task>/<run>/seed<k>`` (a floor: ``OUT/runs/<task>/<run>``, it has no seed unless a
``data.train_fraction`` of the task or run draws its train subset per seed;
a learning-curve run: ``OUT/runs/<task>/<run>/train<fraction>/seed<k>``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from elmo_features.errors import ElmoError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunSpec(_Strict):
    config: str
    set: list[str] = []
    # the sentiment floors over the config's data (tasks.bench.bow): tfidf, the bag-of-words baseline; majority class
    kind: Literal["train", "tfidf", "majority"] = "train"


class CurveSpec(_Strict):
    fractions: list[float] = Field(min_length=1)  # besides 1.0, which is the task's own runs
    runs: list[str] = Field(min_length=1)
    set: dict[float, list[str]] = {}  # overrides for the runs of one fraction

    @model_validator(mode="after")
    def _set_names_fractions(self) -> CurveSpec:
        if unknown := [f for f in self.set if f not in self.fractions]:
            raise ValueError(f"set: {unknown[0]:g} is not one of the fractions ({', '.join(map(str, self.fractions))})")
        return self


class TaskSpec(_Strict):
    name: str
    metric: str | None = None  # None: the MONITOR of the runs' task, filled in by load_suite
    seeds: list[int] = Field([0], min_length=1)
    set: list[str] = []
    baseline: str | None = None
    paper: dict[str, float] = {}
    extra_metrics: list[str] = []
    max_epochs: int | None = Field(None, gt=0)
    compare: list[tuple[str, str]] = []
    learning_curve: CurveSpec | None = None
    runs: dict[str, RunSpec] = Field(min_length=1)

    @property
    def metrics(self) -> list[str]:
        return [self.metric, *self.extra_metrics]

    @model_validator(mode="after")
    def _names_are_runs(self) -> TaskSpec:
        named = [("baseline", self.baseline)] if self.baseline is not None else []
        named += [("compare", r) for pair in self.compare for r in pair]
        named += [("learning_curve.runs", r) for r in (self.learning_curve.runs if self.learning_curve else [])]
        for key, name in named:
            if name not in self.runs:
                raise ValueError(f"{key} {name!r} is not one of the runs ({', '.join(self.runs)})")
        if self.learning_curve and any(not 0 < f < 1 for f in self.learning_curve.fractions):
            raise ValueError("learning_curve.fractions must lie between 0 and 1 (1.0 is the task's own runs)")
        return self


class Suite(_Strict):
    name: str
    variables: list[str] = []  # environment variables the suite's runs read besides DATA_DIR (GLOVE_PATH...)
    tasks: list[TaskSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Job:
    """One training run of a suite."""

    task: TaskSpec
    run: str
    seed: int | None  # None: a seed-independent run (a floor on the whole train split)
    fraction: float = 1.0  # of the training sentences (data.train_fraction)

    @property
    def spec(self) -> RunSpec:
        return self.task.runs[self.run]

    @property
    def overrides(self) -> list[str]:
        out = [*self.task.set, *self.spec.set]
        if self.fraction < 1.0:
            out.append(f"data.train_fraction={self.fraction}")
            out += self.task.learning_curve.set.get(self.fraction, []) if self.task.learning_curve else []
        return out + ([f"trainer.seed={self.seed}"] if self.seed is not None else [])

    def folder(self, out: Path) -> Path:
        folder = out / "runs" / self.task.name / self.run
        if self.fraction < 1.0:
            folder = folder / f"train{self.fraction:g}"
        return folder if self.seed is None else folder / f"seed{self.seed}"


def load_suite(path: str | Path) -> Suite:
    """A validated suite; errors are one line naming the file and the key."""
    from tasks.common.config import read_yaml

    raw = read_yaml(Path(path), str(path))
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "top level"
        raise ElmoError(f"{path}: {key}: {first['msg']}".replace("\n", " ")) from None
    for i, task in enumerate(suite.tasks):
        if task.metric is None:
            try:
                task.metric = monitor(task)
            except ElmoError as err:
                raise ElmoError(f"{path}: tasks.{i}.metric: not given, and {err}") from None
    return suite


def monitor(task: TaskSpec) -> str:
    """The ``MONITOR`` of the registered task that the configs of ``task``'s runs name."""
    from tasks.common.config import read_yaml, resolve_config
    from tasks.common.task import get_task

    names = set()
    for spec in task.runs.values():
        raw = read_yaml(resolve_config(spec.config), spec.config)
        section = raw.get("task") if isinstance(raw, dict) else None
        names.add(section.get("name") if isinstance(section, dict) else None)
    monitors = {get_task(name).MONITOR for name in sorted(names, key=str)}
    if len(monitors) > 1:
        raise ElmoError(f"its runs train tasks that early-stop on different scores ({', '.join(sorted(monitors))})")
    return monitors.pop()


def jobs(suite: Suite, only: str | None = None, runs: Sequence[str] = ()) -> Iterator[Job]:
    """Every (task, run, seed) of ``suite`` (of task ``only``, of the named ``runs``), seeds innermost."""
    names = [t.name for t in suite.tasks]
    if only is not None and only not in names:
        raise ElmoError(f"no task {only!r} in suite {suite.name!r} (tasks: {', '.join(names)})")
    known = {r for t in suite.tasks for r in t.runs}
    if unknown := [r for r in runs if r not in known]:
        raise ElmoError(f"no run {unknown[0]!r} in suite {suite.name!r} (runs: {', '.join(sorted(known))})")
    chosen = [t for t in suite.tasks if only is None or t.name == only]
    for task in chosen:
        for run, spec in task.runs.items():
            if not runs or run in runs:
                yield from ([Job(task, run, None)] if seedless(task, spec) else (Job(task, run, s) for s in task.seeds))
    for task in chosen:  # learning curves last: the main tables fill first
        yield from curve_jobs(task, runs)


def seedless(task: TaskSpec, spec: RunSpec) -> bool:
    """A floor is one value, unless it is computed on a per-seed subset (``data.train_fraction``) of train."""
    return spec.kind != "train" and train_fraction(spec.config, [*task.set, *spec.set]) >= 1.0


def train_fraction(config: str, overrides: Sequence[str]) -> float:
    """The share of the training sentences a run of ``config`` with ``overrides`` sees (``data.train_fraction``)."""
    from tasks.common.config import overridden_config

    data = overridden_config(config, overrides).get("data") or {}
    return float(data.get("train_fraction", 1.0))


def curve_jobs(task: TaskSpec, runs: Sequence[str] = ()) -> Iterator[Job]:
    """The learning-curve runs of ``task`` below the whole training split, smallest fraction first."""
    curve = task.learning_curve
    for fraction in sorted(curve.fractions) if curve else []:
        for run in curve.runs:
            if not runs or run in runs:
                yield from (Job(task, run, seed, fraction) for seed in task.seeds)

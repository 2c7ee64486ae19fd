"""Run what a suite is missing: finished runs are reused, killed ones resumed from their checkpoint, and a run
that ended at its epoch cap rather than by early stopping is resumed with more epochs (up to the task's ``max_epochs``).
A finished run whose config file or overrides changed is retrained, except for more patience in the config file: a
run that stopped early is resumed with it. Two processes on one output folder share the work: each skips the
jobs the other is training.

Every run folder gets ``bench.json`` (the config name and overrides that re-run it, wall and CPU time, git
revision, machine) and ``epochs.csv`` (the per-epoch log). The files meant to be committed (``bench.json``,
``config.yaml``, ``metrics.json``, ``epochs.csv``) hold no absolute path of the machine: the values of
``DATA_DIR`` and of the suite's ``variables`` are written back as ``${NAME}``.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from elmo_features.atomic import write_text_atomic
from elmo_features.machine import machine
from tasks.bench.suite import Job, Suite, jobs, train_fraction

RUN_INFO = "bench.json"  # per run: wall time, git revision, machine, the command's overrides
EPOCHS = "epochs.csv"  # per run: the per-epoch log (a copy of logs/metrics.csv)
PORTABLE = ("config.yaml", "metrics.json", RUN_INFO, EPOCHS)  # what a results folder commits of a run
LOCKS = ".locks"  # in an output folder: a file per job, locked by the process that trains it
Configs = tuple[dict[str, Any], dict[str, Any]] | None  # a run's saved config, and the one the suite wants


def git_revision() -> str:
    """The checkout's commit (with ``-dirty`` when it has changes), or ``unknown``."""
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "-uno"], cwd=root, capture_output=True, text=True)
    except OSError:
        return "unknown"
    if rev.returncode != 0:
        return "unknown"
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def read_metrics(folder: Path) -> dict[str, Any] | None:
    path = folder / "metrics.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def read_info(folder: Path) -> dict[str, Any] | None:
    """The run's ``bench.json``, or None before the harness wrote it."""
    path = folder / RUN_INFO
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def still_improving(metrics: dict[str, Any]) -> bool:
    """The run ended at its epoch cap, not by early stopping: its patience had not run out (runs from before
    ``stopped_early`` was recorded: its best dev epoch is its last)."""
    if "best_epoch" not in metrics or "dev" not in metrics:
        return False
    if "stopped_early" in metrics:
        return not metrics["stopped_early"]
    return metrics["best_epoch"] >= metrics["epochs"]


def more_epochs(job: Job, metrics: dict[str, Any] | None) -> int | None:
    """The epoch cap a still-improving run is resumed with (twice its epochs, at most ``max_epochs``), or None."""
    limit = job.task.max_epochs
    if metrics is None or limit is None or not still_improving(metrics) or metrics["epochs"] >= limit:
        return None
    return min(2 * metrics["epochs"], limit)


def is_done(job: Job, out: Path) -> bool:
    metrics = read_metrics(job.folder(out))
    if metrics is None:
        return False
    configs = _configs(job, job.folder(out))
    return (
        stale(job, out, configs) is None and more_epochs(job, metrics) is None and not more_patience(job, out, configs)
    )


def stale(job: Job, out: Path, configs: Configs = None) -> str | None:
    """Why the run in the job's folder, finished or killed, is not this job's (another config or overrides), or
    None. ``configs``: what ``_configs`` gives for the job, when the caller has it."""
    folder = job.folder(out)
    if (info := read_info(folder)) is not None:  # finished: its bench.json names the config and overrides
        wanted, done = job.overrides, info.get("overrides", [])
        if info.get("config") != config_name(job.spec.config):
            return f"it trained config {info.get('config')}, the suite names {config_name(job.spec.config)}"
        if done[: len(wanted)] != wanted or any(not o.startswith("trainer.epochs=") for o in done[len(wanted) :]):
            done_text, wanted_text = " ".join(done) or "(nothing)", " ".join(wanted) or "nothing"
            return f"it trained with --set {done_text}, the suite sets {wanted_text}"
    elif not _has_last_checkpoint(folder):
        return None  # killed before its first checkpoint: started afresh anyway
    if (configs := configs or _configs(job, folder)) is None:
        return None
    if _only_more_patience(*configs) and (not _stopped_early(folder) or _has_last_checkpoint(folder)):
        return None  # more patience: a run that never ran out of it is unchanged, one that did resumes
    if changed := config_changes(*configs):
        where = f"{config_name(job.spec.config)} with the suite's overrides"
        return f"its config.yaml differs from {where} in {', '.join(changed)}"
    return None


def more_patience(job: Job, out: Path, configs: Configs = None) -> bool:
    """The finished run stopped early, and its config now gives more patience: resumed from its last checkpoint
    with it, the run continues as one trained with that patience from the start would."""
    folder = job.folder(out)
    if not _stopped_early(folder) or not _has_last_checkpoint(folder):
        return False
    configs = configs or _configs(job, folder)
    return configs is not None and _only_more_patience(*configs)


def _stopped_early(folder: Path) -> bool:
    return bool((read_metrics(folder) or {}).get("stopped_early"))


def _has_last_checkpoint(folder: Path) -> bool:
    from tasks.common.trainer import CHECKPOINTS

    return (folder / CHECKPOINTS / "last.ckpt").is_file()


def _configs(job: Job, folder: Path) -> Configs:
    """A train run's saved ``config.yaml`` and its config file with the job's overrides, as dicts; None without
    the first."""
    from tasks.common.config import expand_env, load_config, read_yaml

    path = folder / "config.yaml"
    if job.spec.kind != "train" or not path.is_file():
        return None
    saved = expand_env(read_yaml(path, str(path)), str(path))  # a finished run's holds ${DATA_DIR}...
    return saved, load_config(job.spec.config, job.overrides).model_dump(mode="json")


def _only_more_patience(saved: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """The two configs differ in nothing but a larger ``trainer.patience`` in ``wanted``."""
    before, after = (saved.get("trainer") or {}).get("patience", 0), (wanted.get("trainer") or {}).get("patience", 0)
    return config_changes(saved, wanted) == ["trainer.patience"] and before < after


def config_changes(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """The settings (``section.key``) in which a train run's saved config differs from its config file with the
    job's overrides, the epoch cap aside (the harness raises it): an edited config file makes its finished runs
    stale, as changed overrides do."""
    changed = []
    for section, values in wanted.items():
        before = saved.get(section)
        if isinstance(values, dict) and isinstance(before, dict):
            keys = sorted(set(values) | set(before))
            changed += [
                f"{section}.{k}"
                for k in keys
                if values.get(k) != before.get(k) and f"{section}.{k}" != "trainer.epochs"
            ]
        elif values != before:
            changed.append(section)
    return changed


def clear(job: Job, out: Path) -> None:
    """Delete what the job's folder holds of it. A whole-split floor's folder also holds its learning-curve runs
    (``train0.1/seed0``...), so a floor's own files go one by one."""
    folder = job.folder(out)
    if job.spec.kind == "train":
        shutil.rmtree(folder, ignore_errors=True)
        return
    from tasks.bench.bow import FILES

    for name in (*FILES, RUN_INFO):
        (folder / name).unlink(missing_ok=True)


def portable_values(variables: Sequence[str]) -> list[tuple[str, str]]:
    """(value, ``${NAME}``) for DATA_DIR and ``variables`` that are set, longest value first."""
    from tasks.common.data import data_dir

    pairs = [(os.environ.get(name, ""), f"${{{name}}}") for name in variables]
    root = data_dir()
    pairs.append((str(root) if root is not None else "", "${DATA_DIR}"))
    return sorted(((v.rstrip("/"), n) for v, n in pairs if v.rstrip("/")), key=lambda p: -len(p[0]))


def make_portable(folder: Path, variables: Sequence[str]) -> None:
    """Write the machine's values of DATA_DIR and ``variables`` in the committed files back as ``${NAME}``."""
    values = portable_values(variables)
    for name in PORTABLE:
        path = folder / name
        if path.is_file():
            text = original = path.read_text(encoding="utf-8")
            for value, variable in values:
                text = text.replace(value, variable)
            if text != original:
                write_text_atomic(path, text)


def config_name(config: str) -> str:
    """A built-in config name as is; a config file relative to the current folder (never absolute)."""
    path = Path(config)
    if path.is_absolute():
        try:
            return path.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return path.as_posix()  # outside the checkout: the test of bench.json files flags it
    return config


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_job(job: Job, out: Path, variables: Sequence[str] = (), revision: str | None = None) -> dict[str, Any]:
    """Train one job (resuming it when a checkpoint is there); its run info. ``revision``: the checkout's git
    revision when the process loaded its code (default: now)."""
    revision = revision or git_revision()
    from tasks.common.config import load_config
    from tasks.common.trainer import CHECKPOINTS, LOG, train

    folder = job.folder(out)
    overrides = list(job.overrides)
    started, cpu = time.perf_counter(), _cpu_seconds()
    resume = False
    if job.spec.kind != "train":  # a floor: seconds, so always computed afresh
        from tasks.bench.bow import FLOORS

        clear(job, out)
        metrics = FLOORS[job.spec.kind](job.spec.config, overrides, folder)
    else:
        resume = (folder / CHECKPOINTS / "last.ckpt").is_file()
        if folder.exists() and not resume:  # killed before its first checkpoint: nothing worth keeping
            shutil.rmtree(folder)
        before = read_metrics(folder)
        configs = _configs(job, folder)
        if (epochs := more_epochs(job, before)) is not None:
            overrides.append(f"trainer.epochs={epochs}")  # a straight run with this cap takes the same path
        elif configs and resume and configs[0]["trainer"]["epochs"] > configs[1]["trainer"]["epochs"]:
            # more patience, or killed while resumed past its cap: keep the cap it had reached (raised while it
            # was still improving)
            overrides.append(f"trainer.epochs={configs[0]['trainer']['epochs']}")
        metrics = train(load_config(job.spec.config, overrides), folder, resume=resume)
        if (folder / LOG).is_file():
            shutil.copyfile(folder / LOG, folder / EPOCHS)
    info = {
        "task": job.task.name,
        "run": job.run,
        "seed": job.seed,
        "train_fraction": train_fraction(job.spec.config, overrides),  # the config's, not only a curve's
        "config": config_name(job.spec.config),
        "overrides": overrides,
        "kind": job.spec.kind,
        "resumed": resume,
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(_cpu_seconds() - cpu, 1),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": revision,
        "machine": machine(),
        "epochs": metrics.get("epochs"),
        "best_epoch": metrics.get("best_epoch"),
        "still_improving": still_improving(metrics),
    }
    write_text_atomic(folder / RUN_INFO, json.dumps(info, indent=1) + "\n")
    make_portable(folder, variables)
    return info


@contextmanager
def claimed(job: Job, out: Path) -> Iterator[bool]:
    """Whether this process holds the job, for as long as the context lasts: an OS lock on a file under
    ``out/.locks``, which the system releases when its process ends, killed or not. Not in the run folder: that
    one is deleted when a run is retrained."""
    path = out / LOCKS / ("__".join(job.folder(out).relative_to(out).parts) + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def run_suite(
    suite: Suite, out: Path, only: str | None = None, runs: Sequence[str] = (), dry_run: bool = False
) -> list[Job]:
    """Train every missing job of ``suite`` into ``out``; the jobs that were (or would be) run. A job that another
    process is training (``benchmark`` started twice on one output folder, to use two cores) is skipped."""
    todo = [job for job in jobs(suite, only, runs) if not is_done(job, out)]
    revision = git_revision()  # the code this process runs: a commit made while it trains is not in it
    busy = 0
    for k, job in enumerate(todo, 1):
        print(f"[{k}/{len(todo)}] {job.task.name} {job.run} seed {job.seed} -> {job.folder(out)}", file=sys.stderr)
        if dry_run:
            continue
        with claimed(job, out) as mine:
            if not mine:
                print(f"{job.folder(out)}: skipped: another process is training it", file=sys.stderr)
                busy += 1
                continue
            if (reason := stale(job, out)) is not None:
                print(f"{job.folder(out)}: retrained from scratch: {reason}", file=sys.stderr)
                clear(job, out)
            done = is_done(job, out)  # another process may have finished it before this one claimed it
            while not done:  # again, with more epochs, while it is still improving
                run_job(job, out, suite.variables, revision)
                if not (done := is_done(job, out)):
                    print(f"{job.folder(out)}: still improving at its epoch cap: resumed with more", file=sys.stderr)
    if busy:
        print(f"{busy} runs were left to another process: its report, when it ends, includes them", file=sys.stderr)
    return todo

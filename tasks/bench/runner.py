"""Run what a suite is missing: finished runs are reused, killed ones resumed from their checkpoint."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from elmo_features.atomic import write_text_atomic
from elmo_features.machine import machine
from tasks.bench.suite import Job, Suite, jobs

RUN_INFO = "bench.json"  # per run: wall time, git revision, machine, the command's overrides


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


def is_done(job: Job, out: Path) -> bool:
    return (job.folder(out) / "metrics.json").is_file()


def run_job(job: Job, out: Path) -> dict[str, Any]:
    """Train one job (resuming it when a checkpoint is there); its run info."""
    from tasks.common.config import load_config
    from tasks.common.trainer import CHECKPOINTS, train

    folder = job.folder(out)
    resume = (folder / CHECKPOINTS / "last.ckpt").is_file()
    if folder.exists() and not resume:  # killed before its first checkpoint: nothing worth keeping
        shutil.rmtree(folder)
    config = load_config(job.spec.config, job.overrides)
    started = time.perf_counter()
    metrics = train(config, folder, resume=resume)
    info = {
        "task": job.task.name,
        "run": job.run,
        "seed": job.seed,
        "config": job.spec.config,
        "overrides": job.overrides,
        "resumed": resume,
        "wall_s": round(time.perf_counter() - started, 1),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": git_revision(),
        "machine": machine(),
        "epochs": metrics.get("epochs"),
    }
    write_text_atomic(folder / RUN_INFO, json.dumps(info, indent=1) + "\n")
    return info


def run_suite(
    suite: Suite, out: Path, only: str | None = None, runs: Sequence[str] = (), dry_run: bool = False
) -> list[Job]:
    """Train every missing job of ``suite`` into ``out``; the jobs that were (or would be) run."""
    todo = [job for job in jobs(suite, only, runs) if not is_done(job, out)]
    for k, job in enumerate(todo, 1):
        print(f"[{k}/{len(todo)}] {job.task.name} {job.run} seed {job.seed} -> {job.folder(out)}", file=sys.stderr)
        if not dry_run:
            run_job(job, out)
    return todo

"""Tables (Markdown, CSV) and plots (PNG) of a suite's finished runs, in the style of the ELMo paper."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from elmo_features.atomic import write_csv_atomic
from elmo_features.errors import ElmoError
from tasks.bench.runner import read_info, read_metrics, still_improving
from tasks.bench.stats import compare, predictions_file
from tasks.bench.suite import Suite, TaskSpec, jobs


@dataclass
class RunScores:
    """Scores of one run label (at one training fraction) over its finished seeds."""

    run: str
    split: str  # "test", or "dev" where the task has no test split
    scores: list[float] = field(default_factory=list)  # of the seeds that are done
    seeds: list[int] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    epoch_s: list[float] = field(default_factory=list)
    mix_weights: list[list[list[float]]] = field(default_factory=list)  # seed -> mix -> layer weights
    improving: dict[int, float] = field(default_factory=dict)  # seed -> score of runs still improving (not done)
    predictions: dict[int, Path | None] = field(default_factory=dict)  # seed -> test predictions file
    seedless: bool = False  # one seed-independent value (a floor on the whole train split)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.scores else float("nan")

    @property
    def sd(self) -> float:
        return statistics.stdev(self.scores) if len(self.scores) > 1 else 0.0

    @property
    def by_seed(self) -> dict[int, float]:
        return dict(zip(self.seeds, self.scores, strict=True))


def mix_weights(model_file: Path) -> list[list[float]]:
    """softmax(scalars) of every scalar mix in a run's ``model.pt`` (empty without ELMo)."""
    if not model_file.is_file():
        return []
    state = torch.load(model_file, map_location="cpu", weights_only=True)
    keys = sorted(k for k in state if ".mixes." in k and k.endswith(".scalars"))
    return [torch.softmax(state[k].float(), dim=0).tolist() for k in keys]


def collect(suite: Suite, out: Path, task: TaskSpec, metric: str | None = None, fraction: float = 1.0):
    """The finished runs of ``task`` at ``fraction`` (runs without any finished seed are left out), scored by
    ``metric`` (default: the task's). A run that ended at its epoch cap, not by early stopping, is kept apart as
    still improving."""
    metric = metric or task.metric
    found: dict[str, RunScores] = {}
    rates = epoch_rates(suite, out, task.name)
    for job in jobs(suite, task.name):
        folder = job.folder(out)
        if job.fraction != fraction or (metrics := read_metrics(folder)) is None:
            continue
        split = "test" if isinstance(metrics.get("test"), dict) else "dev"
        entry = found.setdefault(job.run, RunScores(job.run, split, seedless=job.seed is None))
        if metric not in metrics[split]:  # a misspelt metric would otherwise show as "not done"
            scores = ", ".join(k for k, v in metrics[split].items() if isinstance(v, int | float))
            raise ElmoError(f"{task.name}: no {split} score {metric!r} in {folder / 'metrics.json'} (it has: {scores})")
        percent = metrics.get("scale") == "percent"  # run folders from before every task scored in percent: x100
        value = float(metrics[split][metric]) * (1.0 if percent else 100.0)
        seed = job.seed if job.seed is not None else 0
        if still_improving(metrics):
            entry.improving[seed] = value
            continue
        entry.scores.append(value)
        entry.seeds.append(seed)
        entry.predictions[seed] = predictions_file(folder)
        info = read_info(folder)
        if info and (seconds := run_seconds(info, metrics, rates.get((task.name, job.run, job.fraction)))):
            entry.wall_s.append(seconds[1])
            if info.get("epochs"):
                entry.epoch_s.append(seconds[1] / info["epochs"])
        if weights := mix_weights(folder / "model.pt"):
            entry.mix_weights.append(weights)
    return [found[r] for r in task.runs if r in found]


def reduction(baseline: float, score: float) -> float:
    """Relative error reduction in percent: (error_base - error) / error_base, errors = 100 - score."""
    error = 100.0 - baseline
    return 100.0 * (baseline - score) / -error if error else float("nan")


def rows(task: TaskSpec, runs: list[RunScores], metric: str | None = None) -> list[dict[str, Any]]:
    base = next((r for r in runs if r.run == task.baseline and r.scores), None)
    table = []
    for r in runs:
        improving = " ".join(f"seed{s}: {v:.2f}" for s, v in sorted(r.improving.items()))
        row: dict[str, Any] = {
            "run": r.run,
            "split": r.split,
            "seeds": "seed-independent" if r.seedless else len(r.scores),
            "mean": round(r.mean, 2) if r.scores else "",
            "sd": "" if r.seedless or not r.scores else round(r.sd, 2),
            "per_seed": " ".join(f"{s:.2f}" for s in r.scores),
            "increase": "",
            "error_reduction_pct": "",
            "paper": task.paper.get(r.run, ""),
            "wall_min_per_run": round(statistics.fmean(r.wall_s) / 60, 1) if r.wall_s else "",
            "metric": metric or task.metric,
            "epoch_s": round(statistics.fmean(r.epoch_s), 1) if r.epoch_s else "",
            "still_improving": improving,  # best dev epoch = last epoch at max_epochs: not counted above
        }
        if base is not None and r is not base and r.scores:
            row["increase"] = round(r.mean - base.mean, 2)
            row["error_reduction_pct"] = round(reduction(base.mean, r.mean), 1)
        table.append(row)
    return table


def markdown(table: list[dict[str, Any]], task: TaskSpec) -> str:
    lines = [
        f"| run | {table[0]['split'] if table else 'test'} {table[0]['metric'] if table else task.metric} "
        f"(mean ± sd) | seeds | per seed | increase vs {task.baseline or '-'} | relative error reduction | paper | "
        "wall min / run | s / epoch | still improving (not counted) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table:
        red = f"{r['error_reduction_pct']}%" if r["error_reduction_pct"] != "" else ""
        inc = f"{r['increase']:+.2f}" if r["increase"] != "" else ""
        if r["mean"] == "":
            spread = "not done"
        elif r["seeds"] == "seed-independent":
            spread = f"{r['mean']:.2f} (seed-independent)"
        else:
            spread = f"{r['mean']:.2f} ± {r['sd']:.2f}" if r["seeds"] > 1 else f"{r['mean']:.2f} (one seed: no sd)"
        lines.append(
            f"| {r['run']} | {spread} | {r['seeds']} | {r['per_seed']} | {inc} | {red} | "
            f"{r['paper']} | {r['wall_min_per_run']} | {r['epoch_s']} | {r['still_improving']} |"
        )
    return "\n".join(lines) + "\n"


def differences(task: TaskSpec, runs: list[RunScores], metric: str) -> list[dict[str, Any]]:
    """Each ``compare`` pair of the task with both runs done: B - A in ``metric`` with its test
    (:mod:`tasks.bench.stats`)."""
    by_name = {r.run: r for r in runs if r.scores}
    out = []
    for a, b in task.compare:
        if a in by_name and b in by_name:
            ra, rb = by_name[a], by_name[b]
            d = compare(ra.predictions, rb.predictions, ra.by_seed, rb.by_seed, metric)
            out.append({"compare": f"{b} - {a}", "diff": round(d.diff, 2), "ci_low": "" if d.low is None else
                        round(d.low, 2), "ci_high": "" if d.high is None else round(d.high, 2),
                        "p": "" if d.p is None else round(d.p, 4), "test": d.test, "text": d.text()})  # fmt: skip
    return out


def curve_rows(suite: Suite, out: Path, task: TaskSpec) -> list[dict[str, Any]]:
    """Mean ± sd per (run, fraction) of the task's learning curve; 1.0 is the task's own runs."""
    table = []
    for fraction in sorted({*task.learning_curve.fractions, 1.0}):
        for r in collect(suite, out, task, fraction=fraction):
            if r.run in task.learning_curve.runs:
                table.append({"run": r.run, "train_fraction": fraction, "seeds": len(r.scores),
                              "mean": round(r.mean, 2) if r.scores else "", "sd": round(r.sd, 2) if r.scores else "",
                              "per_seed": " ".join(f"{s:.2f}" for s in r.scores),
                              "still_improving": " ".join(f"seed{s}" for s in sorted(r.improving))})  # fmt: skip
    return table


def plot_curve(path: Path, task: TaskSpec, table: list[dict[str, Any]]) -> None:
    """Score against the share of training data (log x), one line per run, error bars = sd over seeds."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.0, 3.4))
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    for run in task.learning_curve.runs:
        points = [r for r in table if r["run"] == run and r["mean"] != ""]
        if points:
            xs = [100 * r["train_fraction"] for r in points]
            axes.errorbar(xs, [r["mean"] for r in points], yerr=[r["sd"] for r in points], capsize=3, marker="o",
                          label=run)  # fmt: skip
    axes.set_xscale("log")
    axes.set_xlabel("% of the training sentences")
    axes.set_ylabel(f"test {task.metric}")
    axes.set_title(f"{task.name}: learning curve (mean ± sd over seeds)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def plot_bars(path: Path, task: TaskSpec, runs: list[RunScores]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(runs), 3.2))
    ax.bar([r.run for r in runs], [r.mean for r in runs], yerr=[r.sd for r in runs], capsize=4, color="#4c72b0")
    low = min(r.mean - r.sd for r in runs)
    ax.set_ylim(max(0.0, low - 0.1 * (100.0 - low) - 2), min(100.0, max(r.mean + r.sd for r in runs) + 2))
    ax.set_ylabel(f"{runs[0].split} {task.metric}")
    ax.set_title(f"{task.name} (mean ± sd over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_mix_weights(path: Path, weights: dict[str, list[float]]) -> None:
    """The learned softmax-normalised layer weights, one group of bars per task/run (paper, Figure 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.5 + 1.4 * len(weights), 3.2))
    n_layers = max(len(w) for w in weights.values())
    width = 0.8 / n_layers
    for layer in range(n_layers):
        xs = [k + layer * width for k in range(len(weights))]
        ax.bar(xs, [w[layer] if layer < len(w) else 0 for w in weights.values()], width, label=f"layer {layer}")
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(weights))], list(weights), rotation=20, ha="right")
    ax.set_ylabel("softmax weight")
    ax.legend(fontsize=8)
    ax.set_title("Learned ELMo layer weights")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def epoch_rates(suite: Suite, out: Path, task: str | None = None) -> dict[tuple[str, str, float], tuple[float, float]]:
    """Per row (task, run, train fraction) of the suite, or of its ``task``: the mean CPU and wall seconds per epoch
    of its finished runs that were never resumed (their ``bench.json`` times them whole)."""
    per_row: dict[tuple[str, str, float], list[tuple[float, float]]] = {}
    for job in jobs(suite, task):
        if (info := read_info(job.folder(out))) and info.get("epochs") and not info.get("resumed"):
            rate = (info.get("cpu_s", 0.0) / info["epochs"], info.get("wall_s", 0.0) / info["epochs"])
            per_row.setdefault((job.task.name, job.run, job.fraction), []).append(rate)
    return {
        row: tuple(statistics.fmean(column) for column in zip(*rates, strict=True)) for row, rates in per_row.items()
    }


def run_seconds(
    info: dict[str, Any], metrics: dict[str, Any] | None, rate: tuple[float, float] | None
) -> tuple[float, float] | None:
    """CPU and wall seconds of a finished run. ``bench.json`` times only the attempt that finished a run, so a
    resumed one (killed, or extended past its epoch cap) adds an estimate for the epochs before that attempt:
    ``rate``, its row's seconds per epoch (:func:`epoch_rates`), or without one, the last attempt's. None when
    neither exists (the last attempt trained no epoch)."""
    cpu, wall, epochs = float(info.get("cpu_s", 0.0)), float(info.get("wall_s", 0.0)), info.get("epochs") or 0
    if not info.get("resumed") or not epochs:
        return cpu, wall
    before = (metrics or {}).get("resumed_from") or 0
    if rate is None and epochs <= before:
        return None
    rate = rate or (cpu / (epochs - before), wall / (epochs - before))
    return cpu + before * rate[0], wall + before * rate[1]


def _total_time(suite: Suite, out: Path) -> tuple[float, float, int, int]:
    """Summed CPU and wall seconds of the finished runs (:func:`run_seconds`), the runs, and how many of them were
    resumed."""
    cpu = wall = 0.0
    count = resumed = 0
    rates = epoch_rates(suite, out)
    for job in jobs(suite):
        if info := read_info(folder := job.folder(out)):
            seconds = run_seconds(info, read_metrics(folder), rates.get((job.task.name, job.run, job.fraction)))
            seconds = seconds or (info.get("cpu_s", 0.0), info.get("wall_s", 0.0))  # unknown: the last attempt
            cpu, wall = cpu + seconds[0], wall + seconds[1]
            count, resumed = count + 1, resumed + bool(info.get("resumed"))
    return cpu, wall, count, resumed


def provenance(suite: Suite, out: Path, task: TaskSpec) -> str:
    """A warning when the task's finished runs come from more than one code revision or CPU (either can change
    the rounding, and with it the scores), else ``""``."""
    revisions: Counter[str] = Counter()
    cpus: Counter[str] = Counter()
    for job in jobs(suite, task.name):
        if info := read_info(job.folder(out)):
            machine = info.get("machine") or {}
            revisions[info.get("git", "unknown")] += 1
            capability, torch_version = machine.get("cpu_capability", "?"), machine.get("torch", "?")
            cpus[f"{machine.get('cpu', '?')} ({capability}, torch {torch_version})"] += 1
    lines = [
        f"**The runs come from {len(found)} {what}** ({', '.join(f'`{k}`: {n}' for k, n in sorted(found.items()))}): "
        "a code or CPU change can change the rounding and with it the scores; check that the revisions do not "
        "differ in numerics, or re-run the odd runs to compare like with like.\n"
        for found, what in ((revisions, "code revisions"), (cpus, "machines"))
        if len(found) > 1
    ]
    return "\n".join(lines)


def task_report(suite: Suite, out: Path, task: TaskSpec) -> list[str]:
    """Write the task's tables and plots into ``out``; its section of the README."""
    table, text, runs_main = [], [], []
    diffs: list[dict[str, Any]] = []
    for metric in task.metrics:
        runs = collect(suite, out, task, metric)
        if metric == task.metric:
            runs_main = runs
        part = rows(task, runs, metric)
        table += part
        text.append(markdown(part, task) if part else "")
        diffs += [{"metric": metric, **d} for d in differences(task, runs, metric)]
    if not table:
        return [f"## {task.name}", "", "No finished runs yet.", ""]
    body = "\n".join(text)
    if warning := provenance(suite, out, task):
        body += "\n" + warning
    if diffs:
        body += "\nSignificance:\n\n" + "".join(f"- {d['metric']}: {d['compare']} = {d['text']}\n" for d in diffs)
        write_csv_atomic(out / f"{task.name}_compare.csv", [{k: v for k, v in d.items() if k != "text"} for d in diffs],
                         ["metric", "compare", "diff", "ci_low", "ci_high", "p", "test"])  # fmt: skip
    (out / f"{task.name}.md").write_text(f"# {task.name}\n\n{body}", encoding="utf-8")
    write_csv_atomic(out / f"{task.name}.csv", table, list(table[0]))
    section = [f"## {task.name}", "", body]
    done = [r for r in runs_main if r.scores]
    if done:
        plot_bars(out / f"{task.name}_bars.png", task, done)
        section += [f"![{task.name}]({task.name}_bars.png)", ""]
    if task.learning_curve:
        curve = curve_rows(suite, out, task)
        if curve:
            write_csv_atomic(out / f"{task.name}_curve.csv", curve, list(curve[0]))
            lines = ["| run | % train | seeds | mean ± sd | per seed | still improving |", "| --- " * 6 + "|"]
            for r in curve:
                lines.append(f"| {r['run']} | {100 * r['train_fraction']:g} | {r['seeds']} | {r['mean']} ± {r['sd']} | "
                             f"{r['per_seed']} | {r['still_improving']} |")  # fmt: skip
            curve_text = "\n".join(lines) + "\n"
            (out / f"{task.name}_curve.md").write_text(f"# {task.name}: learning curve\n\n{curve_text}", "utf-8")
            plot_curve(out / f"{task.name}_curve.png", task, curve)
            section += ["### Learning curve", "", curve_text, f"![curve]({task.name}_curve.png)", ""]
    return section


def write_report(suite: Suite, out: Path, command: str = "") -> Path:
    """Per task ``<task>.md``/``.csv``/``_bars.png`` (``_compare.csv``, ``_curve.*``), ``mix_weights.png`` and
    ``README.md`` in ``out``."""
    from tasks.bench.runner import git_revision, machine

    summary = [f"# Benchmark `{suite.name}`", ""]
    if command:
        summary += ["Command:", "", f"    {command}", ""]
    cpu, wall, count, resumed = _total_time(suite, out)
    scaled = (
        f"; {resumed} of them resumed (after a kill, or past their epoch cap): their last attempt as measured, "
        "and their epochs before it at the seconds per epoch of their row's runs that were never resumed (else of "
        "their own last attempt)"
        if resumed
        else ""
    )
    summary += [
        f"Git revision of this report: `{git_revision()}`. Machine: `{json.dumps(machine())}`.",
        "",
        f"Total over {count} finished runs: CPU time {cpu / 3600:.2f} h, wall time {wall / 3600:.2f} h{scaled} "
        "(each run's own `bench.json` holds its git revision, machine, command overrides and times).",
        "",
        "A run that ended at its epoch cap rather than by early stopping is resumed with more epochs up to the "
        "task's `max_epochs`; past that "
        "it is listed under 'still improving' and left out of the mean. Differences between runs: paired bootstrap "
        "over test items where every run's test predictions can be scored item by item (QA's against the test file its "
        "config names), else a paired t-test over seeds; "
        "each line says which.",
        "",
    ]
    weights: dict[str, list[float]] = {}
    for task in suite.tasks:
        summary += task_report(suite, out, task)
        for r in collect(suite, out, task):
            if r.mix_weights:
                first_mix = [seed[0] for seed in r.mix_weights]
                weights[f"{task.name}/{r.run}"] = [statistics.fmean(col) for col in zip(*first_mix, strict=True)]
    if weights:
        plot_mix_weights(out / "mix_weights.png", weights)
        summary += ["## Learned scalar-mix weights (first mix, mean over seeds)", "", "![mix](mix_weights.png)", ""]
        summary += [f"- {name}: " + ", ".join(f"{w:.3f}" for w in ws) for name, ws in weights.items()]
        summary.append("")
    path = out / "README.md"
    path.write_text("\n".join(summary), encoding="utf-8")
    return path

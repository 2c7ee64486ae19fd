"""Tables (Markdown, CSV) and plots (PNG) of a suite's finished runs, in the style of the ELMo paper."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from elmo_features.atomic import write_csv_atomic
from tasks.bench.runner import RUN_INFO
from tasks.bench.suite import Suite, TaskSpec, jobs


@dataclass
class RunScores:
    """Scores of one run label over its finished seeds."""

    run: str
    split: str  # "test", or "dev" where the task has no test split
    scores: list[float] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    mix_weights: list[list[list[float]]] = field(default_factory=list)  # seed -> mix -> layer weights

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores)

    @property
    def sd(self) -> float:
        return statistics.stdev(self.scores) if len(self.scores) > 1 else 0.0


def mix_weights(model_file: Path) -> list[list[float]]:
    """softmax(scalars) of every scalar mix in a run's ``model.pt`` (empty without ELMo)."""
    if not model_file.is_file():
        return []
    state = torch.load(model_file, map_location="cpu", weights_only=True)
    keys = sorted(k for k in state if ".mixes." in k and k.endswith(".scalars"))
    return [torch.softmax(state[k].float(), dim=0).tolist() for k in keys]


def collect(suite: Suite, out: Path, task: TaskSpec) -> list[RunScores]:
    """The finished runs of ``task`` (runs without any finished seed are left out)."""
    found: dict[str, RunScores] = {}
    for job in jobs(suite, task.name):
        folder = job.folder(out)
        if not (folder / "metrics.json").is_file():
            continue
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        split = "test" if isinstance(metrics.get("test"), dict) else "dev"
        entry = found.setdefault(job.run, RunScores(job.run, split))
        percent = metrics.get("scale") == "percent"  # run folders from before every task scored in percent: x100
        entry.scores.append(float(metrics[split][task.metric]) * (1.0 if percent else 100.0))
        entry.seeds.append(job.seed)
        if (folder / RUN_INFO).is_file():
            entry.wall_s.append(json.loads((folder / RUN_INFO).read_text(encoding="utf-8"))["wall_s"])
        if weights := mix_weights(folder / "model.pt"):
            entry.mix_weights.append(weights)
    return [found[r] for r in task.runs if r in found]


def reduction(baseline: float, score: float) -> float:
    """Relative error reduction in percent: (error_base - error) / error_base, errors = 100 - score."""
    error = 100.0 - baseline
    return 100.0 * (baseline - score) / -error if error else float("nan")


def rows(task: TaskSpec, runs: list[RunScores]) -> list[dict[str, Any]]:
    base = next((r for r in runs if r.run == task.baseline), None)
    table = []
    for r in runs:
        row: dict[str, Any] = {
            "run": r.run,
            "split": r.split,
            "seeds": len(r.scores),
            "mean": round(r.mean, 2),
            "sd": round(r.sd, 2),
            "per_seed": " ".join(f"{s:.2f}" for s in r.scores),
            "increase": "",
            "error_reduction_pct": "",
            "paper": task.paper.get(r.run, ""),
            "wall_min_per_run": round(statistics.fmean(r.wall_s) / 60, 1) if r.wall_s else "",
        }
        if base is not None and r is not base:
            row["increase"] = round(r.mean - base.mean, 2)
            row["error_reduction_pct"] = round(reduction(base.mean, r.mean), 1)
        table.append(row)
    return table


def markdown(table: list[dict[str, Any]], task: TaskSpec) -> str:
    lines = [
        f"| run | {table[0]['split'] if table else 'test'} {task.metric} (mean ± sd) | seeds | per seed | "
        f"increase vs {task.baseline or '-'} | relative error reduction | paper | wall min / run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table:
        red = f"{r['error_reduction_pct']}%" if r["error_reduction_pct"] != "" else ""
        inc = f"{r['increase']:+.2f}" if r["increase"] != "" else ""
        spread = f"{r['mean']:.2f} ± {r['sd']:.2f}" if r["seeds"] > 1 else f"{r['mean']:.2f} (one seed: no sd)"
        lines.append(
            f"| {r['run']} | {spread} | {r['seeds']} | {r['per_seed']} | {inc} | {red} | "
            f"{r['paper']} | {r['wall_min_per_run']} |"
        )
    return "\n".join(lines) + "\n"


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


def write_report(suite: Suite, out: Path, command: str = "") -> Path:
    """Per task ``<task>.md``/``.csv``/``_bars.png``, ``mix_weights.png`` and ``README.md`` in ``out``."""
    from tasks.bench.runner import git_revision, machine

    summary = [f"# Benchmark `{suite.name}`", ""]
    if command:
        summary += ["Command:", "", f"    {command}", ""]
    summary += [f"Git revision of this report: `{git_revision()}`. Machine: `{json.dumps(machine())}`.", ""]
    weights: dict[str, list[float]] = {}
    for task in suite.tasks:
        runs = collect(suite, out, task)
        if not runs:
            summary += [f"## {task.name}", "", "No finished runs yet.", ""]
            continue
        table = rows(task, runs)
        text = markdown(table, task)
        (out / f"{task.name}.md").write_text(f"# {task.name}\n\n{text}", encoding="utf-8")
        write_csv_atomic(out / f"{task.name}.csv", table, list(table[0]) if table else [])
        plot_bars(out / f"{task.name}_bars.png", task, runs)
        summary += [f"## {task.name}", "", text, f"![{task.name}]({task.name}_bars.png)", ""]
        for r in runs:
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

"""Held-out perplexity against wall time: `elmo-tasks pretrain` run in segments of --segment minutes.

Each segment is one `pretrain ... --max-time SEGMENT` process (the first one fresh, the others
`--resume`, which continues exactly); each ends with a checkpoint, an export and the full-softmax
perplexity on --heldout. The wall time of a segment is the whole process (start-up, the stream
replay of a resume, the held-out evaluation), so the curve charges every overhead to the run.
Interrupted, the same command carries on from the last finished segment (curve.csv, --resume).

    OMP_NUM_THREADS=1 python benchmarks/real_embeddings/pretrain_curve.py RUN_DIR --total 25 --segment 5 \
        -- TEXT... --heldout HELDOUT --options OPTIONS.json --precision bf16 ...

    python benchmarks/real_embeddings/pretrain_curve.py --plot OUT.png RUN_DIR [RUN_DIR ...]

RUN_DIR gets the pretraining run and curve.csv (segment, wall_min, step, tokens, heldout_ppl).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

FIELDS = ["segment", "wall_min", "step", "tokens", "heldout_ppl", "tokens_per_s"]


def read_curve(run: Path) -> list[dict]:
    path = run / "curve.csv"
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def train(run: Path, total: float, segment: float, pretrain_args: list[str]) -> None:
    rows = read_curve(run)
    wall = float(rows[-1]["wall_min"]) if rows else 0.0
    while wall < total - 1e-6:
        minutes = min(segment, total - wall)
        resume = ["--resume"] if (run / "checkpoints" / "last.pt").is_file() else []
        command = [sys.executable, "-m", "tasks.cli", "pretrain", *pretrain_args, "-o", str(run)]
        command += ["--max-time", f"{minutes:g}", "--epochs", "100", "--no-progress", *resume]
        start = time.monotonic()
        subprocess.run(command, check=True)
        wall += (time.monotonic() - start) / 60
        metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
        if not rows:  # the fresh run's step-0 evaluation
            rows.append(
                {"segment": 0, "wall_min": 0.0, "step": 0, "tokens": 0, "heldout_ppl": metrics[0]["heldout_ppl"]}
            )
        last = metrics[-1]
        record = json.loads((run / "run.json").read_text(encoding="utf-8"))
        tokens = last["step"] * record["batch_size"] * record["unroll"] * record["devices"]
        rows.append(
            {
                "segment": len(rows),
                "wall_min": round(wall, 2),
                "step": last["step"],
                "tokens": tokens,
                "heldout_ppl": round(last["heldout_ppl"], 2),
                "tokens_per_s": last.get("tokens_per_s", ""),
            }
        )
        with (run / "curve.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        print(f"{run.name}: {wall:.1f} min, step {last['step']}, held-out perplexity {last['heldout_ppl']:.1f}")


def plot(out: Path, runs: list[Path]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for run in runs:
        rows = [r for r in read_curve(run) if float(r["wall_min"]) > 0]
        ax.plot(
            [float(r["wall_min"]) for r in rows], [float(r["heldout_ppl"]) for r in rows], marker="o", label=run.name
        )
    ax.set_xlabel("wall time (minutes)")
    ax.set_ylabel("held-out perplexity (full softmax)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--total", type=float, help="minutes of wall time in all")
    parser.add_argument("--segment", type=float, default=5.0, help="minutes per evaluated segment")
    parser.add_argument("--plot", type=Path, help="draw the curves of RUNS into this PNG instead of training")
    args, rest = parser.parse_known_args()
    if args.plot:
        plot(args.plot, args.runs)
        return
    if len(args.runs) != 1 or args.total is None:
        parser.error("training takes one RUN_DIR and --total")
    train(args.runs[0], args.total, args.segment, [a for a in rest if a != "--"])


if __name__ == "__main__":
    main()

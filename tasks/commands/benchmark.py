"""``elmo-tasks benchmark SUITE -o DIR``: run the missing runs of a suite, then write its tables and plots."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "benchmark",
        help="run a benchmark suite (tasks x embeddings x seeds) and write its tables and plots",
        description="Finished runs are reused and killed ones resumed, so the command can be re-run at will. "
        "Writes DIR/README.md, per task <task>.md/.csv/_bars.png, mix_weights.png; runs in DIR/runs/.",
    )
    parser.add_argument("suite", metavar="SUITE", help="suite YAML (e.g. benchmarks/suites/cpu.yaml)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR")
    parser.add_argument("--only", metavar="TASK", help="only this task of the suite")
    parser.add_argument("--run", dest="runs", action="append", default=[], metavar="RUN", help="only this run (repeat)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs that are missing, train nothing")
    parser.add_argument("--report-only", action="store_true", help="write the tables from the finished runs")
    parser.set_defaults(func=_benchmark)


def _benchmark(args: argparse.Namespace) -> None:
    from tasks.bench.report import write_report
    from tasks.bench.runner import run_suite
    from tasks.bench.suite import load_suite

    suite = load_suite(args.suite)
    out = Path(args.output)
    if not args.report_only:
        todo = run_suite(suite, out, args.only, args.runs, dry_run=args.dry_run)
        if args.dry_run:
            print(f"{len(todo)} runs missing", file=sys.stderr)
            return
    out.mkdir(parents=True, exist_ok=True)
    command = "elmo-tasks " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["benchmark"] else ""
    print(f"report: {write_report(suite, out, command)}", file=sys.stderr)

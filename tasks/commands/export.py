"""``elmo-tasks export``: a run's biLM (fine-tuned with the task when its embedder was trainable) in the
official layout, for ``embed``, ``similar`` or another run's embedder."""

from __future__ import annotations

import argparse
import sys


def add_parser(commands) -> None:
    """Register ``export`` on the ``elmo-tasks`` sub-command parsers."""
    export = commands.add_parser(
        "export",
        help="write a run's biLM as options.json + weights.hdf5 (the official ELMo layout)",
        description="RUN_DIR is a finished run whose embedder has a biLM; with `trainable: true` that is the "
        "biLM fine-tuned with the task. The files load with --options-file / --weight-file (embed, similar) "
        "and as an embedder's options / weights.",
    )
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for options.json + weights.hdf5")
    export.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> None:
    from tasks.common.task import export_run_bilms

    for folder in export_run_bilms(args.run_dir, args.output):
        print(f"wrote {folder / 'options.json'} and {folder / 'weights.hdf5'}", file=sys.stderr)

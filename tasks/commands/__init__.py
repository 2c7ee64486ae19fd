"""The sub-commands of ``elmo-tasks``, one module each, and the arguments they share."""

from __future__ import annotations

import argparse


def add_quiet(parser: argparse.ArgumentParser, *aliases: str) -> None:
    """``--quiet``: no progress bar (on a terminal) and no progress lines (elsewhere); results still print."""
    parser.add_argument(
        "--quiet", *aliases, dest="quiet", action="store_true", help="no progress bar or progress lines on stderr"
    )

"""The biLM arguments shared by commands that load one (embed, cache build, similar), and --quiet."""

from __future__ import annotations

import argparse

from elmo_features.bilm import STATE_MODES
from elmo_features.errors import ElmoError
from tasks.commands import add_quiet


def add_model_args(parser: argparse.ArgumentParser, states: tuple[str, ...] = STATE_MODES) -> None:
    parser.add_argument("--options-file", help="biLM options JSON (official format)")
    parser.add_argument("--weight-file", help="biLM weights HDF5 (official layout)")
    parser.add_argument(
        "--model",
        help="a model name instead of files: one of models/ (the project's own), or small, medium, original, 5.5B",
    )
    parser.add_argument("--state", choices=states, default="warm", help="LSTM start state per sentence (default: warm)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument(
        "--bf16", action="store_true", help="bfloat16 matrix products (faster only on CPUs with AMX/AVX512-BF16)"
    )
    add_quiet(parser)


def load_bilm(args: argparse.Namespace):
    """The BiLM the arguments name, on the requested device."""
    import torch

    from elmo_features.bilm import BiLM
    from elmo_features.models import resolve_files

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ElmoError("--device cuda given but CUDA is not available on this machine")
    options_file, weight_file = resolve_files(args.model, args.options_file, args.weight_file, not args.quiet)
    bilm = BiLM.from_files(options_file, weight_file, state=args.state).to(args.device)
    bilm.bf16 = args.bf16
    return bilm

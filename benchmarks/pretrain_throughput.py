"""Pretraining throughput: tokens/s of `elmo-tasks pretrain` training steps, per size and precision.

Times the real training step (char CNN on the batch's distinct tokens, both LSTM directions,
sampled softmax, backward, gradient clipping, Adagrad) on a synthetic Zipfian corpus, after
warm-up steps. Tokens are positions per direction (batch x unroll), as bilm-tf counts them.

    OMP_NUM_THREADS=1 python benchmarks/pretrain_throughput.py            # mini + small, fp32 + bf16
    python benchmarks/pretrain_throughput.py --sizes mini --precisions 32 --steps 50
    OMP_NUM_THREADS=1 python benchmarks/pretrain_throughput.py --steps 20 --bf16-steps 3 --warmup 1   # committed

Writes benchmarks/results/pretrain_throughput.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from elmo_features.options import BiLMOptions
from elmo_features.pretrain.corpus import Batcher
from elmo_features.pretrain.lm import BidirectionalLM
from elmo_features.pretrain.sizes import size_options
from elmo_features.pretrain.train import PretrainConfig, make_optimizer, train_step
from elmo_features.pretrain.vocab import Vocabulary

RESULTS = Path(__file__).resolve().parent / "results"


def zipf_sentences(vocab_words: int, seed: int = 0):
    """Endless sentences of 5-40 words drawn from a Zipf(1) distribution over made-up words."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(vocab_words)]
    weights = [1.0 / (i + 1) for i in range(vocab_words)]
    while True:
        yield rng.choices(words, weights, k=rng.randint(5, 40))


def measure(size: str, precision: str, steps: int, warmup: int, args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    options = BiLMOptions.from_dict(size_options(size))
    vocab = Vocabulary(f"w{i}" for i in range(args.vocab_size - 3))
    cfg = PretrainConfig(
        texts=[], out_dir="", options=size_options(size), precision=precision, n_samples=args.n_samples
    )
    model = BidirectionalLM(options, len(vocab), cfg.dropout, cfg.n_samples).train()
    optimizer = make_optimizer(model, cfg)
    batches = Batcher(zipf_sentences(args.vocab_size), vocab, args.batch_size, args.unroll)
    state = model.zero_state(args.batch_size)
    for _ in range(warmup):
        *_, state = train_step(model, optimizer, next(batches), state, cfg)
    prepared = [next(batches) for _ in range(steps)]
    start = time.perf_counter()
    for batch in prepared:
        *_, state = train_step(model, optimizer, batch, state, cfg)
    seconds = time.perf_counter() - start
    tokens = steps * args.batch_size * args.unroll
    return {
        "size": size,
        "precision": precision,
        "steps": steps,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1),
        "s_per_step": round(seconds / steps, 4),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["mini", "small"])
    parser.add_argument("--precisions", nargs="+", default=["32", "bf16"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--bf16-steps", type=int, help="timed steps for bf16 (default: --steps; slow on CPUs without bf16)"
    )
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--unroll", type=int, default=20)
    parser.add_argument("--vocab-size", type=int, default=20_000)
    parser.add_argument("--n-samples", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--note", default="", help="a line for the report (e.g. what else shared the CPU)")
    parser.add_argument("--output", default=str(RESULTS / "pretrain_throughput"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for size in args.sizes:
        for precision in args.precisions:
            steps = args.bf16_steps if precision == "bf16" and args.bf16_steps else args.steps
            row = measure(size, precision, steps, args.warmup, args)
            print(json.dumps(row), flush=True)
            rows.append(row)
    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        cpu = names[0] if names else cpu
    report = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "machine": f"{cpu}, {torch.get_num_threads()} thread(s) of {os.cpu_count()} cores",
        "torch": torch.__version__,
        "git_revision": revision,
        "note": args.note,
        "settings": {k: getattr(args, k) for k in ("batch_size", "unroll", "vocab_size", "n_samples", "warmup")},
        "results": rows,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [
        "# biLM pretraining throughput",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {report['machine']}; torch {report['torch']}; git {revision}  ",
        f"Batch {args.batch_size} x unroll {args.unroll}, vocabulary {args.vocab_size}, "
        f"{args.n_samples} sampled-softmax draws, Adagrad; {args.warmup} warm-up step(s) not timed; "
        "timed steps per row in the table.",
        "",
        "| size | precision | parameters | steps | s/step | tokens/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['precision']} | {r['parameters']:,} | {r['steps']} | {r['s_per_step']} | "
            f"{r['tokens_per_s']:,.0f} |"
        )
    if args.note:
        lines += ["", args.note]
    from elmo_features.machine import machine

    native = {"avx512_bf16", "amx_bf16"} & set(machine()["cpu_flags"])
    lines += [
        "",
        f"bf16 is autocast with this CPU's native bf16 instructions ({', '.join(sorted(native))})."
        if native
        else "bf16 here is autocast on a CPU without bf16 instructions: expect it to be slower than fp32.",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

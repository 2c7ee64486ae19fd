"""Throughput of `embed --all` (tokens/s, peak RSS) for the small and original-size biLM.

Protocol (the same one used for the allennlp 2.10.1 reference): CoNLL-2003 train
sentences of 20-30 tokens in file order (the first 1,600), 2 threads, stateless state,
one untimed warm-up batch, then every batch timed, HDF5 writing included. Random
weights in the official layout; each configuration runs in a fresh process, so the
token cache starts empty and peak RSS is its own.

    python benchmarks/bilm_throughput.py                 # full table -> benchmarks/results/
    python benchmarks/bilm_throughput.py --quick         # 160 sentences, small only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def benchmark_sentences(limit: int) -> list[str]:
    from tasks.common.data import data_dir

    path = (data_dir() or Path("DATA_DIR")) / "conll2003" / "train.txt"
    if not path.is_file():
        sys.exit(f"bilm_throughput: {path} not found (set DATA_DIR to the folder holding conll2003/)")
    sentences, current = [], []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.strip():
            current.append(line.split(" ")[0])
        elif current:
            if 20 <= len(current) <= 30:
                sentences.append(" ".join(current))
            current = []
    return sentences[:limit]


def worker(args: argparse.Namespace) -> None:
    """One configuration in this process; prints a JSON line."""
    import numpy as np
    import torch

    from elmo_features.bilm import BiLM
    from elmo_features.embed_file import embed_file
    from elmo_features.models import write_random_model

    torch.set_num_threads(args.threads)
    folder = Path(args.work)
    options_file, weight_file = write_random_model(args.arch, folder)
    bilm = BiLM.from_files(options_file, weight_file, state="stateless")
    bilm.bf16 = args.bf16
    lines = benchmark_sentences(args.sentences)
    warm_up, timed = folder / "warmup.txt", folder / "input.txt"
    warm_up.write_text(lines[0] + "\n")  # untimed: first-call costs (allocator, threads)
    timed.write_text("\n".join(lines) + "\n")
    embed_file(bilm, warm_up, folder / "warmup.hdf5", "all", args.batch_size, progress=False)
    start = time.perf_counter()
    tokens = embed_file(bilm, timed, folder / "out.hdf5", "all", args.batch_size, progress=False)
    seconds = time.perf_counter() - start
    result = {
        "arch": args.arch,
        "batch": args.batch_size,
        "precision": "bf16" if args.bf16 else "fp32",
        "tokens": tokens,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if args.bf16:  # error against fp32 on the first 64 sentences
        bilm.bf16, bilm.token_cache = False, type(bilm.token_cache)()
        sample = [s.split() for s in lines[:64]]
        exact, _ = bilm(sample)
        bilm.bf16, bilm.token_cache = True, type(bilm.token_cache)()
        approx, _ = bilm(sample)
        error = (approx - exact).abs()
        result["max_abs_error_vs_fp32"] = float(error.max())
        result["mean_abs_error_vs_fp32"] = float(error.mean())
        result["max_abs_fp32_value"] = float(np.abs(exact.numpy()).max())
    print(json.dumps(result))


def run_all(args: argparse.Namespace) -> None:
    configs = [(arch, batch, bf16) for arch in args.arch for batch in args.batch for bf16 in args.precision]
    results = []
    with tempfile.TemporaryDirectory() as work:
        for arch, batch, bf16 in configs:
            command = [
                sys.executable,
                __file__,
                "--worker",
                "--work",
                work,
                "--arch",
                arch,
                "--batch-size",
                str(batch),
                "--sentences",
                str(args.sentences),
                "--threads",
                str(args.threads),
            ] + (["--bf16"] if bf16 else [])
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    if args.output:
        write_report(results, args, Path(args.output))


def write_report(results: list[dict], args: argparse.Namespace, folder: Path) -> None:
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    meta = {
        "command": " ".join(["python", "benchmarks/bilm_throughput.py", *sys.argv[1:]]),
        "git_revision": revision.stdout.strip(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": args.threads,
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python": platform.python_version(),
        "sentences": args.sentences,
    }
    (folder / f"bilm_throughput{args.tag}.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=1) + "\n"
    )
    rows = [
        "| architecture | batch | precision | tokens/s | peak RSS (MB) | max abs error vs fp32 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        error = f"{r['max_abs_error_vs_fp32']:.2e}" if "max_abs_error_vs_fp32" in r else "-"
        rows.append(
            f"| {r['arch']} | {r['batch']} | {r['precision']} | {r['tokens_per_s']:,.0f} | "
            f"{r['peak_rss_mb']:,.0f} | {error} |"
        )
    header = "\n".join(f"- {k}: `{v}`" if k == "command" else f"- {k}: {v}" for k, v in meta.items())
    (folder / f"bilm_throughput{args.tag}.md").write_text(
        f"# biLM throughput (`embed --all`)\n\n{header}\n\n" + "\n".join(rows) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", nargs="+", default=["small", "original"], choices=["small", "original"])
    parser.add_argument("--batch", nargs="+", type=int, default=[32, 64])
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--sentences", type=int, default=1600)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    parser.add_argument("--quick", action="store_true", help="160 sentences, small, fp32, batch 32, no report")
    # worker-only arguments
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=32, help=argparse.SUPPRESS)
    parser.add_argument("--bf16", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.arch = args.arch[0] if isinstance(args.arch, list) else args.arch
        return worker(args)
    if args.quick:
        args.arch, args.batch, args.precision, args.sentences, args.output = ["small"], [32], ["fp32"], 160, None
    args.precision = [p == "bf16" for p in args.precision]
    run_all(args)


if __name__ == "__main__":
    main()

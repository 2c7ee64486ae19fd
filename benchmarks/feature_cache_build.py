"""Building the feature cache for CoNLL-2003 train with the original-size biLM: peak RSS, speed, resume.

Random weights in the official layout (seed 0), warm state, 2 threads, default shard and batch
sizes; every phase runs in a fresh process. With ``--kill-after-shards K`` phase 1 is SIGKILLed
once K shards are on disk (its peak RSS is read from /proc just before), and phase 2 resumes
the same build to the end in a new process; a last process checks a sample of cached sentences
against the live biLM (bound: 2^-11 relative + 1e-5) and times one epoch of reads (batches of
32). Prints one JSON line.

    python benchmarks/feature_cache_build.py                                   # all 14,041 sentences
    python benchmarks/feature_cache_build.py --sentences 2000 --kill-after-shards 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train_file() -> Path:
    path = Path(os.environ.get("DATA_DIR") or ROOT.parent / "shared" / "data") / "conll2003" / "train.txt"
    if not path.is_file():
        sys.exit(f"feature_cache_build: {path} not found (set DATA_DIR to the folder holding conll2003/)")
    return path


def model_files(folder: Path) -> tuple[Path, Path]:
    from elmo_features.models import write_random_model

    return write_random_model("original", folder)


def sentences(limit: int | None):
    from tasks.commands.cache import read_token_sentences

    return islice(read_token_sentences(train_file(), "conll"), limit)


def worker(args: argparse.Namespace) -> None:
    """One build (or check) in this process; prints a JSON line."""
    import torch

    from elmo_features.bilm import BiLM
    from elmo_features.feature_cache import FeatureCache

    start = time.perf_counter()
    torch.set_num_threads(args.threads)
    bilm = BiLM.from_files(*model_files(Path(args.work)), state="warm")
    cache = FeatureCache(bilm, Path(args.work) / "cache")
    if args.check:
        sample = [s for s in islice(sentences(args.sentences), 0, None, max(1, (args.sentences or 14041) // 32)) if s]
        cached, _ = cache.get(sample, build_missing=False)
        live, _ = bilm(sample)
        # float16 rounding (2^-11 relative) plus float32 noise from another batch composition (~1e-6)
        excess = float(((cached - live).abs() - live.abs() * 2.0**-11).max())
        result = {"checked": len(sample), "max_abs_error": float((cached - live).abs().max())}
        result["max_excess_over_float16_rounding"] = excess
        result["within_bound_2e-11_rel_plus_1e-5"] = excess <= 1e-5
        # One epoch of reads, batches of 32 in file order (the shards were just written: page cache warm).
        everything, tokens = list(sentences(args.sentences)), 0
        start_read = time.perf_counter()
        for i in range(0, len(everything), 32):
            _, mask = cache.get(everything[i : i + 32], build_missing=False)
            tokens += int(mask.sum())
        result["epoch_read_tokens_per_s"] = round(tokens / (time.perf_counter() - start_read))
    else:
        stats = cache.build(sentences(args.sentences), progress=False)
        result = {k: round(v, 2) if isinstance(v, float) else v for k, v in vars(stats).items()}
        result["build_tokens_per_s"] = round(stats.new_tokens / stats.seconds, 1) if stats.new_tokens else None
    result["process_seconds"] = round(time.perf_counter() - start, 1)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result), flush=True)


def run_phase(args: argparse.Namespace, work: str, extra: list[str], kill_after: int | None = None) -> dict:
    command = [sys.executable, __file__, "--worker", "--work", work, "--threads", str(args.threads), *extra]
    if args.sentences:
        command += ["--sentences", str(args.sentences)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    if kill_after is None:
        out, _ = process.communicate()
        if process.returncode:
            sys.exit(f"feature_cache_build: worker failed ({process.returncode})")
        return json.loads(out.strip().splitlines()[-1])
    shards = Path(work) / "cache"
    start = time.perf_counter()
    while process.poll() is None and len(list(shards.glob("*/*.shard"))) < kill_after:
        time.sleep(0.5)
    status = Path(f"/proc/{process.pid}/status")
    hwm = next((line.split()[1] for line in status.read_text().splitlines() if line.startswith("VmHWM")), "0")
    process.send_signal(signal.SIGKILL)
    process.wait()
    return {
        "killed_after_s": round(time.perf_counter() - start, 1),
        "shards_on_disk": len(list(shards.glob("*/*.shard"))),
        "temp_files_left": len(list(shards.glob("*/.*.tmp"))),
        "peak_rss_mb": round(int(hwm) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, help="first N sentences of train.txt (default: all)")
    parser.add_argument("--kill-after-shards", type=int, help="SIGKILL the first build once K shards exist")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", help="folder for the weights and the cache (default: a temporary one)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or scratch
        model_files(Path(work))
        revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        result = {
            "command": " ".join(["python", "benchmarks/feature_cache_build.py", *sys.argv[1:]]),
            "git_revision": revision.stdout.strip(),
            "cores": os.cpu_count(),
            "threads": args.threads,
            "load_average_before": os.getloadavg()[0],
        }
        if args.kill_after_shards:
            result["killed"] = run_phase(args, work, [], kill_after=args.kill_after_shards)
        result["build"] = run_phase(args, work, [])
        result["check"] = run_phase(args, work, ["--check"])
        result["load_average_after"] = os.getloadavg()[0]
        build = result["build"]
        if args.sentences and build.get("build_tokens_per_s"):
            full = sum(map(len, sentences(None)))
            result["full_train_tokens"] = full
            result["extrapolated_full_train_s"] = round(full / build["build_tokens_per_s"])
        if build["tokens"]:
            result["disk_bytes_per_1m_tokens"] = round(build["size_bytes"] / build["tokens"] * 1e6)
        print(json.dumps(result))


if __name__ == "__main__":
    main()

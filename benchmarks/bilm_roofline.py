"""The fastest `embed` this CPU allows: a lower bound on the time of `bilm_throughput.py`'s protocol.

Counts the matrix work no implementation can skip (every LSTM product at every position, the char CNN
once per distinct token over its own characters only, nothing for padding, gates, copies or output) and
divides it by this machine's measured matrix-product peak (one large product, the same threads). What
comes out is a ceiling on tokens/s; with allennlp's measured tokens/s beside it, a ceiling on the speed-up.

    python benchmarks/bilm_roofline.py --allennlp small=1639 original=340
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bilm_throughput import benchmark_sentences

from elmo_features.chars import BOS_TOKEN, EOS_TOKEN, token_length
from elmo_features.models import architecture
from elmo_features.options import BiLMOptions

SENTENCES = {"small": 1600, "original": 320}  # bilm_throughput.py's protocol


def matmul_peak(dtype: torch.dtype, repeats: int = 20) -> float:
    """FLOP/s of a 2048 x 2048 x 4096 matrix product, the best of ``repeats``."""
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 4096, dtype=dtype)
    best = float("inf")
    for _ in range(repeats + 3):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 2048 * 2048 * 4096 / best


def work(arch: str) -> tuple[int, float]:
    """(tokens, FLOPs) of embedding the protocol's sentences with ``arch``."""
    options = BiLMOptions.from_dict(architecture(arch))
    sentences = [line.split() for line in benchmark_sentences(SENTENCES[arch])]
    tokens = sum(len(s) for s in sentences)
    positions = tokens + 2 * len(sentences)  # with <S> and </S>
    p, c = options.projection_dim, options.cell_dim
    lstm = options.n_layers * 2 * (4 * c * p + 4 * c * p + c * p)  # input, state, projection; both directions
    distinct = {t for s in sentences for t in s} | {BOS_TOKEN, EOS_TOKEN}
    n = options.n_filters
    conv = sum(
        width * options.char_dim * count * max(1, token_length(t) - width + 1)
        for t in distinct
        for width, count in options.filters
    )
    dense = len(distinct) * (options.n_highway * n * 2 * n + n * p)
    return tokens, 2.0 * (positions * lstm + conv + dense)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--allennlp", nargs="*", default=[], help="ARCH=TOKENS_PER_S measured by bench_allennlp.py")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    reference = {k: float(v) for k, v in (item.split("=", 1) for item in args.allennlp)}
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    measured = ", ".join(f"{k} {v / 1e9:,.0f} GFLOP/s" for k, v in peaks.items())
    print(f"matrix-product peak, {args.threads} threads: {measured}")
    print("\n| architecture | tokens | GFLOP | precision | ceiling tok/s | allennlp tok/s | ceiling speed-up |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: |")
    for arch in SENTENCES:
        tokens, flops = work(arch)
        for precision, peak in peaks.items():
            ceiling = tokens / (flops / peak)
            ref = reference.get(arch)
            speed_up = f"{ceiling / ref:.1f}x" if ref else "-"
            print(
                f"| {arch} | {tokens:,} | {flops / 1e9:,.0f} | {precision} | {ceiling:,.0f} | "
                f"{f'{ref:,.0f}' if ref else '-'} | {speed_up} |"
            )


if __name__ == "__main__":
    main()

"""Epoch time of one BiLSTM head on cached ELMo features vs on 100-d static vectors.

The question (issue 3): with the frozen-feature cache, does an ELMo-based model train
about as fast as a GloVe-based one? Same head (2-layer BiLSTM, hidden 200, linear
tag scorer, cross-entropy; the NER issue brings the CRF), same batches (CoNLL-2003
train, batch 32, length-bucketed), Adam, 2 threads. The ELMo side reads float16
layers from the cache and trains the scalar mix; the cache is built before timing.

    python benchmarks/epoch_time.py --elmo-options O --elmo-weights W --vectors glove100.txt
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

import torch
from torch import nn

from elmo_features.embedders import TokenBatch, build_embedder

ROOT = Path(__file__).resolve().parents[1]


def read_conll(path: Path) -> list[tuple[list[str], list[str]]]:
    sentences, tokens, tags = [], [], []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.strip() and not line.startswith("-DOCSTART-"):
            columns = line.split(" ")
            tokens.append(columns[0])
            tags.append(columns[-1])
        elif tokens:
            sentences.append((tokens, tags))
            tokens, tags = [], []
    return sentences


class Head(nn.Module):
    def __init__(self, embedder, n_tags: int) -> None:
        super().__init__()
        self.embedder = embedder
        self.dropout = nn.Dropout(0.5)
        self.lstm = nn.LSTM(embedder.output_dim, 200, num_layers=2, bidirectional=True, batch_first=True)
        self.scorer = nn.Linear(400, n_tags)

    def forward(self, batch: TokenBatch, tags: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(self.dropout(self.embedder(batch)))
        logits = self.scorer(self.dropout(hidden))
        loss = nn.functional.cross_entropy(logits[batch.mask], tags[batch.mask])
        return loss + self.embedder.penalty()


def batches(data, size: int, seed: int):
    order = sorted(range(len(data)), key=lambda i: len(data[i][0]))
    chunks = [order[i : i + size] for i in range(0, len(order), size)]
    random.Random(seed).shuffle(chunks)
    return chunks


def epoch_seconds(model: Head, data, tag_ids: dict[str, int], epochs: int) -> list[float]:
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    times = []
    for epoch in range(epochs):
        start = time.perf_counter()
        for chunk in batches(data, 32, epoch):
            batch = TokenBatch.from_tokens([data[i][0] for i in chunk])
            tags = torch.zeros(batch.mask.shape, dtype=torch.long)
            for row, i in enumerate(chunk):
                tags[row, : len(data[i][1])] = torch.tensor([tag_ids[t] for t in data[i][1]])
            optimizer.zero_grad()
            model(batch, tags).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elmo-options", required=True)
    parser.add_argument("--elmo-weights", required=True)
    parser.add_argument("--vectors", required=True, help="100-d static vectors (GloVe text format)")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=0, help="use only the first N training sentences")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=None, help="write the JSON result here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data_dir = Path(os.environ.get("DATA_DIR") or ROOT.parent / "shared" / "data")
    data = read_conll(data_dir / "conll2003" / "train.txt")
    if args.sentences:
        data = data[: args.sentences]
    tag_ids = {t: i for i, t in enumerate(sorted({t for _, tags in data for t in tags}))}
    vocabulary = sorted({w for tokens, _ in data for w in tokens})
    result = {"sentences": len(data), "tokens": sum(len(t) for t, _ in data), "epochs": args.epochs}

    glove = build_embedder({"type": "glove", "path": args.vectors}, vocabulary)
    result["glove_epoch_s"] = epoch_seconds(Head(glove, len(tag_ids)), data, tag_ids, args.epochs)

    elmo_block = {
        "type": "elmo",
        "options": args.elmo_options,
        "weights": args.elmo_weights,
        "cache": True,
        "cache_dir": args.cache_dir,
    }
    elmo = build_embedder(elmo_block, vocabulary)
    start = time.perf_counter()
    elmo.cache.build([tokens for tokens, _ in data], progress=False)
    result["cache_build_s"] = round(time.perf_counter() - start, 1)
    result["cache_bytes"] = elmo.cache.size_bytes()
    result["elmo_epoch_s"] = epoch_seconds(Head(elmo, len(tag_ids)), data, tag_ids, args.epochs)
    result["ratio_elmo_over_glove"] = round(min(result["elmo_epoch_s"]) / min(result["glove_epoch_s"]), 2)
    result["elmo_dim"] = elmo.output_dim
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    text = json.dumps(result)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(main())

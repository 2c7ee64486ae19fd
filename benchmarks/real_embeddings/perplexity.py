"""Held-out perplexity of a pretraining run's last checkpoint on other texts (full softmax, float32).

    python benchmarks/real_embeddings/perplexity.py RUN_DIR HELDOUT.txt [HELDOUT.txt ...]

Uses the run's own vocabulary and settings (batch, unroll, max tokens), the LSTM state carried
across batches as in training; prints one JSON line per file (forward, backward and their
geometric mean, the number reported as "perplexity").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from elmo_features.options import BiLMOptions
from elmo_features.pretrain.lm import BidirectionalLM
from elmo_features.pretrain.train import CHECKPOINT, PretrainConfig, evaluate
from elmo_features.pretrain.vocab import Vocabulary


def main(run: Path, texts: list[str]) -> None:
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    vocab = Vocabulary.load(run / "vocab.txt")
    model = BidirectionalLM(BiLMOptions.from_dict(record["options"]), len(vocab), 0.0, record["n_samples"])
    checkpoint = torch.load(run / CHECKPOINT, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])
    for text in texts:
        cfg = PretrainConfig(
            texts=[],
            out_dir=str(run),
            options=record["options"],
            heldout=text,
            batch_size=record["batch_size"],
            unroll=record["unroll"],
            max_tokens=record["max_tokens"],
        )
        scores = evaluate(model, cfg, vocab)
        print(json.dumps({"text": Path(text).name, "step": checkpoint["step"], **scores}), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])

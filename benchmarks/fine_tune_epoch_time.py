"""Epoch time of an NER run that fine-tunes the biLM against one on the frozen biLM's cached features.

The question (issue 17, item 3): what does ``embedder: {type: elmo, trainable: true}`` cost per epoch?
The frozen run reads float16 layers from the feature cache (filled before training, not timed), so its
epochs train only the scalar mix and the head; the fine-tuned runs push every batch through the biLM,
forwards and backwards (``warm``: also the warm-up text, once per step, whose state depends on the
weights; ``stateless``: not). Generated CoNLL-like data (no download), a biLM of the given size with
random weights in the official layout, the same head and batches for all three. Per-epoch seconds are
what the trainer's progress callback measures for each epoch (training and validation; epoch 1
included: the cache is filled before it).

    OMP_NUM_THREADS=1 python benchmarks/fine_tune_epoch_time.py --size mini --sentences 300 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import torch

from elmo_features.machine import machine
from elmo_features.options import BiLMOptions
from elmo_features.pretrain.sizes import size_options
from elmo_features.weights import random_weights, write_weights

WORDS = ["the", "a", "bank", "river", "said", "rates", "rose", "fell", "on", "of", "in", "market", "team", "won"]
NAMES = {"PER": ["John", "Mary", "Jordan", "Smith"], "LOC": ["Paris", "London", "Jordan"], "ORG": ["Acme", "Globex"]}


def write_conll(path: Path, sentences: int, seed: int) -> None:
    """``sentences`` sentences of 8-24 tokens, a name (IOB2) every few words."""
    rng = random.Random(seed)
    lines = []
    for _ in range(sentences):
        for _ in range(rng.randint(8, 24)):
            if rng.random() < 0.2:
                kind = rng.choice(sorted(NAMES))
                lines.append(f"{rng.choice(NAMES[kind])} B-{kind}")
            else:
                lines.append(f"{rng.choice(WORDS)} O")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def run(folder: Path, name: str, elmo: dict, args: argparse.Namespace) -> dict:
    from tasks.common.config import validate_config
    from tasks.common.progress import ProgressLines
    from tasks.common.trainer import train

    config = validate_config(
        {
            "name": name,
            "task": {"name": "ner"},
            "data": {"train": str(folder / "train.txt"), "validation": str(folder / "dev.txt")},
            "embedder": {"type": "elmo", "options": str(folder / "options.json"), "weights": str(folder / "w.hdf5"),
                         "cache_dir": str(folder / "cache"), **elmo},
            "model": {"hidden": 64, "layers": 1, "char_cnn": False},
            "trainer": {"epochs": args.epochs, "batch_size": 32, "lr": 0.001, "seed": 0, "patience": args.epochs},
        }
    )  # fmt: skip
    epochs: list[float] = []
    end = ProgressLines.on_train_epoch_end

    def timed(self, trainer, module) -> None:  # the seconds the callback logs, unrounded
        epochs.append(round(time.monotonic() - self.started, 2))
        end(self, trainer, module)

    ProgressLines.on_train_epoch_end = timed
    started = time.monotonic()
    try:
        metrics = train(config, folder / name, quiet=True)
    finally:
        ProgressLines.on_train_epoch_end = end
    wall = time.monotonic() - started
    return {"run": name, "epoch_s": epochs, "wall_s": round(wall, 1), "dev_f1": metrics["dev"]["f1"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="mini", help="biLM size (tiny, mini, small, ...)")
    parser.add_argument("--sentences", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--output", help="write the results as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        options = size_options(args.size)
        (folder / "options.json").write_text(json.dumps(options))
        write_weights(folder / "w.hdf5", random_weights(BiLMOptions.from_dict(options), seed=0))
        write_conll(folder / "train.txt", args.sentences, seed=0)
        write_conll(folder / "dev.txt", max(args.sentences // 10, 1), seed=1)
        rows = [
            run(folder, "frozen_cached", {"cache": True}, args),
            run(folder, "finetuned_warm", {"trainable": True}, args),
            run(folder, "finetuned_stateless", {"trainable": True, "state": "stateless"}, args),
        ]
    result = {"size": args.size, "sentences": args.sentences, "threads": torch.get_num_threads(), "rows": rows,
              "machine": machine()}  # fmt: skip
    text = json.dumps(result, indent=1)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

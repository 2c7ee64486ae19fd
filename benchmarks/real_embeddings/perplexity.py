"""Held-out perplexity of a pretraining run's last checkpoint on other texts (full softmax, float32).

    python benchmarks/real_embeddings/perplexity.py RUN_DIR HELDOUT.txt [HELDOUT.txt ...] [--as-vocab VOCAB.txt]

Uses the run's own vocabulary and settings (batch, unroll, max tokens), the LSTM state carried
across batches as in training; prints one JSON line per file (forward, backward and their
geometric mean, the number reported as "perplexity").

Perplexities over different vocabularies do not compare: a smaller vocabulary turns more words
into <UNK>, one easy prediction. ``--as-vocab`` scores the model as if its softmax had another
model's vocabulary: a word of that vocabulary keeps its own probability, and every other word
(this model's <UNK> included) falls into one <UNK> class holding their summed probability. A word
of the other vocabulary that this one lacks is scored as that <UNK> class (an approximation that
favours this model; the count of such target words is printed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from elmo_features.options import BiLMOptions
from elmo_features.pretrain.corpus import IGNORE
from elmo_features.pretrain.lm import BidirectionalLM
from elmo_features.pretrain.train import CHECKPOINT, PretrainConfig, evaluate
from elmo_features.pretrain.vocab import Vocabulary


def collapse_onto(model: BidirectionalLM, vocab: Vocabulary, other: Vocabulary) -> None:
    """Score ``model`` with ``other``'s vocabulary (see the module docstring)."""
    words = set(other.words) - {other.words[other.unk]}
    keep = torch.tensor([w in words for w in vocab.words])
    keep[vocab.unk] = False
    missing = len(words - set(vocab.words))
    print(f"scored with {len(words):,} words of {len(other):,}; {missing:,} of them are <UNK> here", flush=True)
    softmax = model.softmax

    def full_loss(hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(F.linear(hidden, softmax.weight, softmax.bias).float(), dim=-1)
        valid = targets != IGNORE
        ids = targets.clamp(min=0)
        own = log_p.gather(1, ids.unsqueeze(1)).squeeze(1)
        rest = torch.logsumexp(log_p.masked_fill(keep, float("-inf")), dim=1)
        return -torch.where(keep[ids], own, rest)[valid].sum()

    softmax.full_loss = full_loss


def main(run: Path, texts: list[str], as_vocab: str | None = None) -> None:
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    vocab = Vocabulary.load(run / "vocab.txt")
    model = BidirectionalLM(BiLMOptions.from_dict(record["options"]), len(vocab), 0.0, record["n_samples"])
    checkpoint = torch.load(run / CHECKPOINT, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])
    if as_vocab:
        collapse_onto(model, vocab, Vocabulary.load(as_vocab))
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
        label = {"as_vocab": Path(as_vocab).name} if as_vocab else {}
        print(json.dumps({"text": Path(text).name, "step": checkpoint["step"], **label, **scores}), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    other = args.pop(args.index("--as-vocab") + 1) if "--as-vocab" in args else None
    main(Path(args[0]), [a for a in args[1:] if a != "--as-vocab"], other)

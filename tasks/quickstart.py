"""The main job on an embedded default: embed the shipped sentences and show what ELMo does.

Uses the official "small" ELMo when it is in the cache; otherwise it writes random
weights with the small architecture in the official layout (once, into the cache)
and says so: the pipeline is the same, the numbers then mean nothing linguistically.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import h5py
import numpy as np

from elmo_features.bilm import BiLM
from elmo_features.embed_file import embed_file
from elmo_features.models import cache_root, is_cached, official_paths, write_random_model


def sentences_file() -> Path:
    return Path(str(resources.files("tasks") / "data" / "quickstart.txt"))


def run(output_dir: Path, say=print) -> Path:
    if is_cached("small"):
        options_file, weight_file = official_paths("small")
        say(f"weights: official ELMo 'small' from the cache ({weight_file})")
    else:
        options_file, weight_file = write_random_model("small", cache_root() / "models" / "random")
        say(
            f"weights: RANDOM, small architecture, official layout ({weight_file}); the official ones are not in "
            f"the cache ({official_paths('small')[1]}), so the similarities below only show the mechanics"
        )
    bilm = BiLM.from_files(options_file, weight_file, state="warm")
    source = sentences_file()
    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / "embeddings.hdf5"
    start = time.perf_counter()
    tokens = embed_file(bilm, source, output, "all", batch_size=32, progress=False)
    seconds = time.perf_counter() - start
    say(f"embedded {tokens} tokens of {source.name} in {seconds:.2f}s -> {output} (state mode: warm)")
    _show_bank(output, source.read_text(encoding="utf-8").splitlines(), say)
    return output


def _show_bank(output: Path, lines: list[str], say) -> None:
    """Cosine between the vectors of "bank" in its four sentences, per layer."""
    found = [(i, line.split().index("bank")) for i, line in enumerate(lines) if "bank" in line.split()]
    with h5py.File(output, "r") as h5:
        vectors = [h5[str(i)][:, j] for i, j in found]
    say('cosine between the vectors of "bank" (sentence 1 = river bank):')
    say("  pair       layer0 (static)  layer1   layer2")
    for a in range(len(found)):
        for b in range(a + 1, len(found)):
            cos = [_cosine(vectors[a][k], vectors[b][k]) for k in range(vectors[a].shape[0])]
            say(f"  s{found[a][0] + 1}-s{found[b][0] + 1}      " + "  ".join(f"{c:8.3f}" for c in cos))


def _cosine(u: np.ndarray, v: np.ndarray) -> float:
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-12))

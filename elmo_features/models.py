"""ELMo models by name: the project's own published biLMs (``models/<name>/`` at the repository root,
always offline) and the official ones (download URLs, the local cache, offline help)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from platformdirs import user_cache_dir

from elmo_features.atomic import atomic_path
from elmo_features.errors import ElmoError
from elmo_features.progress import Progress

BASE_URL = "https://allennlp.s3.amazonaws.com/models/elmo"
OFFICIAL = {
    "small": "2x1024_128_2048cnn_1xhighway",
    "medium": "2x2048_256_2048cnn_1xhighway",
    "original": "2x4096_512_2048cnn_2xhighway",
    "5.5B": "2x4096_512_2048cnn_2xhighway_5.5B",
}


PUBLISHED = Path(__file__).resolve().parents[1] / "models"  # the repository's models/<name>/ folders


def published() -> dict[str, tuple[Path, Path]]:
    """The project's own biLMs by name: ``models/<name>/options.json`` + ``weights.hdf5``."""
    if not PUBLISHED.is_dir():
        return {}
    folders = sorted(p for p in PUBLISHED.iterdir() if p.is_dir())
    return {p.name: (p / "options.json", p / "weights.hdf5") for p in folders if (p / "weights.hdf5").is_file()}


def model_names() -> list[str]:
    """Every name a model can be given by: the published ones, then the official ones."""
    return [*published(), *OFFICIAL]


_FILTERS = [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]]


def architecture(name: str) -> dict:
    """Options JSON (as a dict) with the dimensions of an official model."""
    sizes = {"small": (1024, 128, 1), "medium": (2048, 256, 1), "original": (4096, 512, 2), "5.5B": (4096, 512, 2)}
    if name not in sizes:
        raise ElmoError(f"unknown ELMo model {name!r} (official names: {', '.join(OFFICIAL)})")
    cell, projection, highway = sizes[name]
    return {
        "char_cnn": {
            "activation": "relu",
            "embedding": {"dim": 16},
            "filters": _FILTERS,
            "max_characters_per_token": 50,
            "n_characters": 262,
            "n_highway": highway,
        },
        "lstm": {
            "cell_clip": 3,
            "dim": cell,
            "n_layers": 2,
            "proj_clip": 3,
            "projection_dim": projection,
            "use_skip_connections": True,
        },
    }


def write_random_model(name: str, folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Options + random weights in the official layout with an official model's dimensions (once)."""
    from elmo_features.options import BiLMOptions
    from elmo_features.weights import random_weights, write_weights

    options_file, weight_file = folder / f"{name}_options.json", folder / f"{name}_weights.hdf5"
    if not weight_file.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        options = architecture(name)
        options_file.write_text(json.dumps(options, indent=1))
        write_weights(weight_file, random_weights(BiLMOptions.from_dict(options), seed=seed))
    return options_file, weight_file


def cache_root() -> Path:
    """``$ELMO_TASKS_CACHE``, else the user cache directory (e.g. ~/.cache/elmo-tasks)."""
    return Path(os.environ.get("ELMO_TASKS_CACHE") or user_cache_dir("elmo-tasks"))


def official_urls(name: str) -> tuple[str, str]:
    stem = OFFICIAL[name]
    prefix = f"{BASE_URL}/{stem}/elmo_{stem}"
    return f"{prefix}_options.json", f"{prefix}_weights.hdf5"


def official_paths(name: str) -> tuple[Path, Path]:
    folder = cache_root() / "models" / name
    return folder / "options.json", folder / "weights.hdf5"


def is_cached(name: str) -> bool:
    return all(path.is_file() for path in official_paths(name))


def resolve(name: str, download: bool = True, progress: bool = True) -> tuple[Path, Path]:
    """(options, weights) paths of a published model, or of an official one (downloaded once if allowed,
    with ``progress`` on stderr)."""
    own = published()
    if name in own:
        return own[name]
    if name not in OFFICIAL:
        raise ElmoError(f"unknown ELMo model {name!r} (names: {', '.join(model_names())})")
    paths = official_paths(name)
    if is_cached(name):
        return paths
    urls = official_urls(name)
    offline = os.environ.get("ELMO_TASKS_OFFLINE") or os.environ.get("HF_HUB_OFFLINE")
    if download and not offline:
        try:
            for url, path in zip(urls, paths, strict=False):
                if not path.is_file():
                    _download(url, path, progress)
            return paths
        except (ElmoError, OSError, TimeoutError):  # atomic_path reports a failed download as ElmoError
            pass
    where = "; ".join(f"{url} -> {path}" for url, path in zip(urls, paths, strict=False))
    raise ElmoError(
        f"the {name!r} ELMo model is not in the cache and cannot be downloaded here; put the files at: {where}"
    )


def _download(url: str, path: Path, progress: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, urllib.request.urlopen(url, timeout=30) as response, open(tmp, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        name = f"downloading {path.parent.name}/{path.name}"
        with Progress(name, total, "B", unit_scale=True, enabled=progress) as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                bar.update(len(chunk))


def resolve_files(
    model: str | None, options_file: str | None, weight_file: str | None, progress: bool = True
) -> tuple[Path, Path]:
    """Either an official model name or both file paths."""
    if model:
        if options_file or weight_file:
            raise ElmoError("give either a model name or --options-file/--weight-file, not both")
        return resolve(model, progress=progress)
    if not options_file or not weight_file:
        raise ElmoError(
            f"both --options-file and --weight-file are needed (or a model name: {', '.join(model_names())})"
        )
    return Path(options_file), Path(weight_file)

"""Official model names: cache paths, offline help, URL layout."""

from __future__ import annotations

import pytest

from elmo_features.errors import ElmoError
from elmo_features.models import official_paths, official_urls, resolve, resolve_files


def test_urls_follow_the_official_naming():
    options, weights = official_urls("original")
    assert options.endswith("2x4096_512_2048cnn_2xhighway/elmo_2x4096_512_2048cnn_2xhighway_options.json")
    assert weights.endswith("elmo_2x4096_512_2048cnn_2xhighway_weights.hdf5")


def test_offline_message_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("ELMO_TASKS_CACHE", str(tmp_path))
    monkeypatch.setenv("ELMO_TASKS_OFFLINE", "1")
    with pytest.raises(ElmoError) as err:
        resolve("small")
    message = str(err.value)
    for path in official_paths("small"):
        assert str(path) in message
    assert official_urls("small")[1] in message


def test_cached_files_are_used_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("ELMO_TASKS_CACHE", str(tmp_path))
    monkeypatch.setenv("ELMO_TASKS_OFFLINE", "1")
    for path in official_paths("medium"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert resolve("medium") == official_paths("medium")


def test_unknown_name_and_mixed_arguments():
    with pytest.raises(ElmoError, match=r"small, medium, original, 5\.5B"):
        resolve("large")
    with pytest.raises(ElmoError, match="not both"):
        resolve_files("small", "o.json", None)


def test_small_architecture_matches_the_released_small_options(fixtures_dir):
    import json

    from elmo_features.models import architecture
    from elmo_features.options import BiLMOptions

    released = json.loads((fixtures_dir / "elmo-small-random" / "small_random_options.json").read_text())
    assert BiLMOptions.from_dict(architecture("small")) == BiLMOptions.from_dict(released)


def test_a_published_model_loads_by_name_offline(tmp_path, monkeypatch, tiny_files):
    """models/<name>/ at the repository root: found by name before the official names, never downloaded."""
    import shutil

    import elmo_features.models as models
    from elmo_features.bilm import BiLM

    monkeypatch.setattr(models, "PUBLISHED", tmp_path / "models")
    monkeypatch.setenv("ELMO_TASKS_OFFLINE", "1")
    folder = tmp_path / "models" / "ours"
    folder.mkdir(parents=True)
    shutil.copy(tiny_files[0], folder / "options.json")
    shutil.copy(tiny_files[1], folder / "weights.hdf5")
    (tmp_path / "models" / "half").mkdir()  # a folder without weights is not a model
    assert models.model_names()[:1] == ["ours"] and "half" not in models.model_names()
    assert resolve_files("ours", None, None) == (folder / "options.json", folder / "weights.hdf5")
    layers, _ = BiLM.from_files(*resolve("ours"))([["a", "b"]])
    assert layers.shape == (3, 1, 2, 16)
    with pytest.raises(ElmoError, match=r"unknown ELMo model 'half' \(names: ours, small"):
        resolve("half")


@pytest.mark.parametrize("name", ["en-mini-17m", "en-mini-17m-v2"])
def test_the_project_s_published_bilms_load_by_name_offline(monkeypatch, name):
    """models/<name> is committed: it resolves by name with no network and runs."""
    from elmo_features.bilm import BiLM

    monkeypatch.setenv("ELMO_TASKS_OFFLINE", "1")
    options, weights = resolve(name)
    assert options.parent.name == name and weights.stat().st_size <= 25 * 2**20
    layers, mask = BiLM.from_files(options, weights, state="stateless")([["The", "bank", "raised", "rates", "."]])
    assert layers.shape == (3, 1, 5, 256) and mask.all() and bool(layers.isfinite().all())

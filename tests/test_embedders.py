"""The TokenEmbedder seam: shapes, padding, concatenation, config validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from elmo_features.embedders import (
    ConcatEmbedder,
    ElmoEmbedder,
    StaticEmbedder,
    TokenBatch,
    build_embedder,
    parse_config,
)
from elmo_features.errors import ElmoError

WORDS = ["@@PADDING@@", "@@UNKNOWN@@", "bank", "river", "The"]


def static() -> StaticEmbedder:
    matrix = np.arange(len(WORDS) * 3, dtype=np.float32).reshape(len(WORDS), 3)
    matrix[0] = 0
    return StaticEmbedder(WORDS, matrix)


def test_static_lookup_case_fallback_oov_and_padding():
    batch = TokenBatch.from_tokens([["The", "Bank", "zebra"], ["river"]])
    out = static()(batch)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out[0, 0], [12, 13, 14])  # exact
    np.testing.assert_array_equal(out[0, 1], [6, 7, 8])  # "Bank" -> "bank"
    np.testing.assert_array_equal(out[0, 2], [3, 4, 5])  # OOV -> row 1
    assert out[1, 1:].abs().sum() == 0  # padding row


def test_elmo_embedder_live_and_concat(tiny_files):
    embedder = build_embedder(
        {
            "type": "elmo",
            "options": str(tiny_files[0]),
            "weights": str(tiny_files[1]),
            "cache": False,
            "dropout": 0.0,
            "outputs": 2,
            "l2": 0.5,
        },
        vocabulary=[],
    )
    assert isinstance(embedder, ElmoEmbedder) and embedder.output_dim == 16
    batch = TokenBatch.from_tokens([["The", "bank"], ["river"]])
    first, second = embedder.representations(batch)
    torch.testing.assert_close(first, second)  # same initial mix
    assert first.shape == (2, 2, 16) and first[1, 1].abs().sum() == 0
    with torch.no_grad():
        embedder.elmo.mixes[0].scalars.fill_(1.0)
    assert embedder.penalty().item() == pytest.approx(0.5 * 3)
    both = ConcatEmbedder([static(), embedder])
    assert both.output_dim == 19 and both(batch).shape == (2, 2, 19)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"type": "glvoe"}, "unknown embedder type 'glvoe' (valid: glove, word2vec, fasttext, random, elmo, concat)"),
        ({"path": "x"}, "needs a 'type'"),
        ({"type": "glove", "path": "x", "trainabel": True}, "unknown key 'trainabel'; did you mean 'trainable'?"),
        ({"type": "elmo", "dropout": 1.5}, "embedder.dropout: Input should be less than 1"),
        (
            {"type": "concat", "parts": [{"type": "glove"}, {"type": "bert"}]},
            "embedder.parts[1]: unknown embedder type",
        ),
    ],
)
def test_config_errors_are_one_line_and_helpful(block, message):
    with pytest.raises(ElmoError) as err:
        parse_config(block)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_random_needs_dim_and_static_needs_path():
    with pytest.raises(ElmoError, match="needs 'dim'"):
        build_embedder({"type": "random"}, ["a"])
    with pytest.raises(ElmoError, match="needs 'path'"):
        build_embedder({"type": "glove"}, ["a"])


def test_path_list_takes_the_first_file_that_exists_and_says_so(tmp_path, caplog):
    import gzip

    small = tmp_path / "glove.6B.50d.txt.gz"
    small.write_bytes(gzip.compress(b"bank 1 2\nriver 3 4\n"))
    block = {"type": "glove", "path": [str(tmp_path / "glove.6B.100d.txt"), str(small)]}
    with caplog.at_level("WARNING"):
        embedder = build_embedder(block, ["bank", "river"])
    assert f"glove.6B.100d.txt is absent; using {small}" in caplog.text
    assert embedder.coverage["path"] == str(small) and embedder.source["path"] == str(small.resolve())
    np.testing.assert_array_equal(embedder.embedding.weight[2:].numpy(), [[1, 2], [3, 4]])
    with pytest.raises(ElmoError, match=r"vectors file not found: .*glove\.6B\.100d\.txt$"):
        build_embedder({"type": "glove", "path": [str(tmp_path / "glove.6B.100d.txt"), "nope.txt"]}, ["bank"])

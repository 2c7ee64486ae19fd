"""Character ids follow the reference scheme exactly."""

from __future__ import annotations

import numpy as np
import torch

from elmo_features.chars import batch_to_ids, token_length, token_to_ids


def test_ascii_token():
    ids = token_to_ids("cat")
    assert ids[:5].tolist() == [259, 100, 98, 117, 260]
    assert (ids[5:] == 261).all() and len(ids) == 50


def test_boundary_tokens_and_literal_boundary_strings():
    assert token_to_ids("<S>")[:4].tolist() == [259, 257, 260, 261]
    assert token_to_ids("</S>")[:4].tolist() == [259, 258, 260, 261]
    assert token_to_ids("<s>")[:6].tolist() == [259, 61, 116, 63, 260, 261]  # only the exact string is special


def test_utf8_bytes_cut_to_48_even_mid_character():
    token = "a" + "é" * 30  # 61 bytes
    ids = token_to_ids(token)
    raw = token.encode("utf-8")[:48]
    assert ids[1:49].tolist() == [b + 1 for b in raw]
    assert ids[49] == 260  # end-of-word still present
    assert token_length(token) == 50 and token_length("cat") == 5


def test_batch_to_ids_pads_with_zero_tokens():
    ids = batch_to_ids([["a", "b"], ["c"], []])
    assert ids.shape == (3, 2, 50)
    assert ids[1, 1].eq(0).all() and ids[2].eq(0).all()
    assert torch.equal(ids[0, 1], torch.from_numpy(np.asarray(token_to_ids("b"))))

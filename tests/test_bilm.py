"""biLM behaviour beyond the fixtures: state modes, the token cache, the truncated char CNN."""

from __future__ import annotations

import pytest
import torch

from elmo_features.bilm import BiLM, gate_scale, lstm_cell
from elmo_features.chars import token_length, tokens_to_ids

SENTENCES = [["The", "bank", "raised", "rates", "."], ["He", "sat", "on", "the", "bank"], ["Hi"]]


def load(files, state):
    return BiLM.from_files(*files, state=state)


@pytest.mark.parametrize("state", ["stateless", "warm"])
def test_deterministic_modes_ignore_batch_neighbours_and_history(tiny_files, state):
    bilm = load(tiny_files, state)
    together, _ = bilm(SENTENCES)
    for i, sentence in enumerate(SENTENCES):
        alone, _ = bilm([sentence])
        torch.testing.assert_close(alone[:, 0], together[:, i, : len(sentence)], atol=1e-6, rtol=0)
    again, _ = bilm(SENTENCES)
    torch.testing.assert_close(again, together, atol=0, rtol=0)


def test_warm_start_differs_from_zero_start_but_not_in_layer_zero(tiny_files):
    warm, _ = load(tiny_files, "warm")(SENTENCES)
    zero, _ = load(tiny_files, "stateless")(SENTENCES)
    torch.testing.assert_close(warm[0], zero[0])
    assert (warm[1:] - zero[1:]).abs().max() > 1e-3


def test_stateful_carries_state_per_row_and_resets(tiny_files):
    bilm = load(tiny_files, "stateful")
    first, _ = bilm(SENTENCES)
    second, _ = bilm(SENTENCES)
    assert (first[1:] - second[1:]).abs().max() > 1e-4  # state carried from the first call
    bilm.reset_states()
    torch.testing.assert_close(bilm(SENTENCES)[0], first)
    fresh = load(tiny_files, "stateless")(SENTENCES)[0]
    torch.testing.assert_close(first, fresh, atol=1e-6, rtol=0)  # stateful starts from zero


def test_stateful_empty_row_keeps_its_state(tiny_files):
    a, b = load(tiny_files, "stateful"), load(tiny_files, "stateful")
    a(SENTENCES)
    b(SENTENCES)
    a([[], SENTENCES[1], SENTENCES[2]])  # row 0 skipped: its state must stay
    out_a, _ = a([SENTENCES[0]])
    out_b, _ = b([SENTENCES[0]])
    torch.testing.assert_close(out_a, out_b, atol=1e-6, rtol=0)


def test_output_shapes_boundaries_and_padding(tiny_files):
    bilm = load(tiny_files, "stateless")
    layers, mask = bilm([*SENTENCES, []])
    assert layers.shape == (3, 4, 5, 16) and mask.sum(1).tolist() == [5, 5, 1, 0]
    assert layers[:, 2, 1:].abs().max() == 0  # padding is zero
    torch.testing.assert_close(layers[0, ..., :8], layers[0, ..., 8:])  # layer 0 is [x, x]
    kept, kept_mask = bilm(SENTENCES, keep_boundaries=True)
    assert kept.shape[2] == 7 and kept_mask.sum(1).tolist() == [7, 7, 3]
    inner = mask[:3].unsqueeze(-1)
    torch.testing.assert_close(kept[:, :, 1:6] * inner, layers[:, :3])


def test_token_cache_encodes_each_string_once(tiny_files):
    bilm = load(tiny_files, "stateless")
    bilm(SENTENCES)
    distinct = {t for s in SENTENCES for t in s} | {"<S>", "</S>"}
    assert bilm.token_cache.misses == len(distinct)
    bilm(SENTENCES[::-1])
    assert bilm.token_cache.misses == len(distinct)


def test_token_cache_is_bounded(tiny_files):
    bilm = BiLM.from_files(*tiny_files, state="stateless", cache_size=8)
    cached, _ = bilm([[f"w{i}" for i in range(12)]] * 2)
    assert len(bilm.token_cache) <= 14
    reference, _ = BiLM.from_files(*tiny_files, state="stateless")([[f"w{i}" for i in range(12)]] * 2)
    torch.testing.assert_close(cached, reference)


def test_truncated_char_cnn_equals_the_full_width(tiny_files):
    bilm = load(tiny_files, "stateless")
    tokens = ["a", "bank", "x" * 45, "y" * 60, "<S>", "naïve", "日本語"]
    ids = tokens_to_ids(tokens)
    lengths = torch.tensor([token_length(t) for t in tokens])
    full = bilm.char_cnn(ids)
    for index in ([0, 1], [0, 1, 5, 6], list(range(len(tokens)))):
        torch.testing.assert_close(bilm.char_cnn(ids[index], lengths[index]), full[index], atol=1e-6, rtol=0)


def test_bf16_mode_is_close_to_fp32_and_returns_float32(tiny_files):
    exact = load(tiny_files, "warm")
    approx = load(tiny_files, "warm")
    approx.bf16 = True
    reference, _ = exact(SENTENCES)
    rounded, _ = approx(SENTENCES)
    assert rounded.dtype == torch.float32
    error = (rounded - reference).abs().max().item()
    assert 0 < error < 0.05 * reference.abs().max().item()


def _textbook_cell(pre, c, clip):
    """The LSTM cell as written in bilm-tf: sigmoid gates, tanh candidate and output."""
    i, f, o, j = pre.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(j)
    c = c.clamp(-clip, clip)
    return torch.sigmoid(o) * torch.tanh(c), c


def test_lstm_cell_is_the_textbook_cell_in_values_and_gradients():
    torch.manual_seed(0)
    pre = (3 * torch.randn(2, 5, 4 * 8, dtype=torch.float64)).requires_grad_()
    c0 = torch.randn(2, 5, 8, dtype=torch.float64, requires_grad=True)
    hidden, c = lstm_cell(pre * gate_scale(8).double(), c0, 3.0)
    want_hidden, want_c = _textbook_cell(pre, c0, 3.0)
    torch.testing.assert_close(hidden, want_hidden, atol=1e-12, rtol=0)
    torch.testing.assert_close(c, want_c, atol=1e-12, rtol=0)
    got = torch.autograd.grad((hidden.sum() + c.sum()), (pre, c0))
    want = torch.autograd.grad((want_hidden.sum() + want_c.sum()), (pre, c0))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-12, rtol=0)


def test_lstm_cell_keeps_small_tanh_values_from_bf16_gates():
    """Under bf16 autocast the gates arrive in bf16; 2 sigmoid(2x) - 1 computed in bf16 would flush x = 0.001 to 0."""
    pre = torch.full((1, 1, 4), 0.001)
    _, c = lstm_cell((pre * gate_scale(1)).bfloat16(), torch.zeros(1, 1, 1), None)  # c' = sigmoid(i) tanh(j)
    assert c.dtype == torch.float32
    assert abs(float(c) - 0.5 * 0.001) < 1e-5  # in bf16 throughout: sigmoid(0.002) rounds to 0.5, and c' to 0

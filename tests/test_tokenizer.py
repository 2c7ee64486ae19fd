"""The shared spaCy tokenizer: PTB-style tokens, exact offsets, idempotent on tokenised text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from elmo_features.tokenizer import english, split_sentences, tokenize, tokenize_with_offsets


def test_ptb_clitics_quotes_and_brackets():
    text = "I don't think \"Smith's\" (U.S.) firm can't win."
    assert tokenize(text) == [
        *("I", "do", "n't", "think", '"', "Smith", "'s", '"', "(", "U.S.", ")", "firm", "ca", "n't", "win", ".")
    ]


def test_hyphens_and_slashes_stay_whole_dashes_split():
    # CoNLL-2003 and SST write these as one token; spaCy's default splits them
    assert tokenize("New York-based 6-4 1996-08-28 writer/director") == [
        *("New", "York-based", "6-4", "1996-08-28", "writer/director")
    ]
    assert tokenize("rebels--poll") == ["rebels", "--", "poll"]


def test_curly_quotes_become_straight_and_offsets_stay_exact():
    text = "She didn\u2019t say \u201cyes\u201d.\n\nIt\u2019s  over"
    tokens = tokenize_with_offsets(text)
    assert [t for t, _, _ in tokens] == ["She", "did", "n't", "say", '"', "yes", '"', ".", "It", "'s", "over"]
    straight = text.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    assert all(straight[start:end] == token for token, start, end in tokens)  # one character for one


def test_tokenised_text_comes_back_unchanged():
    for tokens in (["I", "'m", "sure", "you", "'ve", "seen", "it"], ["He", "said", "``", "no", "''", "."]):
        assert tokenize(" ".join(tokens)) == tokens


def test_sentences_and_one_shared_pipeline():
    assert english() is english()
    docs = list(split_sentences([("It rained. We left early!", 1), ("   ", 2), ("One more", 3)], batch_size=2))
    assert docs == [([["It", "rained", "."], ["We", "left", "early", "!"]], 1), ([], 2), ([["One", "more"]], 3)]


def test_spacy_loads_lazily():
    code = "import sys, elmo_features.tokenizer, tasks.qa.reader, tasks.cli; assert 'spacy' not in sys.modules"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)

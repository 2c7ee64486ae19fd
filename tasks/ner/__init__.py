"""Named-entity recognition: CoNLL reader, BiLSTM-CRF tagger, span F1."""

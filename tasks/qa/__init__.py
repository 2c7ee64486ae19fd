"""Span question answering on SQuAD v1.1: reader, official EM/F1, BiDAF head, trainer glue."""

"""Sentiment classification: SST PTB-tree and ``label<TAB>text`` TSV readers."""

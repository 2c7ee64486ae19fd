"""Part-of-speech tagging: a softmax over each token's vectors (the CoNLL-2003 POS column)."""

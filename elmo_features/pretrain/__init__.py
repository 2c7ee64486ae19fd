"""biLM language-model pretraining in PyTorch, exported in the official ELMo format.

One job per module: :mod:`.sizes` (named architectures), :mod:`.vocab` (the word
vocabulary), :mod:`.corpus` (streamed sentences and batches), :mod:`.softmax`
(sampled and full softmax), :mod:`.lm` (the trainable biLM), :mod:`.export`
(official HDF5 + options JSON in and out), :mod:`.train` (the training loop).
"""

"""Whole process, the reference side of `elmo-tasks embed --all`: allennlp 2.10.1 `_ElmoBiLm` over a file of
sentences (one per line, tokens split on spaces), batch 32, 2 threads, stateless, every layer of every
sentence written to HDF5 without <S> and </S>. allennlp 2.x has no `elmo` command any more; this is the
shortest script with its public module. Timed from outside, start-up included:

    /usr/bin/time -f '%e s %M KB' python proc_allennlp.py OPTIONS WEIGHTS SENTENCES.txt OUT.hdf5
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)) + '/stubs')
import allennlp_env  # noqa: F401,E402  (stubs heavy deps that _ElmoBiLm does not use)
import h5py  # noqa: E402
import torch  # noqa: E402
from allennlp.modules.elmo import _ElmoBiLm, batch_to_ids  # noqa: E402

torch.set_num_threads(2)
options, weights, source, target = sys.argv[1:5]
bilm = _ElmoBiLm(options, weights, requires_grad=False).eval()
with open(source, encoding='utf-8') as handle:
    sentences = [line.split() for line in handle if line.strip()]
with torch.no_grad(), h5py.File(target, 'w') as out:
    for start in range(0, len(sentences), 32):
        batch = sentences[start:start + 32]
        bilm._elmo_lstm._states = None  # stateless, as `embed --state stateless`
        activations = torch.stack([a[:, 1:-1] for a in bilm(batch_to_ids(batch))['activations']], 1)
        for i, sentence in enumerate(batch):
            out[str(start + i)] = activations[i, :, :len(sentence)].numpy()

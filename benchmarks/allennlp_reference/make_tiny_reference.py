"""The committed allennlp 2.10.1 reference of a tiny biLM (``tests/reference/allennlp-tiny``).

Two steps, each in its own environment (see README.md beside this file for the allennlp one):

  python benchmarks/allennlp_reference/make_tiny_reference.py export tests/reference/allennlp-tiny
      (the project's venv) a tiny BidirectionalLM with every weight and bias random, written by
      ``elmo_features.pretrain.export`` in the official layout, plus the test sentences
  python make_tiny_reference.py outputs tests/reference/allennlp-tiny
      (the allennlp venv) allennlp's ``_ElmoBiLm`` run on those files, zero start state, all
      layers with their <S>/</S> positions -> allennlp_outputs.npz

The biases are random (not bilm-tf's zeros), so a wrong gate order or a forget bias added
twice or never changes the outputs; the tests compare the project's loader and the trainable
biLM's own forward with allennlp's numbers.
"""
import json
import os
import sys

SENTENCES = [
    ["The", "bank", "raised", "rates", "."],
    ["She", "sat", "on", "the", "river", "bank", "and", "read", "."],
    ["Hi"],
    ["Zürich", "'s", "U.S.", "office", "doesn't", "open", "until", "9:30", "."],
]
OPTIONS = {
    "char_cnn": {
        "activation": "relu",
        "embedding": {"dim": 4},
        "filters": [[1, 4], [2, 4], [3, 8]],
        "n_highway": 1,
        "n_characters": 262,
        "max_characters_per_token": 50,
    },
    "lstm": {
        "cell_clip": 3,
        "proj_clip": 3,
        "dim": 12,
        "projection_dim": 6,
        "n_layers": 2,
        "use_skip_connections": True,
    },
}


def export(out):
    import torch

    from elmo_features.options import BiLMOptions
    from elmo_features.pretrain.export import export as write_official
    from elmo_features.pretrain.lm import BidirectionalLM

    torch.manual_seed(20261130)
    model = BidirectionalLM(BiLMOptions.from_dict(OPTIONS), vocab_size=8, num_sampled=4)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "bias" in name:
                param.normal_(0.0, 0.5)
    write_official(model, out)
    with open(os.path.join(out, "sentences.json"), "w", encoding="utf-8") as handle:
        json.dump(SENTENCES, handle, ensure_ascii=False)


def outputs(out):
    sys.path.insert(0, "/tmp/allennlp_baseline/stubs")
    import allennlp_env  # noqa: F401  (stubs heavy deps that _ElmoBiLm does not use)
    import numpy as np
    import torch
    from allennlp.modules.elmo import _ElmoBiLm, batch_to_ids

    bilm = _ElmoBiLm(os.path.join(out, "options.json"), os.path.join(out, "weights.hdf5"), requires_grad=False)
    bilm.eval()
    with open(os.path.join(out, "sentences.json"), encoding="utf-8") as handle:
        sentences = json.load(handle)
    with torch.no_grad():
        bilm._elmo_lstm._states = None  # zero start state
        result = bilm(batch_to_ids(sentences))
    layers = torch.stack(result["activations"], 1)  # (B, 3, T+2, 2P)
    arrays = {str(i): layers[i, :, : len(s) + 2].numpy() for i, s in enumerate(sentences)}
    np.savez_compressed(os.path.join(out, "allennlp_outputs.npz"), **arrays)


if __name__ == "__main__":
    {"export": export, "outputs": outputs}[sys.argv[1]](sys.argv[2])

"""Random weights for the official 2x4096_512_2048cnn_2xhighway ELMo, in the bilm-tf HDF5 layout."""
import json, os, h5py, numpy as np
D = os.path.dirname(os.path.abspath(__file__)) + '/'  # where the scripts live (README: /tmp/allennlp_baseline)
options = {"lstm": {"use_skip_connections": True, "projection_dim": 512, "cell_clip": 3, "proj_clip": 3,
                    "dim": 4096, "n_layers": 2},
           "char_cnn": {"activation": "relu",
                        "filters": [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]],
                        "n_highway": 2, "embedding": {"dim": 16}, "n_characters": 262,
                        "max_characters_per_token": 50}}
json.dump(options, open(D + 'original_options.json', 'w'))
rng = np.random.default_rng(0)
def mat(*shape):  # fan_in = product of all dims except the last (TF (in, out) layout)
    return (rng.standard_normal(shape) * (1.0 / np.sqrt(np.prod(shape[:-1])))).astype(np.float32)
def vec(n):
    return (rng.standard_normal(n) * 0.1).astype(np.float32)
with h5py.File(D + 'original_weights.hdf5', 'w') as f:
    f['char_embed'] = mat(261, 16)
    for i, (w, c) in enumerate(options['char_cnn']['filters']):
        f[f'CNN/W_cnn_{i}'] = mat(1, w, 16, c)
        f[f'CNN/b_cnn_{i}'] = vec(c)
    for k in range(2):
        f[f'CNN_high_{k}/W_carry'] = mat(2048, 2048)
        f[f'CNN_high_{k}/b_carry'] = vec(2048)
        f[f'CNN_high_{k}/W_transform'] = mat(2048, 2048)
        f[f'CNN_high_{k}/b_transform'] = vec(2048)
    f['CNN_proj/W_proj'] = mat(2048, 512)
    f['CNN_proj/b_proj'] = vec(512)
    for d in range(2):
        for k in range(2):
            p = f'RNN_{d}/RNN/MultiRNNCell/Cell{k}/LSTMCell/'
            f[p + 'W_0'] = mat(1024, 16384)
            f[p + 'B'] = vec(16384)
            f[p + 'W_P_0'] = mat(4096, 512)
print('written')

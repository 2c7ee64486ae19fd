"""Throughput benchmark of allennlp 2.10.1 _ElmoBiLm (reference baseline).

Usage:
  python bench_allennlp.py run ARCH BATCH [N_SENT]   # one configuration, prints a JSON line
  python bench_allennlp.py all                       # every configuration, each in a fresh process -> results.json
  python bench_allennlp.py outputs                   # original-size outputs for the first 8 sentences
Protocol: CoNLL-2003 train sentences with 20..30 tokens (inclusive), file order, first 1600;
torch.set_num_threads(2), eval, no_grad, fp32; batches in file order; batch_to_ids included in the timing;
LSTM state reset (stateless) before every batch; one untimed warm-up batch (the first), then all batches timed;
tokens/s = tokens (without <S>/</S>) / seconds; peak RSS = ru_maxrss at the end of the process.
"""
import sys, os, json, time, resource, subprocess
D = os.path.dirname(os.path.abspath(__file__)) + '/'  # where the scripts live (README: /tmp/allennlp_baseline)
SHARED = os.environ.get('ELMO_SHARED') or sys.exit('set ELMO_SHARED to the shared folder (holding data/ and fixtures/)')
sys.path.insert(0, D + 'stubs')
import allennlp_env  # noqa: F401  (stubs heavy deps that _ElmoBiLm does not use)

TRAIN = SHARED + '/data/conll2003/train.txt'
ARCHS = {
    'small': (SHARED + '/fixtures/elmo-small-random/small_random_options.json',
              SHARED + '/fixtures/elmo-small-random/small_random_weights.hdf5'),
    'original': (D + 'original_options.json', D + 'original_weights.hdf5'),
}
THREADS = 2


def load_sentences(n=1600, lo=20, hi=30):
    sents, cur = [], []
    with open(TRAIN, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line:
                if cur:
                    if lo <= len(cur) <= hi:
                        sents.append(cur)
                    cur = []
                continue
            cur.append(line.split(' ')[0])
    if cur and lo <= len(cur) <= hi:
        sents.append(cur)
    return sents[:n]


def build(arch):
    import torch
    from allennlp.modules.elmo import _ElmoBiLm
    torch.set_num_threads(THREADS)
    opt, w = ARCHS[arch]
    bilm = _ElmoBiLm(opt, w, requires_grad=False)
    bilm.eval()
    return bilm


def run(arch, batch, n_sent):
    import torch
    from allennlp.modules.elmo import batch_to_ids
    bilm = build(arch)
    sents = load_sentences()[:n_sent]
    batches = [sents[i:i + batch] for i in range(0, len(sents), batch)]
    with torch.no_grad():
        bilm._elmo_lstm._states = None
        bilm(batch_to_ids(batches[0]))  # warm-up, untimed
        t0 = time.perf_counter()
        for b in batches:
            bilm._elmo_lstm._states = None
            bilm(batch_to_ids(b))
        secs = time.perf_counter() - t0
    tokens = sum(len(s) for s in sents)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return dict(arch=arch, batch=batch, sentences=len(sents), tokens=tokens, seconds=round(secs, 3),
                tokens_per_s=round(tokens / secs, 1), peak_rss_mb=round(rss, 1),
                torch_threads=torch.get_num_threads(), torch_version=torch.__version__)


def outputs(n=8):
    import torch, h5py
    from allennlp.modules.elmo import batch_to_ids
    bilm = build('original')
    sents = load_sentences()[:n]
    json.dump(sents, open(D + 'original_sentences.json', 'w'))
    with torch.no_grad(), h5py.File(D + 'original_outputs.hdf5', 'w') as f:
        for i, s in enumerate(sents):
            bilm._elmo_lstm._states = None
            out = bilm(batch_to_ids([s]))
            acts = torch.cat([a[:, 1:-1] for a in out['activations']], 0)  # (3, T, 1024)
            f[str(i)] = acts.numpy()
    print('wrote', n, 'sentences')


def cpu_model():
    for line in subprocess.run(['lscpu'], capture_output=True, text=True).stdout.splitlines():
        if line.startswith('Model name'):
            return line.split(':', 1)[1].strip()


def all_configs():
    results = []
    for arch, n_sent in (('small', 1600), ('original', int(os.environ.get('ORIG_N', 1600)))):
        for batch in (32, 64):
            p = subprocess.run([sys.executable, __file__, 'run', arch, str(batch), str(n_sent)],
                               capture_output=True, text=True)
            if p.returncode != 0:
                print(p.stderr, file=sys.stderr)
                raise SystemExit(1)
            r = json.loads(p.stdout.strip().splitlines()[-1])
            print(r, flush=True)
            results.append(r)
    info = dict(cpu_model=cpu_model(), nproc=os.cpu_count(), torch_threads=THREADS,
                implementation='allennlp 2.10.1 allennlp.modules.elmo._ElmoBiLm', results=results)
    json.dump(info, open(D + 'results.json', 'w'), indent=2)


if __name__ == '__main__':
    cmd = sys.argv[1]
    if cmd == 'run':
        print(json.dumps(run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 1600)))
    elif cmd == 'all':
        all_configs()
    elif cmd == 'outputs':
        outputs()

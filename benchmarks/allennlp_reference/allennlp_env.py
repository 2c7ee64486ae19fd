"""Import this before allennlp: stubs heavy deps that _ElmoBiLm does not use."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _autostub
STUBBED = ['fairscale', 'torchvision', 'huggingface_hub', 'lmdb', 'cached_path', 'transformers', 'spacy']
_autostub.install(STUBBED)

# cached_path is stubbed; give it a real local-file implementation (all our files are local).
import cached_path as _cp
def _local_cached_path(url_or_filename, *a, **k):
    p = os.fspath(url_or_filename)
    if not os.path.exists(p):
        raise FileNotFoundError(p)
    return p
_cp.cached_path = _local_cached_path

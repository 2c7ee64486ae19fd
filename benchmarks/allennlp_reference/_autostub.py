"""Generic auto-stub for heavy optional deps that allennlp imports at module level
but that _ElmoBiLm never uses. Any attribute is a permissive dummy class."""
import sys, types, importlib.abc, importlib.machinery

class _Meta(type):
    def __getattr__(cls, name):
        if name.startswith('__') and name.endswith('__'):
            raise AttributeError(name)
        return _Dummy
    def __getitem__(cls, item):
        return cls
    def __or__(cls, other):
        return cls
    def __ror__(cls, other):
        return cls

class _Dummy(metaclass=_Meta):
    def __init__(self, *a, **k):
        pass
    def __call__(self, *a, **k):
        return _Dummy()
    def __getattr__(self, name):
        return _Dummy()

class StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith('__') and name.endswith('__'):
            raise AttributeError(name)
        return _Dummy

class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots):
        self.roots = set(roots)
    def find_spec(self, fullname, path, target=None):
        if fullname.split('.')[0] in self.roots:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None
    def create_module(self, spec):
        m = StubModule(spec.name)
        m.__path__ = []
        m.__version__ = '0.0.0-stub'
        return m
    def exec_module(self, module):
        pass

def install(roots):
    sys.meta_path.insert(0, _Finder(roots))

"""bfloat16 loops, registered as soon as ``ml_dtypes`` is imported, without importing it ourselves.

Importing ml_dtypes takes over a second (its extension module registers its types and casts), so
``import crossentropy`` must not do it.  No bfloat16 array can exist before ml_dtypes is imported, so the
loops are registered right then: at our import when ml_dtypes is already loaded, otherwise by a one-shot
import hook that watches for the name ``ml_dtypes`` and runs after the module has executed.
"""

import importlib.abc
import sys
import threading
import warnings

_lock = threading.Lock()


def _register():
    from crossentropy import _gufuncs

    try:
        _gufuncs.register_bfloat16()
    except Exception as exc:  # noqa: BLE001 -- never break the user's import of ml_dtypes
        warnings.warn(
            f"crossentropy: bfloat16 loops not registered ({type(exc).__name__}: {exc})", RuntimeWarning, stacklevel=2
        )


def _drop_hook():
    with _lock:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _MLDtypesHook)]


class _LoaderThenRegister(importlib.abc.Loader):
    """Wraps ml_dtypes' own loader: executes the module, then registers the loops."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _drop_hook()
        _register()

    def __getattr__(self, name):  # resource readers and the like: the real loader's
        return getattr(self._loader, name)


class _MLDtypesHook(importlib.abc.MetaPathFinder):
    """A meta path finder that only answers for ``ml_dtypes``, by asking the finders after it."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "ml_dtypes":
            return None
        for finder in sys.meta_path:
            if finder is self or isinstance(finder, _MLDtypesHook) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _LoaderThenRegister(spec.loader)
                return spec
        return None


def install():
    """Register the bfloat16 loops now if ml_dtypes is loaded, else when it is imported."""
    if sys.modules.get("ml_dtypes") is not None:
        _register()
        return
    with _lock:
        if not any(isinstance(f, _MLDtypesHook) for f in sys.meta_path):
            sys.meta_path.insert(0, _MLDtypesHook())

"""The examples in the docstrings run as doctests: every public module of the package, one test per module.

To cover a new module add its name to MODULES; a module whose optional dependency is missing is skipped."""

import doctest
import importlib
import warnings

import numpy as np
import pytest

MODULES = (
    "crossentropy",
    "crossentropy._diagnostics",
    "crossentropy._config",
    "crossentropy.keras",
    "crossentropy.keras.losses",
    "crossentropy.torch",
    "crossentropy.tf",
    "crossentropy.io",
    "crossentropy.io.numpy_files",
    "crossentropy.cli",
    "crossentropy.metrics",
    "crossentropy.keras.metrics",
    "crossentropy.io.columns",
    "crossentropy.io.arrow",
    "crossentropy.lm",
    "crossentropy.lm.stats",
    "crossentropy.lm.loss",
    "crossentropy.lm.linear",
    "crossentropy.sklearn",
    "crossentropy.optax",
)
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # an optional dependency of that module is missing
        pytest.skip(f"{name} does not import: {exc}")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    tests = finder.find(module, name)
    printed = np.get_printoptions()
    try:
        np.set_printoptions(legacy=False, precision=6, suppress=False, linewidth=75)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # examples show values; warnings are tested elsewhere
            for test in tests:
                runner.run(test)
    finally:
        np.set_printoptions(**printed)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name} (output above)"


def test_public_functions_and_classes_have_examples():
    """Every public function and class of the framework layers documents Parameters, Returns and Examples
    (classes: Parameters and Examples; their __call__ documents Returns)."""
    missing = []
    for name in ("crossentropy.keras", "crossentropy.torch", "crossentropy.tf"):
        module = importlib.import_module(name)
        for attr in module.__all__:
            obj = getattr(module, attr)
            doc = obj.__doc__ or ""
            needed = ("Parameters", "Examples") + (() if isinstance(obj, type) else ("Returns",))
            missing += [f"{name}.{attr}: {section}" for section in needed if section not in doc]
    assert not missing, missing

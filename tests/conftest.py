import os

# Keras 3 reads its backend at import: the numpy backend gives Keras' values without a framework runtime.
os.environ.setdefault("KERAS_BACKEND", "numpy")

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _fp_errors_raise():
    """Valid inputs must not raise NumPy floating-point warnings: every test runs with all of them raising."""
    with np.errstate(all="raise"):
        yield


def pytest_runtest_setup(item):
    """Tests marked ``slow`` (fuzzing campaigns, leak soaks, wheel builds) run only when the ``-m`` expression
    asks for them, e.g. ``python -m pytest -m slow tests/test_fuzz.py``; a plain ``pytest tests`` skips them."""
    if item.get_closest_marker("slow") is not None:
        expr = item.config.getoption("markexpr") or ""
        if "slow" not in expr or "not slow" in expr:
            pytest.skip("slow: select with -m slow (see docs/hardening.md)")


# Hypothesis draws the same examples on every run (CI included): a failure reproduces, and a green run stays green.
try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # hypothesis is a test extra; modules that use it import it themselves
    pass
else:
    _hypothesis_settings.register_profile("crossentropy", derandomize=True, deadline=None, print_blob=True)
    _hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "crossentropy"))

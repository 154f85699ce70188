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

"""Timing and peak memory of crossentropy.sklearn.log_loss and the crossentropy.optax losses.

A module missing in a given commit makes setup raise NotImplementedError (asv skips the benchmark).
Side-by-side ratios against scikit-learn and optax themselves: benchmarks/compare_ecosystem.py.
"""

import numpy as np


def _module(name):
    try:
        import importlib

        return importlib.import_module(f"crossentropy.{name}")
    except ImportError as exc:
        raise NotImplementedError(f"crossentropy.{name} unavailable: {exc}") from exc


class SklearnLogLoss:
    """crossentropy.sklearn.log_loss on normalised probabilities with integer labels."""

    params = [["1000000x10", "100000x1000"], ["float32", "float64"]]
    param_names = ["shape", "dtype"]
    timeout = 600

    def setup(self, shape, dtype):
        self.log_loss = _module("sklearn").log_loss
        n, c = (int(v) for v in shape.split("x"))
        rng = np.random.default_rng(0)
        self.p = rng.random((n, c), dtype=np.dtype(dtype).type)
        self.p /= self.p.sum(axis=1, keepdims=True)
        self.y = rng.integers(0, c, n)
        self.y[:c] = np.arange(c)

    def time_log_loss(self, shape, dtype):
        self.log_loss(self.y, self.p)

    def peakmem_log_loss(self, shape, dtype):
        self.log_loss(self.y, self.p)


class OptaxLosses:
    """The six crossentropy.optax losses at 65536 x 1000 float32, value and value + gradient."""

    params = [
        [
            "softmax_cross_entropy",
            "softmax_cross_entropy_with_integer_labels",
            "safe_softmax_cross_entropy",
            "sigmoid_binary_cross_entropy",
            "sigmoid_focal_loss",
            "poly_loss_cross_entropy",
        ],
        [False, True],
    ]
    param_names = ["loss", "return_grad"]
    timeout = 600

    def setup(self, loss, return_grad):
        self.fn = getattr(_module("optax"), loss)
        rng = np.random.default_rng(1)
        self.x = (rng.normal(size=(65536, 1000)) * 3).astype(np.float32)
        if loss.endswith("integer_labels"):
            self.t = rng.integers(0, 1000, 65536)
        else:
            self.t = rng.random((65536, 1000), dtype=np.float32)
            self.t /= self.t.sum(axis=1, keepdims=True)

    def time_loss(self, loss, return_grad):
        with np.errstate(all="ignore"):
            self.fn(self.x, self.t, return_grad=return_grad)

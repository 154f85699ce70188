"""Shared parameters and data for the asv suite.

Shapes: the issue's workloads plus smaller variants of each.  The largest input is 2048x50257 or
512x128256 in float64 (about 0.8 / 0.5 GB; with the gradient output about 1.6 GB), so a full run
stays within a few GB.  ``CROSSENTROPY_BENCH_SHAPES`` narrows the shape grid for quick runs:

* ``small`` -- only the small variants (each input at most ~32 MB in float64);
* ``large`` -- only the issue's workloads;
* a comma list such as ``32x10,4096x1000`` -- exactly those shapes.

Threads: 1, 2 and ``os.cpu_count()`` (deduplicated), set with ``crossentropy.set_num_threads`` in
``setup``.  Layout: ``C`` = C-contiguous (N, C) reduced over the last axis; ``T`` = the same logical
problem stored as (C, N) and reduced with ``axis=0`` (each row is strided).
"""

import os

import numpy as np

import crossentropy as ce

LARGE_SHAPES = ["65536x1000", "2048x50257", "512x128256", "2000000x10", "32x10"]
SMALL_SHAPES = ["4096x1000", "128x50257", "32x128256", "100000x10"]


def _shape_grid():
    sel = os.environ.get("CROSSENTROPY_BENCH_SHAPES", "").strip().lower()
    if sel == "small":
        return SMALL_SHAPES + ["32x10"]
    if sel == "large":
        return list(LARGE_SHAPES)
    if sel:
        return [s.strip() for s in sel.split(",") if s.strip()]
    return LARGE_SHAPES + SMALL_SHAPES


SHAPES = _shape_grid()
DTYPES = ["float32", "float64"]
THREADS = sorted({1, 2, os.cpu_count() or 1})
LAYOUTS = ["C", "T"]

# Elementwise sigmoid: the 16M elements plus a small variant.
# Follows CROSSENTROPY_BENCH_SHAPES: "large" keeps 16M only, any other selection 100k only.
_SEL = os.environ.get("CROSSENTROPY_BENCH_SHAPES", "").strip().lower()
SIGMOID_SIZES = {"": [16_000_000, 100_000], "large": [16_000_000]}.get(_SEL, [100_000])


def parse_shape(shape):
    n, c = shape.lower().split("x")
    return int(n), int(c)


def logits(shape, dtype, layout, seed=0):
    """Logits for the logical (N, C) problem and the axis to reduce over.

    ``layout == "T"`` returns a C-contiguous (C, N) array: reduce with ``axis=0``.
    Generated directly in the target dtype (no float64 temporary), so setup's peak RSS is the array.
    """
    n, c = parse_shape(shape)
    rng = np.random.default_rng(seed)
    if layout == "C":
        return rng.standard_normal((n, c), dtype=np.dtype(dtype)), -1
    if layout == "T":
        return rng.standard_normal((c, n), dtype=np.dtype(dtype)), 0
    raise ValueError(f"unknown layout {layout!r}")


def sparse_labels(shape, seed=1):
    n, c = parse_shape(shape)
    return np.random.default_rng(seed).integers(0, c, n, dtype=np.int64)


def dense_labels(shape, dtype, layout, seed=1):
    """One-hot label matrix in the same layout as ``logits``."""
    n, c = parse_shape(shape)
    idx = sparse_labels(shape, seed)
    if layout == "C":
        y = np.zeros((n, c), dtype=dtype)
        y[np.arange(n), idx] = 1
    else:
        y = np.zeros((c, n), dtype=dtype)
        y[idx, np.arange(n)] = 1
    return y


class ThreadsMixin:
    """Sets crossentropy's thread count in setup and restores it in teardown."""

    def _set_threads(self, threads):
        self._old_threads = ce.get_num_threads()
        ce.set_num_threads(int(threads))

    def teardown(self, *params):
        old = getattr(self, "_old_threads", None)
        if old is not None:
            ce.set_num_threads(old)

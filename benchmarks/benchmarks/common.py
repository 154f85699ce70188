"""Shared parameters and data for the asv suite.

Shapes: the issue's workloads plus smaller variants of each.  The largest input is 2048x50257 or
512x128256 in float64 (about 0.8 / 0.5 GB; with the gradient output about 1.6 GB), so a full run
stays within a few GB.  ``CROSSENTROPY_BENCH_SHAPES`` narrows the shape grid for quick runs:

* ``small`` -- only the small variants (each input at most ~32 MB in float64);
* ``large`` -- only the issue's workloads;
* a comma list such as ``32x10,4096x1000`` -- exactly those shapes.

Threads: 1, 2 and ``os.cpu_count()`` (deduplicated), set with ``crossentropy.set_num_threads`` in
``setup``.  Layout: ``C`` = C-contiguous (N, C) reduced over the last axis; ``T`` = the same logical
problem stored as (C, N) and reduced with ``axis=0`` (each row is strided, rows adjacent); ``S`` (row
families only) = every other column of an (N, 2C) array (classes strided, rows apart; twice the memory).
"""

import importlib.util
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
# half-precision logits next to float32 (bench_half, bench_memory); bfloat16 needs ml_dtypes
HALF_DTYPES = ["float32", "float16"] + (["bfloat16"] if importlib.util.find_spec("ml_dtypes") else [])
THREADS = sorted({1, 2, os.cpu_count() or 1})
LAYOUTS = ["C", "T"]
ROW_LAYOUTS = [*LAYOUTS, "S"]

# Elementwise sigmoid: the 16M elements plus a small variant.
# Follows CROSSENTROPY_BENCH_SHAPES: "large" keeps 16M only, any other selection 100k only.
_SEL = os.environ.get("CROSSENTROPY_BENCH_SHAPES", "").strip().lower()
SIGMOID_SIZES = {"": [16_000_000, 100_000], "large": [16_000_000]}.get(_SEL, [100_000])


def parse_shape(shape):
    n, c = shape.lower().split("x")
    return int(n), int(c)


def as_dtype(name):
    """The NumPy dtype of a parameter string ("bfloat16" is ml_dtypes')."""
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def _standard_normal(rng, shape, dtype):
    """Normal samples in ``dtype``; half types are filled from float32 blocks (no full-size temporary)."""
    if dtype.itemsize >= 4:
        return rng.standard_normal(shape, dtype=dtype)
    out = np.empty(shape, dtype)
    step = max(1, (1 << 20) // max(1, shape[1]))
    for i in range(0, shape[0], step):
        out[i : i + step] = rng.standard_normal((min(step, shape[0] - i), shape[1]), dtype=np.float32)
    return out


def logits(shape, dtype, layout, seed=0):
    """Logits for the logical (N, C) problem and the axis to reduce over.

    ``layout == "T"`` returns a C-contiguous (C, N) array: reduce with ``axis=0``; ``"S"`` every other column
    of an (N, 2C) array.  Generated directly in the target dtype (no float64 temporary), so setup's peak RSS
    is the array.
    """
    n, c = parse_shape(shape)
    rng = np.random.default_rng(seed)
    if layout == "C":
        return _standard_normal(rng, (n, c), as_dtype(dtype)), -1
    if layout == "T":
        return _standard_normal(rng, (c, n), as_dtype(dtype)), 0
    if layout == "S":
        return _standard_normal(rng, (n, 2 * c), as_dtype(dtype))[:, ::2], -1
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
    elif layout == "S":
        y = np.zeros((n, 2 * c), dtype=dtype)[:, ::2]
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

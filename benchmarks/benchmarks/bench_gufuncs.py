"""Timing of every registered gufunc (crossentropy._registry), one asv class per family.

Each family's class is parametrized by the names of the family's kernels, so a kernel added to the registry
is benchmarked without touching this file.  Outputs are allocated by each call (as users call the
functions); the ``*_out`` variants reuse preallocated outputs to separate the kernel from first-touch page
faults of fresh output memory.
"""

import numpy as np

from crossentropy import _registry

from .common import (
    DTYPES,
    LAYOUTS,
    ROW_LAYOUTS,
    SHAPES,
    SIGMOID_SIZES,
    THREADS,
    ThreadsMixin,
    dense_labels,
    logits,
    sparse_labels,
)


def _row_inputs(kernel, shape, dtype, layout):
    """(args, axis) for a row kernel: logits in ``layout`` and the family's labels."""
    x, axis = logits(shape, dtype, layout)
    if kernel.family == "dense":
        return (x, dense_labels(shape, dtype, layout)), axis
    if kernel.family == "sparse":
        return (x, sparse_labels(shape)), axis
    return (x,), axis


def _elementwise_inputs(size, dtype, layout):
    """Logits and 0/1 labels; layout C: 1-D contiguous, T: a transposed 2-D view."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(size, dtype=np.dtype(dtype))
    z = (rng.random(size, dtype=np.dtype(dtype)) < 0.5).astype(dtype)
    if layout == "T":
        side = int(round(size**0.5))
        x = x[: side * side].reshape(side, side).T
        z = z[: side * side].reshape(side, side).T
    return x, z


def _outputs(kernel, args, axis):
    res = kernel.ufunc(*args, axis=axis) if axis is not None else kernel.ufunc(*args)
    res = res if kernel.with_grad else (res,)
    return tuple(np.ones_like(r) for r in res)  # touched: their pages are resident


def _names(family):
    return [k.name for k in _registry.kernels(family)]


class _RowFamily(ThreadsMixin):
    """Setup shared by the row families; the subclasses' ``time_<family>*`` methods carry the family in their
    name, so ``asv run --bench time_sparse`` selects one."""

    param_names = ["kernel", "shape", "dtype", "threads", "layout"]
    timeout = 600
    warmup_time = 0.05
    repeat = (1, 7, 10.0)

    def setup(self, name, shape, dtype, threads, layout):
        self._set_threads(threads)
        self.k = _registry.KERNELS[name]
        self.args, self.axis = _row_inputs(self.k, shape, dtype, layout)
        self.out = _outputs(self.k, self.args, self.axis)

    def _call(self):
        self.k.ufunc(*self.args, axis=self.axis)

    def _call_out(self):
        self.k.ufunc(*self.args, axis=self.axis, out=self.out)


class Transform(_RowFamily):
    """logsumexp, softmax, log_softmax and any other registered transform."""

    params = [_names("transform"), SHAPES, DTYPES, THREADS, ROW_LAYOUTS]

    def time_transform(self, *params):
        self._call()

    def time_transform_out(self, *params):
        self._call_out()


class Dense(_RowFamily):
    """Dense-label softmax cross-entropy, forward and fused loss+grad."""

    params = [_names("dense"), SHAPES, DTYPES, THREADS, ROW_LAYOUTS]

    def time_dense(self, *params):
        self._call()

    def time_dense_out(self, *params):
        self._call_out()


class Sparse(_RowFamily):
    """Integer-label softmax cross-entropy, forward and fused loss+grad (int64 and int32 labels)."""

    params = [_names("sparse"), SHAPES, DTYPES, THREADS, ROW_LAYOUTS]

    def setup(self, name, shape, dtype, threads, layout):
        super().setup(name, shape, dtype, threads, layout)
        self.y32 = self.args[1].astype(np.int32)

    def time_sparse(self, *params):
        self._call()

    def time_sparse_int32(self, *params):
        self.k.ufunc(self.args[0], self.y32, axis=self.axis)

    def time_sparse_out(self, *params):
        self._call_out()


class Elementwise(ThreadsMixin):
    """The element-wise gufuncs (sigmoid cross-entropy and its fused loss+grad)."""

    params = [[k.name for k in _registry.kernels("elementwise")], SIGMOID_SIZES, DTYPES, THREADS, LAYOUTS]
    param_names = ["kernel", "size", "dtype", "threads", "layout"]
    timeout = 300
    warmup_time = 0.05
    repeat = (1, 7, 10.0)

    def setup(self, name, size, dtype, threads, layout):
        self._set_threads(threads)
        self.k = _registry.KERNELS[name]
        self.args = _elementwise_inputs(size, dtype, layout)

    def time_elementwise(self, name, size, dtype, threads, layout):
        self.k.ufunc(*self.args)

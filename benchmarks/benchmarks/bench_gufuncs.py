"""Timing of every gufunc family: row reductions, sparse/dense forward, fused loss+grad, sigmoid.

Outputs are allocated by each call (as users call the functions); the ``*_out`` variants reuse
preallocated outputs to separate the kernel from first-touch page faults of fresh output memory.
"""
import numpy as np

import crossentropy as ce

from .common import (DTYPES, LAYOUTS, SHAPES, SIGMOID_SIZES, THREADS, ThreadsMixin, dense_labels,
                     logits, sparse_labels)

_GRID = dict(params=[SHAPES, DTYPES, THREADS, LAYOUTS],
             param_names=["shape", "dtype", "threads", "layout"])


class _Base(ThreadsMixin):
    params = _GRID["params"]
    param_names = _GRID["param_names"]
    timeout = 600
    warmup_time = 0.05
    repeat = (1, 7, 10.0)


class RowReductions(_Base):
    """logsumexp, softmax, log_softmax."""

    def setup(self, shape, dtype, threads, layout):
        self._set_threads(threads)
        self.x, self.axis = logits(shape, dtype, layout)

    def time_logsumexp(self, shape, dtype, threads, layout):
        ce.logsumexp(self.x, axis=self.axis)

    def time_softmax(self, shape, dtype, threads, layout):
        ce.softmax(self.x, axis=self.axis)

    def time_log_softmax(self, shape, dtype, threads, layout):
        ce.log_softmax(self.x, axis=self.axis)


class Sparse(_Base):
    """sparse_softmax_cross_entropy and its fused loss+grad (integer labels)."""

    def setup(self, shape, dtype, threads, layout):
        self._set_threads(threads)
        self.x, self.axis = logits(shape, dtype, layout)
        self.y = sparse_labels(shape)
        self.y32 = self.y.astype(np.int32)

    def time_sparse_forward(self, shape, dtype, threads, layout):
        ce.sparse_softmax_cross_entropy(self.x, self.y, axis=self.axis)

    def time_sparse_forward_int32(self, shape, dtype, threads, layout):
        ce.sparse_softmax_cross_entropy(self.x, self.y32, axis=self.axis)

    def time_sparse_loss_grad(self, shape, dtype, threads, layout):
        ce.sparse_softmax_cross_entropy_and_grad(self.x, self.y, axis=self.axis)


class SparseOut(_Base):
    """Fused sparse loss+grad into preallocated outputs (no page faults on the gradient)."""

    def setup(self, shape, dtype, threads, layout):
        self._set_threads(threads)
        self.x, self.axis = logits(shape, dtype, layout)
        self.y = sparse_labels(shape)
        self.loss = np.empty(self.y.shape, dtype=self.x.dtype)
        self.grad = np.ones_like(self.x)          # touched: its pages are resident

    def time_sparse_loss_grad_out(self, shape, dtype, threads, layout):
        ce.sparse_softmax_cross_entropy_and_grad(self.x, self.y, axis=self.axis,
                                                 out=(self.loss, self.grad))


class Dense(_Base):
    """softmax_cross_entropy and its fused loss+grad (label matrix, same layout as the logits)."""

    def setup(self, shape, dtype, threads, layout):
        self._set_threads(threads)
        self.x, self.axis = logits(shape, dtype, layout)
        self.y = dense_labels(shape, dtype, layout)

    def time_dense_forward(self, shape, dtype, threads, layout):
        ce.softmax_cross_entropy(self.x, self.y, axis=self.axis)

    def time_dense_loss_grad(self, shape, dtype, threads, layout):
        ce.softmax_cross_entropy_and_grad(self.x, self.y, axis=self.axis)


class Sigmoid(ThreadsMixin):
    """Elementwise sigmoid cross-entropy.  Layout C: 1-D contiguous; T: a transposed 2-D view."""

    params = [SIGMOID_SIZES, DTYPES, THREADS, LAYOUTS]
    param_names = ["size", "dtype", "threads", "layout"]
    timeout = 300
    warmup_time = 0.05
    repeat = (1, 7, 10.0)

    def setup(self, size, dtype, threads, layout):
        self._set_threads(threads)
        rng = np.random.default_rng(0)
        x = rng.standard_normal(size, dtype=np.dtype(dtype))
        z = (rng.random(size, dtype=np.dtype(dtype)) < 0.5).astype(dtype)
        if layout == "T":
            side = int(round(size ** 0.5))
            x = x[: side * side].reshape(side, side).T
            z = z[: side * side].reshape(side, side).T
        self.x, self.z = x, z

    def time_sigmoid_forward(self, size, dtype, threads, layout):
        ce.sigmoid_cross_entropy(self.x, self.z)

    def time_sigmoid_loss_grad(self, size, dtype, threads, layout):
        ce.sigmoid_cross_entropy_and_grad(self.x, self.z)

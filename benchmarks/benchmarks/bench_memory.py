"""Memory: a call needs its inputs and its outputs, nothing proportional to N x C beyond them.

* ``peakmem_*`` (asv: peak RSS of the benchmark process, setup included).  Compare each with
  ``peakmem_inputs_only`` (setup alone): the difference should be the outputs -- N x C itemsize for
  a gradient or softmax, N x itemsize for a per-sample loss -- and nothing more.
* ``track_extra_mb_*``: measured inside the process (Linux): reset the peak-RSS counter
  (``/proc/self/clear_refs``), note the resident size, call, read the peak; report
  ``peak growth - output bytes`` in MB (free heap memory is first returned to the OS with glibc's
  ``malloc_trim`` so that reused memory cannot hide an allocation).  ~0 means no hidden N x C temporary
  (a temporary copy of the logits would show as the input size).
"""

import gc
import os
import re

import numpy as np

import crossentropy as ce

from .common import DTYPES, HALF_DTYPES, SHAPES, dense_labels, logits, sparse_labels

MB = 1024.0 * 1024.0


def _status_kb(key):
    with open("/proc/self/status") as f:
        m = re.search(key + r":\s+(\d+)\s+kB", f.read())
    return int(m.group(1)) * 1024


def _malloc_trim():
    """Give free heap memory back to the OS (glibc), so a new allocation shows up as RSS growth."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _peak_growth(fn):
    """(peak RSS during fn() - RSS before, result) in bytes; Linux only."""
    gc.collect()
    _malloc_trim()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = _status_kb("VmRSS")
    result = fn()
    peak = _status_kb("VmHWM")
    return peak - before, result


def _nbytes(result):
    if isinstance(result, tuple):
        return sum(r.nbytes for r in result)
    return result.nbytes


class _Base:
    params = [SHAPES, DTYPES]
    param_names = ["shape", "dtype"]
    timeout = 300

    def setup(self, shape, dtype):
        # all threads: per-thread scratch must stay O(C), not O(N x C)
        ce.set_num_threads(os.cpu_count() or 1)
        self.x, self.axis = logits(shape, dtype, "C")
        self.y = sparse_labels(shape)


class PeakMemory(_Base):
    def peakmem_inputs_only(self, shape, dtype):
        pass

    def peakmem_sparse_forward(self, shape, dtype):
        ce.sparse_softmax_cross_entropy(self.x, self.y)

    def peakmem_sparse_loss_grad(self, shape, dtype):
        ce.sparse_softmax_cross_entropy_and_grad(self.x, self.y)

    def peakmem_softmax(self, shape, dtype):
        ce.softmax(self.x)

    def peakmem_logsumexp(self, shape, dtype):
        ce.logsumexp(self.x)


class HalfPeakMemory(PeakMemory):
    """Half logits next to float32: the peak is the input plus the outputs (float32 losses, half gradients and
    softmax), no float32 copy of the input."""

    params = [SHAPES, HALF_DTYPES]


class ExtraMemory(_Base):
    """Peak memory of a call beyond its outputs, in MB (expected ~0 at every shape)."""

    unit = "MB"

    def setup(self, shape, dtype):
        if not os.path.exists("/proc/self/clear_refs"):
            raise NotImplementedError("needs Linux /proc/self/clear_refs")
        super().setup(shape, dtype)

    def _extra(self, fn):
        growth, result = _peak_growth(fn)
        return (growth - _nbytes(result)) / MB

    def track_extra_mb_sparse_forward(self, shape, dtype):
        return self._extra(lambda: ce.sparse_softmax_cross_entropy(self.x, self.y))

    def track_extra_mb_sparse_loss_grad(self, shape, dtype):
        return self._extra(lambda: ce.sparse_softmax_cross_entropy_and_grad(self.x, self.y))

    def track_extra_mb_sparse_loss_grad_transposed(self, shape, dtype):
        xt = np.ascontiguousarray(self.x.T)  # (C, N), reduced over axis 0
        del self.x
        return self._extra(lambda: ce.sparse_softmax_cross_entropy_and_grad(xt, self.y, axis=0))

    def track_extra_mb_softmax(self, shape, dtype):
        return self._extra(lambda: ce.softmax(self.x))

    def track_extra_mb_dense_loss_grad(self, shape, dtype):
        y = dense_labels(shape, dtype, "C")
        return self._extra(lambda: ce.softmax_cross_entropy_and_grad(self.x, y))

    def track_extra_mb_sigmoid_loss_grad(self, shape, dtype):
        z = (self.x > 0).astype(self.x.dtype)
        return self._extra(lambda: ce.sigmoid_cross_entropy_and_grad(self.x, z))

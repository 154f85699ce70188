"""float16 / bfloat16 logits next to float32: the sparse cross-entropy forward and fused loss+grad, and logsumexp.

Half inputs are read directly (converted in registers, float32 arithmetic), so they move half the bytes of
float32; compare each half time with the float32 one at the same shape and thread count.  Peak memory of
the same calls is in bench_memory (``HalfPeakMemory``).
"""

import crossentropy as ce

from .common import HALF_DTYPES, SHAPES, THREADS, ThreadsMixin, logits, sparse_labels


class _HalfLogits(ThreadsMixin):
    params = [SHAPES, HALF_DTYPES, THREADS]
    param_names = ["shape", "dtype", "threads"]
    timeout = 300

    def setup(self, shape, dtype, threads):
        self.x, _ = logits(shape, dtype, "C")
        self._set_threads(threads)


class HalfSparse(_HalfLogits):
    def setup(self, shape, dtype, threads):
        super().setup(shape, dtype, threads)
        self.y = sparse_labels(shape)

    def time_sparse_forward(self, *params):
        ce.sparse_softmax_cross_entropy(self.x, self.y)

    def time_sparse_loss_grad(self, *params):
        ce.sparse_softmax_cross_entropy_and_grad(self.x, self.y)


class HalfLogsumexp(_HalfLogits):
    def time_logsumexp(self, *params):
        ce.logsumexp(self.x)

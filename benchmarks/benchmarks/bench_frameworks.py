"""Timing of the framework layers: crossentropy.keras and crossentropy.torch.

These modules may be missing or incomplete in a given commit: setup raises NotImplementedError
(asv marks the benchmark skipped) instead of breaking the suite.  Keras classes compute in float32
(Keras floatx), so only float32 is measured; C-contiguous layout only.
"""

import numpy as np

from .common import SHAPES, THREADS, ThreadsMixin, logits, parse_shape, sparse_labels


def _keras_cce():
    try:
        from crossentropy import keras as ce_keras

        return ce_keras.CategoricalCrossentropy
    except (ImportError, AttributeError) as exc:
        raise NotImplementedError(f"crossentropy.keras.CategoricalCrossentropy unavailable: {exc}") from exc


def _torch_cross_entropy():
    try:
        from crossentropy import torch as ce_torch

        return ce_torch.cross_entropy
    except (ImportError, AttributeError) as exc:
        raise NotImplementedError(f"crossentropy.torch.cross_entropy unavailable: {exc}") from exc


class _Base(ThreadsMixin):
    params = [SHAPES, THREADS]
    param_names = ["shape", "threads"]
    timeout = 600
    warmup_time = 0.05
    repeat = (1, 7, 10.0)


class KerasCategoricalCrossentropy(_Base):
    """crossentropy.keras.CategoricalCrossentropy(from_logits=True) on one-hot y_true."""

    def setup(self, shape, threads):
        cls = _keras_cce()
        self._set_threads(threads)
        self.loss = cls(from_logits=True)
        self.y_pred, _ = logits(shape, "float32", "C")
        n, c = parse_shape(shape)
        self.y_true = np.zeros((n, c), dtype=np.float32)
        self.y_true[np.arange(n), sparse_labels(shape)] = 1

    def time_keras_cce(self, shape, threads):
        self.loss(self.y_true, self.y_pred)

    def time_keras_cce_grad(self, shape, threads):
        self.loss(self.y_true, self.y_pred, return_grad=True)


class KerasCategoricalCrossentropyProbs(KerasCategoricalCrossentropy):
    """crossentropy.keras.CategoricalCrossentropy() (Keras' default: probabilities) on one-hot y_true."""

    def setup(self, shape, threads):
        super().setup(shape, threads)
        import crossentropy

        self.loss = _keras_cce()()
        self.y_pred = crossentropy.softmax(self.y_pred)


class TorchCrossEntropy(_Base):
    """crossentropy.torch.cross_entropy(input, int64 target), reduction none / mean."""

    def setup(self, shape, threads):
        self.fn = _torch_cross_entropy()
        self._set_threads(threads)
        self.x, _ = logits(shape, "float32", "C")
        self.t = sparse_labels(shape)

    def time_torch_ce_none(self, shape, threads):
        self.fn(self.x, self.t, reduction="none")

    def time_torch_ce_mean(self, shape, threads):
        self.fn(self.x, self.t, reduction="mean")

    def time_torch_ce_none_grad(self, shape, threads):
        self.fn(self.x, self.t, reduction="none", return_grad=True)

    def time_torch_ce_mean_grad(self, shape, threads):
        self.fn(self.x, self.t, reduction="mean", return_grad=True)

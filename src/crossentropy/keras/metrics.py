"""Keras 3 metrics ``CategoricalCrossentropy``, ``SparseCategoricalCrossentropy`` and ``BinaryCrossentropy``.

As in ``keras.metrics`` (Keras 3.15): each is a ``MeanMetricWrapper`` over the loss function of the same name
(here the fused-kernel functions of :mod:`crossentropy.keras.losses`), with two running totals, ``total`` and
``count``, kept in the metric's dtype (float32 by default).  ``update_state`` adds the batch's (weighted) sum of
per-sample losses to ``total`` and the number of samples (or the sum of the sample weights) to ``count``;
``result()`` is ``total / count`` (0 when ``count`` is 0, Keras' ``divide_no_nan``).

Reproduced from Keras, including where it surprises:

* ``SparseCategoricalCrossentropy(ignore_class=k)``: ignored positions add 0 to ``total`` but still count in
  ``count`` (the metric, unlike the loss class, loses the loss function's mask);
* losses with more than one sample axis (e.g. (B, T) from (B, T, C) predictions) are averaged over the
  trailing axes per sample, so each of the B rows counts once; sample weights follow Keras'
  ``reduce_to_samplewise_values`` (rank matching, broadcasting, weights averaged over trailing axes);
* running totals in float32: after many batches the value carries float32 rounding, as in Keras.
  (For exact streaming accumulation use :mod:`crossentropy.metrics`.)

Differences: a batch's sum is formed in float64, then rounded to the metric dtype before it is added (XLA sums a
batch in float32 in an order of its own; the two agree to float32 rounding); float64 inputs are evaluated in
float64 (Keras' JAX backend without x64 evaluates them in float32).
"""

import numpy as np

from crossentropy.keras import losses as _losses

__all__ = ["CategoricalCrossentropy", "SparseCategoricalCrossentropy", "BinaryCrossentropy"]


def _metric_dtype(dtype):
    if dtype is None:
        return np.dtype(np.float32)
    dtype = getattr(dtype, "variable_dtype", dtype)  # a Keras DTypePolicy
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind != "f":
        raise ValueError(f"dtype must be None or a float dtype such as 'float32' or 'float64', got {dtype!r}")
    return dt


def _squeeze_or_expand(values, sw):
    """Keras' squeeze_or_expand_to_same_rank(values, sample_weight) with expand_rank_1=True."""
    if values.ndim == sw.ndim + 1 and values.shape[-1] == 1:
        if sw.ndim == 1:
            sw = sw[..., np.newaxis]
        else:
            values = values[..., 0]
    if sw.ndim == values.ndim + 1 and sw.shape[-1] == 1:
        if values.ndim == 1:
            values = values[..., np.newaxis]
        else:
            sw = sw[..., 0]
    return values, sw


class _MeanMetricWrapper:
    """Keras' MeanMetricWrapper over a loss function: float totals ``total`` and ``count`` in ``dtype``."""

    _fn = None

    def __init__(self, name, dtype, **fn_kwargs):
        self.name = name
        self._dtype = _metric_dtype(dtype)
        self._fn_kwargs = fn_kwargs
        self.reset_state()

    @property
    def dtype(self):
        """The dtype of the running totals and of the result, as a string (Keras' ``Metric.dtype``)."""
        return self._dtype.name

    def reset_state(self):
        """Set ``total`` and ``count`` to 0."""
        self.total = self._dtype.type(0)
        self.count = self._dtype.type(0)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add a batch: its per-sample losses to ``total``, its sample count (or weight sum) to ``count``.

        Parameters
        ----------
        y_true : array_like
            Targets, as the loss function of the same name takes them.
        y_pred : array_like
            Predictions.
        sample_weight : array_like, optional
            Weights; Keras' rank matching and broadcasting apply.

        Returns
        -------
        None
        """
        values = np.asarray(type(self)._fn(y_true, y_pred, **self._fn_kwargs))
        values = values.astype(self._dtype, copy=False)
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=self._dtype)
            values, sw = _squeeze_or_expand(values, sw)
            if values.ndim > sw.ndim:
                values = np.mean(values, axis=tuple(range(sw.ndim, values.ndim)), dtype=np.float64).astype(self._dtype)
            try:
                sw = np.broadcast_to(sw, values.shape)
            except ValueError:
                raise ValueError(
                    f"sample_weight of shape {np.shape(sample_weight)} does not broadcast to the "
                    f"per-sample losses of shape {values.shape}"
                ) from None
            values = values * sw
            if sw.ndim > 1:
                sw = np.mean(sw, axis=tuple(range(1, sw.ndim)), dtype=np.float64).astype(self._dtype)
        if values.ndim > 1:
            values = np.mean(values, axis=tuple(range(1, values.ndim)), dtype=np.float64).astype(self._dtype)
        batch_total = self._dtype.type(np.sum(values, dtype=np.float64))
        if sample_weight is not None:
            n = self._dtype.type(np.sum(sw, dtype=np.float64))
        else:
            n = self._dtype.type(values.shape[0] if values.ndim >= 1 else 1)
        self.total = self._dtype.type(self.total + batch_total)
        self.count = self._dtype.type(self.count + n)

    def result(self):
        """``total / count`` in the metric's dtype; 0 when ``count`` is 0 (Keras' ``divide_no_nan``)."""
        if self.count == 0:
            return self._dtype.type(0)
        return self._dtype.type(self.total / self.count)

    def __call__(self, *args, **kwargs):
        """``update_state(*args, **kwargs)``, then ``result()``, as a Keras metric's ``__call__``."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        """The constructor arguments, as Keras' ``get_config()`` gives them."""
        return {"name": self.name, "dtype": self.dtype, **{k: getattr(self, k) for k in self._config_keys}}

    @classmethod
    def from_config(cls, config):
        """A new metric from ``get_config()``'s dictionary."""
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class CategoricalCrossentropy(_MeanMetricWrapper):
    """Keras' ``keras.metrics.CategoricalCrossentropy``: running mean of categorical cross-entropy.

    Parameters
    ----------
    name : str
    dtype : str or None
        Dtype of the running totals (default float32).
    from_logits : bool
    label_smoothing : float
    axis : int

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy.keras.metrics import CategoricalCrossentropy
    >>> m = CategoricalCrossentropy()
    >>> m.update_state([[0, 1, 0], [0, 0, 1]], np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]], np.float32))
    >>> print(f"{m.result():.6f}")
    1.176939
    """

    _fn = staticmethod(_losses.categorical_crossentropy)
    _config_keys = ("from_logits", "label_smoothing", "axis")

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0, axis=-1):
        super().__init__(name, dtype, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


class SparseCategoricalCrossentropy(_MeanMetricWrapper):
    """Keras' ``keras.metrics.SparseCategoricalCrossentropy``: running mean over integer labels.

    ``ignore_class`` positions add 0 to the total and still count in the denominator, as in Keras.

    Parameters
    ----------
    name : str
    dtype : str or None
    from_logits : bool
    ignore_class : int or None
    axis : int

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy.keras.metrics import SparseCategoricalCrossentropy
    >>> m = SparseCategoricalCrossentropy()
    >>> m.update_state([1, 2], np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]], np.float32),
    ...                sample_weight=np.array([0.3, 0.7]))
    >>> print(f"{m.result():.6f}")
    1.627198
    """

    _fn = staticmethod(_losses.sparse_categorical_crossentropy)
    _config_keys = ("from_logits", "ignore_class", "axis")

    def __init__(
        self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, ignore_class=None, axis=-1
    ):
        super().__init__(name, dtype, from_logits=from_logits, ignore_class=ignore_class, axis=axis)
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis


class BinaryCrossentropy(_MeanMetricWrapper):
    """Keras' ``keras.metrics.BinaryCrossentropy``: running mean of binary cross-entropy (mean over the last axis).

    Parameters
    ----------
    name : str
    dtype : str or None
    from_logits : bool
    label_smoothing : float

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy.keras.metrics import BinaryCrossentropy
    >>> m = BinaryCrossentropy()
    >>> m.update_state([[0, 1], [0, 0]], np.array([[0.6, 0.4], [0.4, 0.6]], np.float32))
    >>> print(f"{m.result():.6f}")
    0.814924
    """

    _fn = staticmethod(_losses.binary_crossentropy)
    _config_keys = ("from_logits", "label_smoothing")

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0):
        super().__init__(name, dtype, from_logits=from_logits, label_smoothing=label_smoothing)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing

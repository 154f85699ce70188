"""TensorFlow semantics on NumPy arrays: the ``tf.nn`` cross-entropy ops, without TensorFlow.

``softmax_cross_entropy_with_logits``, ``sparse_softmax_cross_entropy_with_logits``,
``sigmoid_cross_entropy_with_logits`` and ``weighted_cross_entropy_with_logits`` take the arguments of their
``tf.nn`` namesakes and return per-example (per-element for the sigmoid ops) losses.  ``return_grad=True``
returns ``(value, grad)`` with ``grad`` = d sum(value) / d logits exactly as ``tf.GradientTape`` gives it,
computed in the same kernel pass as the value.  float32 logits give float32 results, float64 give float64
(float16 is computed in float32 and cast back, as TF does).

Reproduced TensorFlow behaviour:
* ``softmax_cross_entropy_with_logits``: labels are not normalised, and the gradient is what TF's op returns,
  softmax - labels, even where the labels do not sum to 1 (the true derivative would be
  softmax * sum(labels) - labels: use the top-level ``softmax_cross_entropy_and_grad`` for that).  Labels are
  cast to the logits' dtype and broadcast to their shape; ``axis`` picks the class axis.
* ``sparse_softmax_cross_entropy_with_logits``: labels must be int32 or int64; a label outside [0, C) raises
  (TF raises InvalidArgumentError on CPU; here IndexError naming ``labels``).
* ``sigmoid_cross_entropy_with_logits``: max(x, 0) - x z + log1p(exp(-|x|)), so x = +inf gives NaN and
  x = -inf gives +inf (NaN for z = 0); the grad is sigmoid(x) - z everywhere.
* ``weighted_cross_entropy_with_logits``: (1 - z) x + (1 + (q - 1) z) (log1p(exp(-|x|)) + relu(-x)), so
  x = -inf gives NaN for every z; at x = 0 the grad is TF's 1 - z (its abs and relu have subgradient 0 there),
  not the true derivative.
* As in TF, the sigmoid ops need labels (and an array pos_weight) of the logits' dtype.  Bad shapes and values
  give ValueError and bad dtypes TypeError, each message naming the argument.

Differences from TensorFlow (deliberate):
* ``softmax_cross_entropy_with_logits``: a label of 0 on a -inf logit adds 0 to the loss, the finite
  mathematically right value; TF computes 0 * inf = NaN there.  The gradient (finite) is the same.
* Array-likes without a dtype (lists, Python numbers) take the logits' dtype.
"""

import numpy as np

from crossentropy import _validate
from crossentropy._rows import run_rows

__all__ = [
    "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits",
    "sigmoid_cross_entropy_with_logits",
    "weighted_cross_entropy_with_logits",
]


def _same_dtype_as_logits(a, name, x, user_dtype):
    """``a`` in the compute dtype; like TF, an array of another dtype is an error (lists are converted)."""
    return _validate.like_input(a, name, x, same_dtype=(user_dtype, "the logits'", "TensorFlow does not cast it"))


def _softmax_rows(x, return_grad, axis=-1, **operands):
    """Per-row softmax cross-entropy over ``axis`` in one fused pass: (loss, grad or None, bad-label count)."""
    loss, grad, counts = run_rows("softmax", x, axis=axis, return_grad=return_grad, **operands)
    return loss, grad, counts.get("bad_label", 0)


_result = _validate.as_result


def _with_class_axis(logits):
    x, user_dtype = _validate.float_input(logits, "logits")
    if x.ndim == 0:
        raise ValueError(f"logits cannot be a scalar; they need a class axis, got {x!r}")
    return x, user_dtype


def softmax_cross_entropy_with_logits(labels, logits, axis=-1, *, return_grad=False):
    """``tf.nn.softmax_cross_entropy_with_logits``: ``sum_c labels_c (logsumexp(logits) - logits_c)`` along ``axis``.

    Parameters
    ----------
    labels : array_like
        Class probabilities (not normalised), broadcast to the logits' shape and cast to their dtype.
    logits : array_like
        Unscaled log-probabilities, float32 or float64 (float16 computes in float32).
    axis : int, default -1
        The class axis.
    return_grad : bool, default False
        Also return the gradient with respect to ``logits`` as ``tf.GradientTape`` gives it.

    Returns
    -------
    loss : ndarray or numpy scalar
        One loss per row: the logits' shape without the class axis, in the logits' dtype.
    grad : ndarray
        Only with ``return_grad=True``: the logits' shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import tf as TF
    >>> logits = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
    >>> labels = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    >>> np.round(TF.softmax_cross_entropy_with_logits(labels, logits), 6)
    array([0.241311, 1.051445])
    >>> loss, grad = TF.softmax_cross_entropy_with_logits(labels, logits, return_grad=True)
    >>> np.round(grad, 4)  # TF's softmax(logits) - labels
    array([[-0.2144,  0.1753,  0.0391],
           [ 0.2119,  0.0761, -0.2881]])
    """
    x, user_dtype = _with_class_axis(logits)
    axis = _validate.axis_index(axis, x.ndim)
    t = _validate.float_array(labels, "labels", x.dtype)  # TF casts the labels to the logits' dtype
    try:
        t = np.broadcast_to(t, x.shape)  # stride-0 view, no copy
    except ValueError:
        raise ValueError(
            f"labels of shape {t.shape} and logits of shape {x.shape} must be broadcastable to the logits' shape"
        ) from None
    loss, grad, _ = _softmax_rows(x, return_grad, axis, t=t, tf_op_grad=True)
    return _result(loss, grad, user_dtype)


def sparse_softmax_cross_entropy_with_logits(labels, logits, *, return_grad=False):
    """``tf.nn.sparse_softmax_cross_entropy_with_logits``: ``logsumexp(logits) - logits[label]`` over the last axis.

    Parameters
    ----------
    labels : array_like
        int32 or int64 class indices, the logits' shape without the last axis; a label outside [0, C) raises
        IndexError.
    logits : array_like
        Unscaled log-probabilities (..., C), float32 or float64 (float16 computes in float32).
    return_grad : bool, default False
        Also return the gradient with respect to ``logits`` as ``tf.GradientTape`` gives it.

    Returns
    -------
    loss : ndarray or numpy scalar
        One loss per row: the logits' shape without the class axis, in the logits' dtype.
    grad : ndarray
        Only with ``return_grad=True``: the logits' shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import tf as TF
    >>> logits = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
    >>> np.round(TF.sparse_softmax_cross_entropy_with_logits(np.array([0, 1]), logits), 6)
    array([0.241311, 0.551445])
    """
    x, user_dtype = _with_class_axis(logits)
    y = np.asarray(labels)
    if y.dtype.kind != "i" or y.dtype.itemsize not in (4, 8):
        raise TypeError(f"labels must be int32 or int64 class indices, got dtype {y.dtype}")
    if y.shape != x.shape[:-1]:
        raise ValueError(
            f"labels must have the logits' shape without the class axis, {x.shape[:-1]} "
            f"(rank {x.ndim - 1}), got shape {y.shape} (rank {y.ndim})"
        )
    y = _validate.int_labels(y, "labels")
    loss, grad, bad = _softmax_rows(x, return_grad, labels=y)
    if bad:  # TF raises on CPU; the kernel only flagged the rows
        _validate.check_labels_in_range(y, x.shape[-1], "labels")
    return _result(loss, grad, user_dtype)


def _elementwise(labels, logits, return_grad, mode, pos_weight=None):
    """Element-wise binary cross-entropy of the sigmoid ops in one kernel pass."""
    x, user_dtype = _validate.float_input(logits, "logits")
    z = _same_dtype_as_logits(labels, "labels", x, user_dtype)
    if z.shape != x.shape:
        raise ValueError(f"logits and labels must have the same shape, got {x.shape} and {z.shape}")
    pw = None
    if pos_weight is not None:
        pw = _validate.broadcast_to_shape(
            _same_dtype_as_logits(pos_weight, "pos_weight", x, user_dtype), "pos_weight", x.shape, "the logits'"
        )
    loss, grad, _ = run_rows(
        "binary", x, t=z, elementwise={"pos_weight": pw}, per_element_loss=True, return_grad=return_grad, mode=mode
    )
    return _result(loss, grad, user_dtype)


def sigmoid_cross_entropy_with_logits(labels, logits, *, return_grad=False):
    """``tf.nn.sigmoid_cross_entropy_with_logits``: ``max(x, 0) - x z + log1p(exp(-|x|))``, element-wise.

    Parameters
    ----------
    labels : array_like
        Targets ``z`` in [0, 1], the logits' shape and dtype.
    logits : array_like
        Logits ``x``, float32 or float64 (float16 computes in float32).
    return_grad : bool, default False
        Also return the gradient with respect to ``logits`` as ``tf.GradientTape`` gives it.

    Returns
    -------
    loss : ndarray or numpy scalar
        Element-wise losses of the logits' shape and dtype.
    grad : ndarray
        Only with ``return_grad=True``: the logits' shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import tf as TF
    >>> x = np.array([2.0, -1.0, 0.5])
    >>> loss, grad = TF.sigmoid_cross_entropy_with_logits(np.array([1.0, 0.0, 1.0]), x, return_grad=True)
    >>> np.round(loss, 6)
    array([0.126928, 0.313262, 0.474077])
    >>> np.round(grad, 4)  # sigmoid(x) - z
    array([-0.1192,  0.2689, -0.3775])
    """
    return _elementwise(labels, logits, return_grad, "logits_tf")


def weighted_cross_entropy_with_logits(labels, logits, pos_weight, *, return_grad=False):
    """``tf.nn.weighted_cross_entropy_with_logits``: sigmoid cross-entropy with the positive term weighted.

    Parameters
    ----------
    labels : array_like
        Targets ``z`` in [0, 1], the logits' shape and dtype.
    logits : array_like
        Logits ``x``, float32 or float64 (float16 computes in float32).
    pos_weight : float or array_like
        Weight ``q`` of the positive term, broadcast to the logits' shape: the loss is
        ``(1 - z) x + (1 + (q - 1) z) (log1p(exp(-|x|)) + relu(-x))``.
    return_grad : bool, default False
        Also return the gradient with respect to ``logits`` as ``tf.GradientTape`` gives it.

    Returns
    -------
    loss : ndarray or numpy scalar
        Element-wise losses of the logits' shape and dtype.
    grad : ndarray
        Only with ``return_grad=True``: the logits' shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import tf as TF
    >>> x = np.array([2.0, -1.0, 0.5])
    >>> np.round(TF.weighted_cross_entropy_with_logits(np.array([1.0, 0.0, 1.0]), x, 2.0), 6)
    array([0.253856, 0.313262, 0.948154])
    """
    return _elementwise(labels, logits, return_grad, "logits_tf_weighted", pos_weight=pos_weight)

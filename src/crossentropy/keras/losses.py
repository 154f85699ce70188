"""Keras 3 semantics for the cross-entropy losses (``keras.losses``), on the fused kernels.

Functions ``categorical_crossentropy``, ``sparse_categorical_crossentropy``, ``binary_crossentropy``,
``categorical_focal_crossentropy`` and ``binary_focal_crossentropy`` take Keras' arguments and defaults and
return the per-sample losses; the classes of the same names (``CategoricalCrossentropy``, ...) add Keras'
sample weights, masks and reductions.  Every one accepts ``return_grad=True`` and then returns
``(value, grad)``, ``grad`` = d sum(value) / d y_pred as JAX autodiff of the Keras code gives it (same shape
and dtype as ``y_pred``), computed in the same kernel pass as the value: reductions, sample weights and
masks reach the kernel as one weight per sample, never as an N x C array.

Dtypes: functions compute in ``y_pred``'s dtype when it is float32 or float64 and in Keras' floatx
(float32) otherwise; ``y_true`` is cast to that dtype, as Keras does.  Classes compute in their ``dtype``
(default float32), whatever the inputs, and return the gradient in the dtype of the ``y_pred`` given.

Keras behaviour reproduced (Keras 3.15, JAX backend; the golden tests pin each of these):

* probabilities (``from_logits=False``) are divided by their sum along ``axis``, then clipped to
  [1e-7, 1 - 1e-7]; the gradient is zero where the clip is active and half of the unclipped one where a
  value equals a bound exactly (``jnp.clip`` is max/min, which split ties);
* ``label_smoothing``: categorical targets become ``t (1 - ls) + ls / K`` with K the LAST dimension of
  ``y_true`` even when ``axis`` is another one; binary targets ``t (1 - ls) + ls / 2``;
* ``binary_crossentropy(from_logits=True)`` is the exact log-sigmoid form of the JAX backend (Keras' NumPy
  backend clips ``sigmoid(x)`` instead), so a +-inf logit with a smoothed target gives +inf, not NaN;
  binary losses are means along ``axis``, and a NaN prediction makes only its own gradient entry NaN;
* categorical focal: softmax first when ``from_logits``, then the rescale and clip above; the modulating
  factor ``(1 - p)**gamma`` uses the clipped probabilities.  Binary focal: ``p_t`` uses the unclipped ones;
* ``ignore_class``: ignored entries give 0 and a zero gradient, and the classes turn them into a mask:
  ``sum_over_batch_size``/``mean`` divide by the number of valid entries, ``sum`` and
  ``mean_with_sample_weight`` use 0/1 weights; all entries ignored gives 0;
* reductions: ``mean_with_sample_weight`` divides by the sum of the weights as given (a scalar weight 0.7
  divides by 0.7, a (B, 1) weight by the sum of its B entries); a zero divisor gives 0 (``divide_no_nan``);
  0-d and (0,)-shaped losses are returned unreduced; ``y_true``/``y_pred`` and the weights go through
  Keras' ``squeeze_or_expand_to_same_rank`` (so a (B,) weight against (B, T) losses raises, unless B == T,
  where it broadcasts along T as in Keras);
* ``categorical_crossentropy`` and the focal variant warn (``SyntaxWarning``) when ``y_pred.shape[-1]`` is 1;
  ``SparseCategoricalCrossentropy.get_config()`` has no ``axis``, as in Keras.

Differences from Keras (deliberate; tests pin our behaviour):

* a zero target on a ``-inf`` logit adds 0 to the loss (Keras: 0 * -inf = NaN for the whole row); the
  gradients agree;
* sparse labels outside [0, C) that are not ``ignore_class`` raise IndexError (Keras' JAX backend turns
  them into an all-zero one-hot row and returns 0, its NumPy backend raises IndexError);
  non-integer float labels raise ValueError (Keras truncates them to int32);
* sparse labels with ``axis`` other than -1 must have ``y_pred``'s shape without the class axis (Keras
  compares them against ``y_pred.shape[:-1]`` and raises otherwise, although it then indexes them the way
  we do);
* ``categorical_focal_crossentropy`` needs ``y_true`` and ``y_pred`` of the same shape (Keras broadcasts);
  a per-class ``alpha`` (a sequence) needs the class axis last (Keras broadcasts it against the last axis);
* float64 binary losses are averaged in float64 (Keras' JAX ``ops.mean`` averages float64 in float32, so
  its values and gradients carry float32 rounding);
* binary focal with ``gamma < 1`` at a prediction exactly equal to its hard label (``1 - p_t == 0``): Keras'
  gradient is NaN there (0 * inf in the power's derivative); ours is 0 for ``gamma == 0`` (the focal factor
  is constant 1) and the one-sided infinite derivative for ``0 < gamma < 1``;
* float16/bfloat16 and integer inputs are computed in float32, and a class ``dtype`` must be float32 or
  float64 (or a policy computing in one); ``name=None`` gives the snake-case class name without Keras'
  global uniquifying counter; Keras masks attached to tensors do not exist for NumPy
  arrays; a Python scalar ``y_true`` is accepted by the sparse loss (Keras needs an array).

Diagnostics: with ``from_logits=False`` a ``crossentropy.ProbabilityWarning`` reports rows that do not sum
to 1 (categorical losses rescale them) or hold values outside [0, 1] (probably logits), from flags the
kernel sets while computing the loss.
"""

import warnings

import numpy as np

from crossentropy import _kernels, _validate
from crossentropy._diagnostics import warn_probabilities
from crossentropy._rows import run_rows

__all__ = [
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "categorical_focal_crossentropy",
    "binary_focal_crossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "BinaryCrossentropy",
    "CategoricalFocalCrossentropy",
    "BinaryFocalCrossentropy",
]

_EPSILON = 1e-7  # keras.backend.epsilon()
_FLOATX = np.dtype(np.float32)  # keras.backend.floatx()
_REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")
# JAX differentiates jnp.clip as max/min, which pass half the gradient where the value equals the bound
_CLIP_TIE_GRAD = 0.5
# When the warnings below are raised, the user's call is this many frames up (warn <- helper <- loss <- user)
_WARN_STACKLEVEL = 4


# ---- inputs ---------------------------------------------------------------------------------------------
def _pred_array(y_pred, dtype):
    """y_pred in the compute dtype: the given one, else float32/float64 kept and anything else floatx."""
    if dtype is None:
        dtype = np.asarray(y_pred).dtype
        # a big-endian float64 is still float64 (float_array makes it native); half types are read as they are
        keep = (dtype.kind == "f" and dtype.itemsize in (4, 8)) or _validate.is_half(dtype)
        dtype = dtype.newbyteorder("=") if keep else _FLOATX
    return _validate.float_array(y_pred, "y_pred", dtype)


def _in_pred_dtype(pred_dtype, loss, grad, return_grad):
    """A function's result: half y_pred gives losses in its dtype (computed in float32, rounded once).
    Callers run the evaluation themselves, so that a probability warning points at their caller."""
    if _validate.is_half(pred_dtype):
        with np.errstate(over="ignore", under="ignore"):
            loss = loss.astype(pred_dtype)
    return _result(loss, grad, return_grad)


def _axis(axis, ndim):
    if isinstance(axis, bool):  # Keras rejects bools explicitly; operator.index would take them
        raise ValueError(f"axis must be an integer, got {axis!r}")
    return _validate.axis_index(axis, ndim)


def _dense_inputs(y_true, y_pred, axis, dtype):
    """(y_true, y_pred, axis index) for the losses whose y_true has y_pred's shape."""
    x = _pred_array(y_pred, dtype)
    t = _validate.float_array(y_true, "y_true", x.dtype)
    _validate.same_shape(t, x, "y_true", "y_pred")
    if x.ndim < 1:
        raise ValueError(f"y_true and y_pred must have at least one dimension (the classes), got shape {x.shape}")
    ax = _axis(axis, x.ndim)
    if x.shape[ax] == 0:
        raise ValueError(f"y_pred has no entries along axis {axis} (shape {x.shape})")
    return t, x, ax


def _warn_single_class(x, fname):
    if x.shape[-1] == 1:  # Keras' own warning, same category
        warnings.warn(
            f"In loss {fname}, expected y_pred.shape to be (batch_size, num_classes) with num_classes > 1. "
            f"Received: y_pred.shape={x.shape}. Consider using 'binary_crossentropy' if you only have 2 classes.",
            SyntaxWarning,
            stacklevel=_WARN_STACKLEVEL,
        )


def _ignore_value(ignore_class):
    return None if ignore_class is None else _validate.ignore_value(ignore_class, "ignore_class", whole_floats=True)


# ---- one loss evaluation -------------------------------------------------------------------------------
class _Evaluation:
    """A validated loss call: the kernel family, its operands (class axis ``ax``) and parameters, the shape of
    the per-sample losses and, for ignore_class, which of them are valid.  ``run`` fills the losses (and the
    gradient, with a weight per sample) in one pass over the data."""

    def __init__(self, family, x, ax, params, *, t=None, labels=None, mask=None, check=None, rescaled=False):
        self.family, self.x, self.ax, self.params = family, x, ax, params
        self.t, self.labels, self.mask = t, labels, mask
        self.check, self.rescaled = check, rescaled
        self.loss_shape = x.shape[:ax] + x.shape[ax + 1 :]

    def run(self, row_scale=None, return_grad=False, grad_dtype=None):
        """(per-sample losses, grad or None); ``row_scale`` (None or an array of the losses' shape) is each
        sample's weight in the gradient."""
        params = dict(self.params)
        if self.check is not None:
            params["check"] = self.check
        loss, grad, totals = run_rows(
            self.family,
            self.x,
            axis=self.ax,
            t=self.t,
            labels=self.labels,
            row_scale=row_scale,
            return_grad=return_grad,
            grad_dtype=grad_dtype,
            **params,
        )
        if self.check:
            warn_probabilities(
                totals, int(np.prod(self.loss_shape)), "y_pred", rescaled=self.rescaled, stacklevel=_WARN_STACKLEVEL
            )
        return loss, grad


def _result(loss, grad, return_grad):
    return (loss, grad) if return_grad else loss


# ---- the five losses, as evaluations ----------------------------------------------------------------------
def _categorical(
    y_true, y_pred, from_logits, label_smoothing, axis, dtype, *, focal=None, fname="categorical_crossentropy"
):
    t, x, ax = _dense_inputs(y_true, y_pred, axis, dtype)
    _warn_single_class(x, fname)
    # smoothed targets a t + b; Keras divides by y_true's LAST dimension, whatever the axis
    ls = float(label_smoothing)
    a, b = (1.0 - ls, ls / t.shape[-1]) if ls else (1.0, 0.0)
    if focal is None and from_logits:
        return _Evaluation("softmax", x, ax, {"a": a, "b": b}, t=t)
    params = {"a": a, "b": b, "eps": _EPSILON, "from_logits": bool(from_logits), "clip_tie": _CLIP_TIE_GRAD}
    if focal is not None:
        alpha, gamma = focal
        params.update(focal=True, gamma=float(gamma), **_focal_alpha(alpha, x, ax))
    return _Evaluation("prob", x, ax, params, t=t, check=not from_logits, rescaled=True)


def _focal_alpha(alpha, x, ax):
    """Kernel parameters for Keras' alpha: a scalar, or one weight per class (broadcast along the last axis)."""
    arr = np.asarray(alpha)
    if arr.ndim == 0:
        return {"alpha": float(arr)}
    if arr.ndim != 1 or arr.shape[0] not in (1, x.shape[-1]) or ax != x.ndim - 1:
        raise ValueError(
            f"alpha must be a number or a sequence of one weight per class along the last axis "
            f"(y_pred shape {x.shape}, axis {ax}), got shape {arr.shape}"
        )
    weights = np.broadcast_to(_validate.float_array(arr, "alpha", x.dtype), (x.shape[-1],))
    return {"alpha": 1.0, "class_vector": weights}


def _sparse(y_true, y_pred, from_logits, ignore_class, axis, dtype):
    x = _pred_array(y_pred, dtype)
    if x.ndim < 1:
        raise ValueError(f"y_pred must have at least one dimension (the classes), got shape {x.shape}")
    ax = _axis(axis, x.ndim)
    C = x.shape[ax]
    labels = np.asarray(y_true)
    if labels.ndim == x.ndim and labels.shape[ax] == 1:  # Keras squeezes y_true along axis ...
        labels = np.squeeze(labels, ax)
    if labels.ndim == x.ndim and labels.shape[-1] == 1:  # ... and its backend along the last one
        labels = np.squeeze(labels, -1)
    expected = x.shape[:ax] + x.shape[ax + 1 :]
    if labels.shape != expected:
        raise ValueError(
            f"y_true must have y_pred's shape without the class axis, {expected} (or with a "
            f"trailing 1), got {np.shape(y_true)} for y_pred of shape {x.shape}"
        )
    labels = _validate.int_labels(labels, "y_true")
    ignore = _ignore_value(ignore_class)
    _validate.check_labels_in_range(labels, C, "y_true", ignore=ignore)
    mask = None if ignore is None else labels != ignore
    if from_logits:
        return _Evaluation("softmax", x, ax, {"ignore": ignore}, labels=labels, mask=mask)
    return _Evaluation(
        "prob",
        x,
        ax,
        {"ignore": ignore, "eps": _EPSILON, "clip_tie": _CLIP_TIE_GRAD},
        labels=labels,
        mask=mask,
        check=True,
        rescaled=True,
    )


def _binary(y_true, y_pred, from_logits, label_smoothing, axis, dtype, *, focal=None):
    t, x, ax = _dense_inputs(y_true, y_pred, axis, dtype)
    ls = float(label_smoothing)
    C = x.shape[ax]
    # Keras' mean along axis: the row sum over C, and 1/C in the gradient
    params = {
        "za": 1.0 - ls,
        "zb": 0.5 * ls,
        "eps": _EPSILON,
        "row_divisor": float(C),
        "grad_scale": 1.0 / C,
        "clip_tie": _CLIP_TIE_GRAD,
    }
    if focal is not None:
        balance, alpha, gamma = focal
        params.update(
            mode="focal", from_logits=bool(from_logits), balance=bool(balance), alpha=float(alpha), gamma=float(gamma)
        )
    else:
        params["mode"] = "logits_keras" if from_logits else "prob_clip"
    return _Evaluation("binary", x, ax, params, t=t, check=not from_logits)


# ---- per-sample functions ------------------------------------------------------------------------------
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1, *, return_grad=False):
    """Keras' ``categorical_crossentropy``: per-sample losses of one-hot or soft targets.

    Parameters
    ----------
    y_true : array_like
        Targets of ``y_pred``'s shape: one-hot rows or class probabilities.
    y_pred : array_like
        Predicted probabilities, or logits with ``from_logits=True``.
    from_logits : bool, default False
        ``y_pred`` holds logits.  Otherwise it holds probabilities, divided by their sum along ``axis`` and
        clipped to [1e-7, 1 - 1e-7] as Keras does.
    label_smoothing : float, default 0.0
        Targets become ``y_true * (1 - label_smoothing) + label_smoothing / K``, K = ``y_true.shape[-1]``.
    axis : int, default -1
        The class axis of ``y_pred`` (and ``y_true``).
    return_grad : bool, default False
        Also return the gradient d sum(loss) / d ``y_pred``, computed in the same pass.

    Returns
    -------
    loss : ndarray
        Per-sample losses: ``y_pred``'s shape without ``axis``, in ``y_pred``'s dtype when it is float32 or
        float64 (float32 otherwise).
    grad : ndarray
        Only with ``return_grad=True``: ``y_pred``'s shape and dtype (JAX's gradient of the Keras code).

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import keras as K
    >>> y_true = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> y_pred = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]])
    >>> np.round(K.categorical_crossentropy(y_true, y_pred), 6)
    array([0.105361, 0.223144])
    >>> logits = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    >>> loss, grad = K.categorical_crossentropy(y_true, logits, from_logits=True, return_grad=True)
    >>> np.round(grad, 4)  # softmax(logits) - y_true
    array([[-0.1562,  0.1142,  0.042 ],
           [ 0.2119, -0.4239,  0.2119]])
    """
    evaluation = _categorical(y_true, y_pred, from_logits, label_smoothing, axis, None)
    return _in_pred_dtype(evaluation.x.dtype, *evaluation.run(None, return_grad), return_grad)


def sparse_categorical_crossentropy(
    y_true, y_pred, from_logits=False, ignore_class=None, axis=-1, *, return_grad=False
):
    """Keras' ``sparse_categorical_crossentropy``: per-sample losses of integer class labels.

    Parameters
    ----------
    y_true : array_like
        Integer class labels of ``y_pred``'s shape without ``axis`` (a trailing 1 is allowed); whole-number
        floats are accepted.  A label outside [0, C) that is not ``ignore_class`` raises IndexError.
    y_pred : array_like
        Predicted probabilities, or logits with ``from_logits=True``.
    from_logits : bool, default False
        ``y_pred`` holds logits.  Otherwise it holds probabilities, divided by their sum along ``axis`` and
        clipped to [1e-7, 1 - 1e-7] as Keras does.
    ignore_class : int, optional
        Label value whose samples give loss 0 and a zero gradient.
    axis : int, default -1
        The class axis of ``y_pred`` (and ``y_true``).
    return_grad : bool, default False
        Also return the gradient d sum(loss) / d ``y_pred``, computed in the same pass.

    Returns
    -------
    loss : ndarray
        Per-sample losses: ``y_pred``'s shape without ``axis``, in ``y_pred``'s dtype when it is float32 or
        float64 (float32 otherwise).
    grad : ndarray
        Only with ``return_grad=True``: ``y_pred``'s shape and dtype (JAX's gradient of the Keras code).

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import keras as K
    >>> y_pred = np.array([[0.2, 0.2, 0.6], [0.7, 0.2, 0.1]])
    >>> np.round(K.sparse_categorical_crossentropy(np.array([2, 0]), y_pred), 6)
    array([0.510826, 0.356675])
    >>> np.round(K.sparse_categorical_crossentropy(np.array([2, -1]), y_pred, ignore_class=-1), 6)
    array([0.510826, 0.      ])
    """
    evaluation = _sparse(y_true, y_pred, from_logits, ignore_class, axis, None)
    # half y_pred: float32 losses, as Keras' JAX backend returns (its one-hot is float32)
    return _result(*evaluation.run(None, return_grad), return_grad)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1, *, return_grad=False):
    """Keras' ``binary_crossentropy``: element-wise losses averaged along ``axis``.

    Parameters
    ----------
    y_true : array_like
        0/1 (or soft) labels of ``y_pred``'s shape.
    y_pred : array_like
        Predicted probabilities (clipped to [1e-7, 1 - 1e-7]), or logits with ``from_logits=True``.
    from_logits : bool, default False
        ``y_pred`` holds logits; the loss is then the exact log-sigmoid form of Keras' JAX backend.
    label_smoothing : float, default 0.0
        Labels become ``y_true * (1 - label_smoothing) + label_smoothing / 2``.
    axis : int, default -1
        The axis the element-wise losses are averaged over.
    return_grad : bool, default False
        Also return the gradient d sum(loss) / d ``y_pred``, computed in the same pass.

    Returns
    -------
    loss : ndarray
        Per-sample losses: ``y_pred``'s shape without ``axis``, in ``y_pred``'s dtype when it is float32 or
        float64 (float32 otherwise).
    grad : ndarray
        Only with ``return_grad=True``: ``y_pred``'s shape and dtype (JAX's gradient of the Keras code).

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import keras as K
    >>> y_true = np.array([[0.0, 1.0], [1.0, 1.0]])
    >>> y_pred = np.array([[0.2, 0.9], [0.6, 0.5]])
    >>> np.round(K.binary_crossentropy(y_true, y_pred), 6)
    array([0.164252, 0.601986])
    >>> loss, grad = K.binary_crossentropy(y_true, y_pred, return_grad=True)
    >>> np.round(grad, 4)  # (p - y) / (p (1 - p)) / 2
    array([[ 0.625 , -0.5556],
           [-0.8333, -1.    ]])
    """
    evaluation = _binary(y_true, y_pred, from_logits, label_smoothing, axis, None)
    return _in_pred_dtype(evaluation.x.dtype, *evaluation.run(None, return_grad), return_grad)


def categorical_focal_crossentropy(
    y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1, *, return_grad=False
):
    """Keras' ``categorical_focal_crossentropy``: sum of ``alpha (1 - p)**gamma (-t log p)`` along ``axis``.

    Parameters
    ----------
    y_true : array_like
        Targets of ``y_pred``'s shape (one-hot rows or class probabilities).
    y_pred : array_like
        Predicted probabilities, or logits with ``from_logits=True`` (softmax first).
    alpha : float or sequence of float, default 0.25
        Weighting factor; a sequence gives one weight per class (class axis last).
    gamma : float, default 2.0
        Focusing exponent of the modulating factor ``(1 - p)**gamma``.
    from_logits : bool, default False
        ``y_pred`` holds logits.  Otherwise it holds probabilities, divided by their sum along ``axis`` and
        clipped to [1e-7, 1 - 1e-7] as Keras does.
    label_smoothing : float, default 0.0
        Targets become ``y_true * (1 - label_smoothing) + label_smoothing / K``, K = ``y_true.shape[-1]``.
    axis : int, default -1
        The class axis of ``y_pred`` (and ``y_true``).
    return_grad : bool, default False
        Also return the gradient d sum(loss) / d ``y_pred``, computed in the same pass.

    Returns
    -------
    loss : ndarray
        Per-sample losses: ``y_pred``'s shape without ``axis``, in ``y_pred``'s dtype when it is float32 or
        float64 (float32 otherwise).
    grad : ndarray
        Only with ``return_grad=True``: ``y_pred``'s shape and dtype (JAX's gradient of the Keras code).

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import keras as K
    >>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    >>> np.round(K.categorical_focal_crossentropy(y_true, y_pred), 6)
    array([3.20000e-05, 4.66273e-01])
    """
    evaluation = _categorical(
        y_true,
        y_pred,
        from_logits,
        label_smoothing,
        axis,
        None,
        focal=(alpha, gamma),
        fname="categorical_focal_crossentropy",
    )
    return _in_pred_dtype(evaluation.x.dtype, *evaluation.run(None, return_grad), return_grad)


def binary_focal_crossentropy(
    y_true,
    y_pred,
    apply_class_balancing=False,
    alpha=0.25,
    gamma=2.0,
    from_logits=False,
    label_smoothing=0.0,
    axis=-1,
    *,
    return_grad=False,
):
    """Keras' ``binary_focal_crossentropy``: element-wise focal losses averaged along ``axis``.

    Parameters
    ----------
    y_true : array_like
        0/1 (or soft) labels of ``y_pred``'s shape.
    y_pred : array_like
        Predicted probabilities, or logits with ``from_logits=True``.
    apply_class_balancing : bool, default False
        Weigh positives by ``alpha`` and negatives by ``1 - alpha``.
    alpha : float, default 0.25
        The class-balancing weight (used with ``apply_class_balancing``).
    gamma : float, default 2.0
        Focusing exponent of the modulating factor ``(1 - p_t)**gamma``.
    from_logits : bool, default False
        ``y_pred`` holds logits.
    label_smoothing : float, default 0.0
        Labels become ``y_true * (1 - label_smoothing) + label_smoothing / 2``.
    axis : int, default -1
        The axis the element-wise losses are averaged over.
    return_grad : bool, default False
        Also return the gradient d sum(loss) / d ``y_pred``, computed in the same pass.

    Returns
    -------
    loss : ndarray
        Per-sample losses: ``y_pred``'s shape without ``axis``, in ``y_pred``'s dtype when it is float32 or
        float64 (float32 otherwise).
    grad : ndarray
        Only with ``return_grad=True``: ``y_pred``'s shape and dtype (JAX's gradient of the Keras code).

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import keras as K
    >>> y_true = np.array([[0.0, 1.0], [0.0, 0.0]])
    >>> y_pred = np.array([[0.6, 0.4], [0.4, 0.6]])
    >>> np.round(K.binary_focal_crossentropy(y_true, y_pred, gamma=2.0), 6)
    array([0.329865, 0.205798])
    """
    evaluation = _binary(
        y_true, y_pred, from_logits, label_smoothing, axis, None, focal=(apply_class_balancing, alpha, gamma)
    )
    return _in_pred_dtype(evaluation.x.dtype, *evaluation.run(None, return_grad), return_grad)


# ---- reductions ------------------------------------------------------------------------------------------
def _squeeze_or_expand(x1, x2):
    """Keras' squeeze_or_expand_to_same_rank (ranks that differ by one, with a trailing 1)."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1:
            x2 = x2[..., np.newaxis]
        else:
            x1 = x1[..., 0]
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1:
            x1 = x1[..., np.newaxis]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _sum_to_shape(a, shape):
    """Sum ``a`` over the axes that broadcasting added to ``shape`` (the transpose of broadcasting)."""
    a = a.sum(axis=tuple(range(a.ndim - len(shape)))) if a.ndim > len(shape) else a
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and a.shape[i] != 1)
    return a.sum(axis=axes, keepdims=True) if axes else a


class _Reduction:
    """Keras' reduce_weighted_values for losses of a known shape.  It is linear in the losses, so the weight
    of each loss in d sum(value) / d losses is known before the losses are: that goes to the kernel."""

    def __init__(self, loss_shape, sample_weight, mask, reduction, dtype):
        self.dtype = dtype
        sw = None if sample_weight is None else _validate.float_array(sample_weight, "sample_weight", dtype)
        if mask is not None:
            sw = self._merge_mask(sw, mask, reduction)
        self.loss_shape = values_shape = out_shape = loss_shape
        if sw is not None:
            values = np.broadcast_to(np.empty((), dtype), loss_shape)  # shapes only, for the rank matching
            values, sw = _squeeze_or_expand(values, sw)
            values_shape = values.shape
            try:
                out_shape = np.broadcast_shapes(values_shape, sw.shape)
            except ValueError:
                raise ValueError(
                    f"sample_weight of shape {np.shape(sample_weight)} does not broadcast against "
                    f"the per-sample losses of shape {loss_shape}"
                ) from None
        self.values_shape, self.sw, self.out_shape = values_shape, sw, out_shape
        self.reduced = reduction not in (None, "none") and out_shape not in ((), (0,))
        self.divisor = None
        if self.reduced and reduction != "sum":
            with np.errstate(all="ignore"):
                self.divisor = (
                    np.sum(sw, dtype=dtype)
                    if reduction == "mean_with_sample_weight" and sw is not None
                    else dtype.type(np.prod(out_shape))
                )
        # d value / d (weighted loss): 1, 1 / divisor, or 0 for a zero divisor (divide_no_nan)
        one = dtype.type(1)
        self.scale = one if self.divisor is None else (one / self.divisor if self.divisor != 0 else dtype.type(0))

    def _merge_mask(self, sw, mask, reduction):
        """Keras' apply_mask: the mask becomes (part of) the sample weight."""
        dt = self.dtype.type
        if reduction in ("mean", "sum_over_batch_size"):
            valid = dt(np.count_nonzero(mask))
            mask_weight = dt(mask.size) / valid if valid else dt(0)  # valid entries weigh total / valid
            float_mask = np.where(mask, mask_weight, dt(0)).astype(self.dtype)
        else:
            float_mask = mask.astype(self.dtype)
        if sw is None:
            return float_mask
        float_mask, sw = _squeeze_or_expand(float_mask, sw)
        return sw * float_mask

    def value(self, losses):
        """The reduced value of the per-sample losses."""
        with np.errstate(all="ignore"):  # inf/NaN losses propagate as in Keras
            v = losses.reshape(self.values_shape)
            if self.sw is not None:
                v = v * self.sw
            if not self.reduced:
                return v
            total = np.sum(v, dtype=self.dtype)
            if self.divisor is not None:
                total = total / self.divisor if self.divisor != 0 else self.dtype.type(0)
            return np.asarray(total, self.dtype)

    def loss_weights(self):
        """d sum(value) / d losses, an array of the losses' shape (None: all ones)."""
        if self.sw is None:
            if self.scale == 1:
                return None
            return np.full(self.loss_shape, self.scale, self.dtype)
        with np.errstate(all="ignore"):
            w = np.broadcast_to(self.scale * self.sw, self.out_shape)
            w = np.broadcast_to(_sum_to_shape(w, self.values_shape), self.values_shape)
        # np.array, not ascontiguousarray: that one turns the 0-d weight of a single-row loss into shape (1,)
        return np.array(w.reshape(self.loss_shape), dtype=self.dtype, order="C")


# ---- classes ---------------------------------------------------------------------------------------------
_MIXED_POLICIES = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}  # Keras: the compute dtype


def _compute_dtype(dtype):
    if dtype is None:
        return _FLOATX
    dtype = getattr(dtype, "compute_dtype", dtype)  # a Keras DTypePolicy
    if isinstance(dtype, str):
        dtype = _MIXED_POLICIES.get(dtype, dtype)
        if dtype == "bfloat16":
            return _validate.bfloat16_dtype("dtype")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or not (dt in (np.float32, np.float64) or _validate.is_half(dt)):
        raise ValueError(
            f"dtype must be None, 'float32', 'float64', 'float16', 'bfloat16', 'mixed_float16' or "
            f"'mixed_bfloat16' (or a policy computing in one), got {dtype!r}"
        )
    return dt


def _snake_case(name):
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


class _Loss:
    """Keras' Loss/LossFunctionWrapper: convert to the compute dtype, match ranks, per-sample losses,
    sample weights and masks, reduction."""

    _build = None  # the evaluation builder of the loss (a staticmethod)
    _labels_are_indices = False  # y_true holds class ids, not values of y_pred's dtype

    def __init__(self, reduction, name, dtype, fn_kwargs, config):
        """``fn_kwargs``: what the evaluation builder takes; ``config``: the constructor arguments Keras'
        get_config() reports beyond name and reduction (they also become attributes, as in Keras)."""
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"Invalid value for argument `reduction`. Expected one of {set(_REDUCTIONS)}. "
                f"Received: reduction={reduction}"
            )
        self.name = name or _snake_case(type(self).__name__)
        self.reduction = reduction
        self._dtype = _compute_dtype(dtype)
        self._fn_kwargs = fn_kwargs
        self._config_keys = tuple(config)
        for key, value in config.items():
            setattr(self, key, value)

    @property
    def dtype(self):
        """The compute dtype (Keras: the policy's compute_dtype), as a string."""
        return self._dtype.name

    def __call__(self, y_true, y_pred, sample_weight=None, *, return_grad=False):
        """The reduced loss.

        Parameters
        ----------
        y_true : array_like
            Targets (class labels for the sparse loss).
        y_pred : array_like
            Predictions; computed in the loss' ``dtype``.
        sample_weight : array_like, optional
            A scalar, one weight per sample, or any shape that broadcasts against the per-sample losses after
            Keras' rank matching.
        return_grad : bool, default False
            Also return d sum(value) / d ``y_pred``.

        Returns
        -------
        value : ndarray
            The reduced loss (0-d), or the weighted per-sample losses for ``reduction="none"``.
        grad : ndarray
            Only with ``return_grad=True``: ``y_pred``'s shape, in its dtype when that is float32/float64.
        """
        given = np.asarray(y_pred)
        x = _pred_array(given, self._dtype)
        t = np.asarray(y_true) if self._labels_are_indices else _validate.float_array(y_true, "y_true", self._dtype)
        t, x = _squeeze_or_expand(t, x)
        evaluation = self._build(t, x, dtype=self._dtype, **self._fn_kwargs)
        # half dtypes: losses, weights and the reduction in float32, the value rounded to the dtype once
        reduction = _Reduction(
            evaluation.loss_shape, sample_weight, evaluation.mask, self.reduction, _kernels.row_dtype(self._dtype)
        )
        # a half dtype with float32/float64 y_pred: the gradient written in float32 by the kernel
        grad_dtype = np.float32 if _validate.is_half(self._dtype) and given.dtype in (np.float32, np.float64) else None
        loss, grad = evaluation.run(reduction.loss_weights() if return_grad else None, return_grad, grad_dtype)
        value = reduction.value(loss)
        if value.dtype != self._dtype:
            with np.errstate(over="ignore", under="ignore"):
                value = np.asarray(value).astype(self._dtype)
        if not return_grad:
            return value
        grad = grad.reshape(given.shape)  # undo the rank matching (a trailing 1)
        if given.dtype in (np.float32, np.float64) and given.dtype != grad.dtype:
            grad = grad.astype(given.dtype)
        return value, grad

    def get_config(self):
        """The constructor arguments, as Keras' ``get_config()`` reports them."""
        return {"name": self.name, "reduction": self.reduction, **{k: getattr(self, k) for k in self._config_keys}}

    @classmethod
    def from_config(cls, config):
        """A loss built from :meth:`get_config`'s dictionary."""
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class CategoricalCrossentropy(_Loss):
    """Keras' ``CategoricalCrossentropy``: one-hot (or soft) targets; calling it gives the reduced loss.

    Parameters
    ----------
    from_logits : bool, default False
        ``y_pred`` holds logits rather than probabilities.
    label_smoothing : float, default 0.0
        Smooth the targets towards ``1 / K``.
    axis : int, default -1
        The class axis.
    reduction : str or None, default "sum_over_batch_size"
        How the weighted per-sample losses are reduced: ``"sum_over_batch_size"``, ``"sum"``, ``"mean"``,
        ``"mean_with_sample_weight"`` or ``"none"``/None (no reduction).
    name : str
        The loss' name (``get_config()`` reports it).
    dtype : str, numpy.dtype or Keras DTypePolicy, optional
        The compute dtype, float32 (Keras' floatx, the default) or float64.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import keras as K
    >>> y_true = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> y_pred = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]])
    >>> loss = K.CategoricalCrossentropy()
    >>> print(f"{loss(y_true, y_pred):.6f}")
    0.164252
    >>> value, grad = loss(y_true, y_pred, sample_weight=np.array([1.0, 0.0]), return_grad=True)
    >>> print(f"{value:.6f}", grad.shape)
    0.052680 (2, 3)
    """

    _build = staticmethod(_categorical)

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
        dtype=None,
    ):
        config = {"from_logits": from_logits, "label_smoothing": label_smoothing, "axis": axis}
        super().__init__(reduction, name, dtype, config, config)


class SparseCategoricalCrossentropy(_Loss):
    """Keras' ``SparseCategoricalCrossentropy``: integer class labels; calling it gives the reduced loss.

    Parameters
    ----------
    from_logits : bool, default False
        ``y_pred`` holds logits rather than probabilities.
    ignore_class : int, optional
        Label value that is masked out (not counted by the mean reductions).
    axis : int, default -1
        The class axis (Keras' ``get_config()`` does not report it).
    reduction : str or None, default "sum_over_batch_size"
        How the weighted per-sample losses are reduced: ``"sum_over_batch_size"``, ``"sum"``, ``"mean"``,
        ``"mean_with_sample_weight"`` or ``"none"``/None (no reduction).
    name : str
        The loss' name (``get_config()`` reports it).
    dtype : str, numpy.dtype or Keras DTypePolicy, optional
        The compute dtype, float32 (Keras' floatx, the default) or float64.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import keras as K
    >>> logits = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0], [1.0, 1.0, 1.0]])
    >>> loss = K.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    >>> print(f"{loss(np.array([0, 2, -1]), logits):.6f}")
    0.168117
    """

    _build = staticmethod(_sparse)
    _labels_are_indices = True

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction="sum_over_batch_size",
        axis=-1,
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        _ignore_value(ignore_class)  # fail at construction, not at the first call
        config = {"from_logits": from_logits, "ignore_class": ignore_class}  # Keras leaves axis out
        super().__init__(reduction, name, dtype, {**config, "axis": axis}, config)


class BinaryCrossentropy(_Loss):
    """Keras' ``BinaryCrossentropy``: element-wise losses averaged along ``axis``, then reduced over samples.

    Parameters
    ----------
    from_logits : bool, default False
        ``y_pred`` holds logits rather than probabilities.
    label_smoothing : float, default 0.0
        Smooth the labels towards 0.5.
    axis : int, default -1
        The axis the element-wise losses are averaged over.
    reduction : str or None, default "sum_over_batch_size"
        How the weighted per-sample losses are reduced: ``"sum_over_batch_size"``, ``"sum"``, ``"mean"``,
        ``"mean_with_sample_weight"`` or ``"none"``/None (no reduction).
    name : str
        The loss' name (``get_config()`` reports it).
    dtype : str, numpy.dtype or Keras DTypePolicy, optional
        The compute dtype, float32 (Keras' floatx, the default) or float64.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import keras as K
    >>> y_true = np.array([0.0, 1.0, 1.0, 0.0])
    >>> y_pred = np.array([0.1, 0.8, 0.6, 0.3])
    >>> print(f"{K.BinaryCrossentropy()(y_true, y_pred):.6f}")
    0.299001
    >>> value, grad = K.BinaryCrossentropy()(y_true, y_pred, sample_weight=np.array([1.0, 2.0, 1.0, 0.0]),
    ...                                      return_grad=True)
    >>> print(f"{value:.6f}", np.round(grad, 4))
    0.299001 [ 0.2778 -0.3125 -0.4167  0.3571]
    """

    _build = staticmethod(_binary)

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
        dtype=None,
    ):
        config = {"from_logits": from_logits, "label_smoothing": label_smoothing, "axis": axis}
        super().__init__(reduction, name, dtype, config, config)


class CategoricalFocalCrossentropy(_Loss):
    """Keras' ``CategoricalFocalCrossentropy``: focal loss of one-hot (or soft) targets, reduced over samples.

    Parameters
    ----------
    alpha : float or sequence of float, default 0.25
        Weighting factor (a sequence: one weight per class).
    gamma : float, default 2.0
        Focusing exponent.
    from_logits : bool, default False
        ``y_pred`` holds logits rather than probabilities.
    label_smoothing : float, default 0.0
        Smooth the targets towards ``1 / K``.
    axis : int, default -1
        The class axis.
    reduction : str or None, default "sum_over_batch_size"
        How the weighted per-sample losses are reduced: ``"sum_over_batch_size"``, ``"sum"``, ``"mean"``,
        ``"mean_with_sample_weight"`` or ``"none"``/None (no reduction).
    name : str
        The loss' name (``get_config()`` reports it).
    dtype : str, numpy.dtype or Keras DTypePolicy, optional
        The compute dtype, float32 (Keras' floatx, the default) or float64.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import keras as K
    >>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    >>> print(f"{K.CategoricalFocalCrossentropy()(y_true, y_pred):.6f}")
    0.233153
    """

    _build = staticmethod(_categorical)

    def __init__(
        self,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_focal_crossentropy",
        dtype=None,
    ):
        config = {"from_logits": from_logits, "label_smoothing": label_smoothing, "axis": axis}
        fn_kwargs = {**config, "focal": (alpha, gamma), "fname": "categorical_focal_crossentropy"}
        super().__init__(reduction, name, dtype, fn_kwargs, {**config, "alpha": alpha, "gamma": gamma})


class BinaryFocalCrossentropy(_Loss):
    """Keras' ``BinaryFocalCrossentropy``: element-wise focal losses averaged along ``axis``, reduced over samples.

    Parameters
    ----------
    apply_class_balancing : bool, default False
        Weigh positives by ``alpha`` and negatives by ``1 - alpha``.
    alpha : float, default 0.25
        The class-balancing weight.
    gamma : float, default 2.0
        Focusing exponent.
    from_logits : bool, default False
        ``y_pred`` holds logits rather than probabilities.
    label_smoothing : float, default 0.0
        Smooth the labels towards 0.5.
    axis : int, default -1
        The axis the element-wise losses are averaged over.
    reduction : str or None, default "sum_over_batch_size"
        How the weighted per-sample losses are reduced: ``"sum_over_batch_size"``, ``"sum"``, ``"mean"``,
        ``"mean_with_sample_weight"`` or ``"none"``/None (no reduction).
    name : str
        The loss' name (``get_config()`` reports it).
    dtype : str, numpy.dtype or Keras DTypePolicy, optional
        The compute dtype, float32 (Keras' floatx, the default) or float64.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import keras as K
    >>> y_true = np.array([[0.0, 1.0], [0.0, 0.0]])
    >>> y_pred = np.array([[0.6, 0.4], [0.4, 0.6]])
    >>> print(f"{K.BinaryFocalCrossentropy(gamma=2.0)(y_true, y_pred):.6f}")
    0.267832
    """

    _build = staticmethod(_binary)

    def __init__(
        self,
        apply_class_balancing=False,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_focal_crossentropy",
        dtype=None,
    ):
        config = {"from_logits": from_logits, "label_smoothing": label_smoothing, "axis": axis}
        fn_kwargs = {**config, "focal": (apply_class_balancing, alpha, gamma)}
        super().__init__(
            reduction,
            name,
            dtype,
            fn_kwargs,
            {**config, "apply_class_balancing": apply_class_balancing, "alpha": alpha, "gamma": gamma},
        )

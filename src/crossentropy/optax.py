"""optax semantics on NumPy arrays: optax 0.2.8's classification cross-entropies, without JAX.

``softmax_cross_entropy``, ``softmax_cross_entropy_with_integer_labels``, ``safe_softmax_cross_entropy``,
``sigmoid_binary_cross_entropy``, ``sigmoid_focal_loss`` and ``poly_loss_cross_entropy`` take the arguments of
their ``optax.losses`` namesakes and return the same per-example (per-element for the sigmoid losses) values
in the logits' dtype.  ``return_grad=True`` returns ``(value, grad)`` with ``grad`` = JAX's gradient of
``value.sum()`` with respect to ``logits``.  float16 logits are computed in float32 and rounded back.

Reproduced optax behaviour:

* ``where=`` (a boolean mask of the logits' shape, or of their shape without the class axis) leaves masked
  classes out of the normaliser and the sum; a row with no class left gives 0 (and a zero gradient).
* ``softmax_cross_entropy`` computes ``labels * log_softmax`` as JAX does, so a label of 0 on a ``-inf``
  logit makes the row NaN (the gradient stays finite); ``safe_softmax_cross_entropy`` counts it as 0.  A row
  of only ``-inf`` logits is NaN in both.
* ``axis`` may be a tuple of axes (or None for all axes) where optax allows it: the classes are the elements
  of those axes together.  For integer labels a label is then a flat index into that block, as in optax.
* Logits must be floating point and integer labels integers (TypeError, as optax's dtype checks);
  float labels are cast to the logits' dtype.

Differences (deliberate): integer labels outside [0, C) raise IndexError naming ``labels`` (optax returns
NaN for labels >= C and wraps negative ones); a tuple ``axis`` or a ``where=`` mask costs one masked copy of
the logits (and labels); array-likes without a dtype (lists, numbers) are converted with NumPy's defaults.
"""

import operator

import numpy as np

from crossentropy import _gufuncs, _kernels
from crossentropy._layout import row_blocks
from crossentropy._validate import check_labels_in_range

__all__ = [
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "safe_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "poly_loss_cross_entropy",
]


# ---- arguments ---------------------------------------------------------------------------------------------


def _check_subdtype(a, kind, what):
    dtype = np.asarray(a).dtype
    if not np.issubdtype(dtype, kind):
        raise TypeError(f"{what} must have a dtype that is a subdtype of {kind.__name__}, got {dtype} instead")


def _logits(logits):
    """(array to compute with, dtype to return): float16 computes in float32."""
    _check_subdtype(logits, np.floating, "logits")
    arr = np.asarray(logits)
    user = arr.dtype.newbyteorder("=")
    work = user if user in (np.float32, np.float64) else np.dtype(np.float32)
    if arr.dtype != work:
        arr = arr.astype(work)
    return arr, user


def _result(value, grad, user_dtype, return_grad):
    with np.errstate(over="ignore", under="ignore"):
        value = np.asarray(value).astype(user_dtype, copy=False)
        value = value[()] if value.ndim == 0 else value
        if not return_grad:
            return value
        return value, np.asarray(grad).astype(user_dtype, copy=False)


def _class_axes(axis, ndim):
    """Class axes as a sorted-as-given tuple of non-negative ints (optax's canonicalize_axis rules)."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, tuple) else (axis,)
    out = []
    for a in axes:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of bounds for array of dimension {ndim}")
        out.append(a % ndim)
    return tuple(out)


def _to_rows(a, axes):
    """View/copy of ``a`` with the class axes moved last and merged into one; and the inverse."""
    batch = tuple(i for i in range(a.ndim) if i not in axes)
    moved = a.transpose(batch + axes)
    lead = moved.shape[: len(batch)]
    merged = moved.reshape(lead + (-1,))
    return merged, batch, moved.shape


def _from_rows(g, batch, moved_shape, axes):
    """Undo ``_to_rows`` for a gradient."""
    g = g.reshape(moved_shape)
    return g.transpose(np.argsort(batch + axes))


def _where_full(where, x, axes, expand=True):
    """``where`` broadcast to the logits' shape; optax adds the class axes when its rank differs (not for
    poly_loss_cross_entropy: ``expand=False``)."""
    w = np.asarray(where)
    if w.dtype != np.bool_:
        w = w.astype(bool)
    if expand and w.ndim != x.ndim:
        w = np.expand_dims(w, axes)
    try:
        return np.broadcast_to(w, x.shape)
    except ValueError:
        raise ValueError(
            f"where of shape {np.shape(where)} does not broadcast to the logits' shape {x.shape}"
        ) from None


def _float_labels(labels, x, name="labels"):
    t = np.asarray(labels)
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {t.dtype}")
    t = t.astype(x.dtype, copy=False)
    try:
        return np.broadcast_to(t, x.shape)
    except ValueError:
        raise ValueError(f"{name} of shape {t.shape} must broadcast to the logits' shape {x.shape}") from None


# ---- row kernels -------------------------------------------------------------------------------------------


def _softmax_xent(x, t, return_grad):
    """Per-row Σ t (lse - x) over the last axis and its true derivative softmax·Σt - t, in one kernel pass."""
    loss = np.empty(x.shape[:-1], x.dtype)
    grad = np.empty_like(x) if return_grad else None
    for xb, tb, lb, gb in row_blocks(x, t, loss, grad):
        _kernels.softmax_xent_rows(xb, lb, t=tb, grad=gb)
    return loss, grad


def _sparse_xent(x, labels, return_grad):
    """Per-row lse - x[label] and softmax - onehot(label); labels out of range raise IndexError."""
    loss = np.empty(x.shape[:-1], x.dtype)
    grad = np.empty_like(x) if return_grad else None
    bad = 0
    for xb, lab, lb, gb in row_blocks(x, labels, loss, grad):
        bad += _kernels.softmax_xent_rows(xb, lb, labels=lab, grad=gb)["bad_label"]
    if bad:
        check_labels_in_range(labels, x.shape[-1], "labels")
    return loss, grad


def _binary_elementwise(x, t, loss, grad):
    """max(x, 0) - x t + log1p(exp(-|x|)) element-wise and grad sigmoid(x) - t (x, t, loss, grad: 2-D)."""
    _kernels.binary_xent_rows(x, loss, t=t, mode="logits_tf", grad=grad)


def _sigmoid_xent(x, t, return_grad):
    shape = x.shape
    x2, t2 = np.atleast_1d(x, t)
    loss = np.empty_like(x2)
    grad = np.empty_like(x2) if return_grad else None
    for xb, tb, lb, gb in row_blocks(x2, t2, loss, grad):
        if xb.ndim == 1:
            xb, tb, lb, gb = xb[:, None], tb[:, None], lb[:, None], None if gb is None else gb[:, None]
        _binary_elementwise(xb, tb, lb, gb)
    return loss.reshape(shape), None if grad is None else grad.reshape(shape)


# ---- softmax cross-entropies -------------------------------------------------------------------------------


def _nan_rows_for_zero_label_on_neg_inf(x, t, w):
    """Rows where JAX's 0 * log_softmax(-inf) = NaN; checked element-wise only when some logit is -inf."""
    if x.size == 0 or not np.isneginf(np.min(x)):
        return None
    bad = np.isneginf(x) & (t == 0)
    if w is not None:
        bad &= w
    return np.any(bad, axis=-1)


def _softmax_family(logits, labels, axis, where, return_grad, *, safe, poly_epsilon=None):
    x, user = _logits(logits)
    if x.ndim == 0:
        raise ValueError("logits cannot be a scalar: they need a class axis")
    t = _float_labels(labels, x)
    axes = _class_axes(axis, x.ndim)
    w = None if where is None else _where_full(where, x, axes, expand=poly_epsilon is None)
    xr, batch, moved = _to_rows(x, axes)
    tr = _to_rows(t, axes)[0]
    wr = None if w is None else _to_rows(w, axes)[0]
    if wr is not None:  # masked classes: -inf logit, 0 label -> out of the normaliser and the sum
        xr = np.where(wr, xr, -np.inf).astype(x.dtype, copy=False)
        tr = np.where(wr, tr, 0).astype(x.dtype, copy=False)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        loss, grad = _softmax_xent(xr, tr, return_grad or poly_epsilon is not None)
        if poly_epsilon is not None:
            loss, grad = _add_poly_term(xr, tr, loss, grad, poly_epsilon, return_grad)
    if not safe:
        nan_rows = _nan_rows_for_zero_label_on_neg_inf(_to_rows(x, axes)[0], _to_rows(t, axes)[0], wr)
        if nan_rows is not None:
            loss[nan_rows] = np.nan
    if wr is not None:
        if grad is not None:  # masked classes get exactly 0, even in a NaN row
            grad[~wr] = 0.0
        empty = ~np.any(wr, axis=-1)
        if np.any(empty):
            loss[empty] = 0.0 if poly_epsilon is not None else -0.0
            if grad is not None:
                grad[empty] = 0.0
    if return_grad:
        grad = _from_rows(grad, batch, moved, axes)
    return _result(loss, grad, user, return_grad)


def _add_poly_term(xr, tr, loss, grad, epsilon, return_grad):
    """+ epsilon Σ t (1 - softmax): one softmax (an N x C temporary) and a dot product per row."""
    p = _gufuncs.softmax(xr)
    tp = np.einsum("...c,...c->...", tr, p)
    loss = loss + epsilon * (np.sum(tr, axis=-1) - tp)
    if return_grad:  # d/dx Σ t_j p_j = p (t - Σ t p)
        p *= tr - tp[..., None]
        p *= epsilon
        grad -= p
    return loss, grad


def softmax_cross_entropy(logits, labels, axis=-1, where=None, *, return_grad=False):
    """``optax.losses.softmax_cross_entropy``: -Σ labels · log_softmax(logits) over ``axis``.

    Parameters
    ----------
    logits : array_like of float
        Unnormalised log-probabilities.
    labels : array_like
        Target weights (one-hot rows or distributions), broadcastable to the logits' shape.
    axis : int, tuple of int or None, default -1
        Class axis or axes (None: all axes).
    where : array_like of bool, optional
        Classes to include: the logits' shape, or their shape without the class axis.
    return_grad : bool, default False
        Also return d sum(value) / d logits.

    Returns
    -------
    value : ndarray
        Per-example losses in the logits' dtype, shape of the logits without the class axes.
    grad : ndarray
        Only with ``return_grad``: softmax · Σ labels - labels (0 on masked classes).

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import optax as cox
    >>> logits = np.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]])
    >>> labels = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> print(np.round(cox.softmax_cross_entropy(logits, labels), 4))
    [0.2761 2.9518]
    """
    return _softmax_family(logits, labels, axis, where, return_grad, safe=False)


def safe_softmax_cross_entropy(logits, labels, *, return_grad=False):
    """``optax.losses.safe_softmax_cross_entropy``: as ``softmax_cross_entropy`` over the last axis, but a
    label of 0 on a ``-inf`` logit adds 0 (0 log 0 = 0).

    Parameters
    ----------
    logits : array_like of float
        Unnormalised log-probabilities, classes on the last axis.
    labels : array_like
        Target distributions, broadcastable to the logits' shape.
    return_grad : bool, default False
        Also return d sum(value) / d logits.

    Returns
    -------
    value : ndarray
        Per-example losses in the logits' dtype.
    grad : ndarray
        Only with ``return_grad``: softmax · Σ labels - labels.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import optax as cox
    >>> logits = np.array([[0.0, -np.inf, 1.0]])
    >>> print(np.round(cox.safe_softmax_cross_entropy(logits, np.array([[1.0, 0.0, 0.0]])), 4))
    [1.3133]
    """
    return _softmax_family(logits, labels, -1, None, return_grad, safe=True)


def poly_loss_cross_entropy(logits, labels, *, epsilon=2.0, axis=-1, where=None, return_grad=False):
    """``optax.losses.poly_loss_cross_entropy``: softmax cross-entropy + epsilon Σ labels (1 - softmax).

    The cross-entropy and its gradient come from one kernel pass; the polynomial term needs the softmax
    itself, so it costs one more pass and one temporary of the logits' size (and, with ``return_grad``,
    element-wise NumPy work on that temporary).

    Parameters
    ----------
    logits : array_like of float
        Unnormalised log-probabilities.
    labels : array_like of float
        Target distributions, broadcastable to the logits' shape.
    epsilon : float, default 2.0
        Coefficient of the first polynomial term.
    axis : int, tuple of int or None, default -1
        Class axis or axes.
    where : array_like of bool, optional
        Classes to include.
    return_grad : bool, default False
        Also return d sum(value) / d logits.

    Returns
    -------
    value : ndarray
        Per-example losses in the logits' dtype.
    grad : ndarray
        Only with ``return_grad``.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import optax as cox
    >>> logits = np.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]])
    >>> labels = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> print(np.round(cox.poly_loss_cross_entropy(logits, labels), 4))
    [0.7587 4.8473]
    """
    _check_subdtype(labels, np.floating, "labels")
    return _softmax_family(logits, labels, axis, where, return_grad, safe=False, poly_epsilon=float(epsilon))


def softmax_cross_entropy_with_integer_labels(logits, labels, axis=-1, where=None, *, return_grad=False):
    """``optax.losses.softmax_cross_entropy_with_integer_labels``: logsumexp(logits) - logits[label].

    Parameters
    ----------
    logits : array_like of float
        Unnormalised log-probabilities.
    labels : array_like of int
        Class indices, the logits' shape without the class axis; with a tuple ``axis`` a flat (C-order) index
        into the block of class axes.
    axis : int or tuple of int, default -1
        Class axis or axes.
    where : array_like of bool, optional
        Classes included in the normaliser (the label's logit is always used, as in optax); rows with no
        class left give 0.
    return_grad : bool, default False
        Also return d sum(value) / d logits.

    Returns
    -------
    value : ndarray
        Per-example losses in the logits' dtype.
    grad : ndarray
        Only with ``return_grad``: softmax - onehot(label).

    Raises
    ------
    IndexError
        A label outside [0, C).

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import optax as cox
    >>> logits = np.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]])
    >>> print(np.round(cox.softmax_cross_entropy_with_integer_labels(logits, np.array([0, 1])), 4))
    [0.2761 2.9518]
    """
    x, user = _logits(logits)
    _check_subdtype(labels, np.integer, "labels")
    if not isinstance(axis, (int, np.integer, tuple)):  # ValueError: optax's error class, kept
        msg = f"Keyword argument 'axis' must be of type 'int' or 'tuple[int, ...]' but actual type is {type(axis)}."
        raise ValueError(msg)  # noqa: TRY004
    if x.ndim == 0:
        raise ValueError("logits cannot be a scalar: they need a class axis")
    axes = _class_axes(axis, x.ndim)
    xr, batch, moved = _to_rows(x, axes)
    y = np.asarray(labels)
    if y.shape != xr.shape[:-1]:
        raise ValueError(
            f"labels must have the logits' shape without the class axes, {xr.shape[:-1]}, got shape {y.shape}"
        )
    y = y.astype(np.int64, copy=False) if y.dtype not in (np.int32, np.int64) or not y.dtype.isnative else y
    if where is None:
        loss, grad = _sparse_xent(xr, y, return_grad)
    else:
        loss, grad = _sparse_xent_masked(xr, y, _to_rows(_where_full(where, x, axes), axes)[0], return_grad)
    if return_grad:
        grad = _from_rows(grad, batch, moved, axes)
    return _result(loss, grad, user, return_grad)


def _sparse_xent_masked(xr, y, wr, return_grad):
    """lse over the included classes - logits[label] (the label's logit even when masked), as optax."""
    check_labels_in_range(y, xr.shape[-1], "labels")
    xm = np.where(wr, xr, -np.inf).astype(xr.dtype, copy=False)
    label_logit = np.take_along_axis(xr, y[..., None].astype(np.intp), axis=-1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        lse = _gufuncs.logsumexp(xm)
        loss = lse - label_logit
        grad = None
        if return_grad:
            grad = _gufuncs.softmax(xm)
            grad[~wr] = 0.0  # masked classes are out of the normaliser, even in a NaN row
            np.put_along_axis(
                grad,
                y[..., None].astype(np.intp),
                np.take_along_axis(grad, y[..., None].astype(np.intp), axis=-1) - 1,
                axis=-1,
            )
    empty = ~np.any(wr, axis=-1)
    if np.any(empty):
        loss[empty] = 0.0
        if grad is not None:
            grad[empty] = 0.0
    return loss, grad


# ---- sigmoid losses ----------------------------------------------------------------------------------------


def sigmoid_binary_cross_entropy(logits, labels, *, return_grad=False):
    """``optax.losses.sigmoid_binary_cross_entropy``: -labels log σ(x) - (1 - labels) log σ(-x), element-wise.

    Parameters
    ----------
    logits : array_like of float
        Logits of the positive class.
    labels : array_like
        Targets in [0, 1], broadcastable to the logits' shape (cast to their dtype).
    return_grad : bool, default False
        Also return d sum(value) / d logits = σ(x) - labels.

    Returns
    -------
    value : ndarray
        Element-wise losses, the logits' shape and dtype.
    grad : ndarray
        Only with ``return_grad``.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import optax as cox
    >>> print(np.round(cox.sigmoid_binary_cross_entropy(np.array([-1.0, 0.0, 2.0]), np.array([0.0, 1.0, 1.0])), 4))
    [0.3133 0.6931 0.1269]
    """
    x, user = _logits(logits)
    t = _float_labels(labels, x)
    with np.errstate(invalid="ignore"):
        loss, grad = _sigmoid_xent(x, t, return_grad)
    # JAX: 0 * log_sigmoid(-/+inf) = NaN where the logit is infinite (the gradient stays 0 there)
    if x.size and not np.all(np.isfinite([np.min(x), np.max(x)])):  # element-wise only when needed
        infinite = np.isinf(x)
        loss[infinite] = np.nan
        if grad is not None:
            grad[infinite] = 0.0
    return _result(loss, grad, user, return_grad)


def _log_sigmoids(x):
    """(log σ(x), log σ(-x)) from one exp and one log1p: -(max(∓x, 0) + log1p(exp(-|x|)))."""
    soft = np.log1p(np.exp(-np.abs(x)))
    return -(np.maximum(-x, 0) + soft), -(np.maximum(x, 0) + soft)


def _logaddexp(a, b):
    """log(exp(a) + exp(b)) with SIMD NumPy ops (np.logaddexp is an order of magnitude slower)."""
    top = np.maximum(a, b)
    out = top + np.log1p(np.exp(-np.abs(a - b)))
    both_neg_inf = np.isneginf(top)
    if np.any(both_neg_inf):
        out[both_neg_inf] = -np.inf
    return out


def sigmoid_focal_loss(logits, labels, *, alpha=None, gamma=2.0, return_grad=False):
    """``optax.losses.sigmoid_focal_loss``: the sigmoid cross-entropy times (1 - p_t)^gamma, element-wise.

    Computed with optax's formula, log(1 - p_t) in log space.  There is no fused kernel for it: it costs
    about fifteen element-wise NumPy passes over the logits' size (twenty-five with ``return_grad``) and a few
    temporaries of that size.

    Parameters
    ----------
    logits : array_like of float
        Logits of the positive class.
    labels : array_like
        Targets in [0, 1], broadcastable to the logits' shape.
    alpha : float, optional
        Weight of the positive class (1 - alpha for the negative one); None: no weighting.
    gamma : float, default 2.0
        Exponent of the modulating factor.
    return_grad : bool, default False
        Also return d sum(value) / d logits.

    Returns
    -------
    value : ndarray
        Element-wise losses, the logits' shape and dtype.
    grad : ndarray
        Only with ``return_grad``.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import optax as cox
    >>> print(np.round(cox.sigmoid_focal_loss(np.array([-1.0, 0.0, 2.0]), np.array([0.0, 1.0, 1.0])), 4))
    [0.0227 0.1733 0.0018]
    """
    x, user = _logits(logits)
    t = _float_labels(labels, x)
    gamma = x.dtype.type(gamma)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore", under="ignore"):
        log_p, log_q = _log_sigmoids(x)
        ce = -(t * log_p) - (1 - t) * log_q  # optax's formula: NaN at infinite logits, as there
        # log(1 - p_t) = log((1 - t) p + t (1 - p)), in log space as optax's weighted logsumexp
        log_m = _logaddexp(log_p + np.log(1 - t), log_q + np.log(t))
        focal = np.exp(gamma * log_m)
        loss = ce * focal
        grad = None
        if return_grad:  # d ce = (1 - t) σ(x) - t σ(-x);  d log_m = (1 - 2t) σ(x) σ(-x) / m
            dce = (1 - t) * np.exp(log_p) - t * np.exp(log_q)
            dlog_m = (1 - 2 * t) * np.exp(log_p + log_q - log_m)
            grad = focal * (dce + gamma * ce * dlog_m)
        if alpha is not None:
            a = x.dtype.type(alpha)
            weight = a * t + (1 - a) * (1 - t)
            loss = weight * loss
            grad = None if grad is None else weight * grad
    return _result(loss, grad, user, return_grad)

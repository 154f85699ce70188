"""PyTorch semantics on NumPy arrays: ``torch.nn.functional`` cross-entropy losses, without torch.

Functions (the arguments, defaults and results of ``torch.nn.functional``; class axis 1):
``cross_entropy``, ``nll_loss``, ``binary_cross_entropy``, ``binary_cross_entropy_with_logits``, and the modules
``CrossEntropyLoss``, ``NLLLoss``, ``BCELoss``, ``BCEWithLogitsLoss`` (calling one calls its function).

``return_grad=True`` returns ``(value, grad)`` with ``grad`` = ``input.grad`` after ``value.sum().backward()``,
computed in the same kernel pass as the value.  Inputs are (C,), (N, C) or (N, C, d1, ...) and are never copied;
float32 in gives float32 out, float64 gives float64 (float16 is computed in float32 and cast back).

Reproduced PyTorch behaviour:
* ``reduction="mean"`` with class indices divides by the summed weight of the non-ignored targets, the same
  denominator for the label-smoothing term; with class probabilities it divides by numel(input) / C.
* Every target ignored: ``mean`` is NaN (0/0), ``sum`` 0, and the grad is all zeros.
* A negative ``label_smoothing`` is ignored (torch only switches smoothing on for > 0); > 1 raises.
* ``binary_cross_entropy`` clamps the logs at -100 and its grad divides by max(p (1 - p), 1e-12) with torch's
  float32 EPS even for float64 (p = 0, target 1 gives -1.0000000039958e12), not the derivative of the clamp.
* ``binary_cross_entropy_with_logits`` follows torch's expression, so x = -inf gives NaN for every target.
* Positional arguments bind as in torch's signatures, legacy slots included: ``size_average`` / ``reduce``
  (deprecated in torch) override ``reduction`` by torch's rules, with torch's deprecation warning.
* Errors where torch raises: an out-of-range class index gives IndexError; a bad shape, value or argument
  gives ValueError and a bad dtype TypeError (torch's RuntimeErrors), each message naming the argument.
  As in torch, class indices must be int64 (or uint8), BCE's target must have the input's dtype, and
  ``weight`` for class indices must have the input's dtype.

Differences from PyTorch (deliberate):
* A zero target probability (or a zero class weight) on a -inf logit adds 0 to the loss, the finite
  mathematically right value; torch computes 0 * (-inf) = NaN there.  Its gradient is finite in both.
* 1-D input with a one-element target of shape (1,): torch computes the value but its backward raises
  ("size mismatch"), and with label_smoothing even the value raises; here it works like a 0-d target.
* Mixed float dtypes: torch promotes a float32 input with a float64 probability target (or weight) to float64;
  here the result always has the input's dtype and the other array is cast.  Array-likes without a dtype
  (lists, Python numbers) take the input's dtype.
* ``nll_loss(reduction="mean")`` whose non-ignored targets all have weight 0 (0/0): torch's grad is NaN only
  at the target entries of those rows; here the whole row is NaN.
"""

import warnings

import numpy as np

from crossentropy import _kernels, _validate
from crossentropy._rows import run_rows

__all__ = [
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "CrossEntropyLoss",
    "NLLLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
]

_REDUCTIONS = ("none", "mean", "sum")


# ---- argument conversion ------------------------------------------------------------------------------
def _like_input(a, name, x, user_dtype=None, *, same_dtype=False, floating=False):
    """``a`` in the dtype ``x`` is computed in, with the dtype checks torch makes for this argument."""
    rule = (user_dtype, "the input's", "torch requires it") if same_dtype else None
    return _validate.like_input(a, name, x, same_dtype=rule, floating=floating)


def _ignore_index(ignore_index):
    """ignore_index as an int (torch: TypeError for a non-integer, ValueError outside int64)."""
    return _validate.ignore_value(ignore_index, "ignore_index")


def _legacy_reduction(size_average, reduce, reduction):
    """torch's ``_Reduction.legacy_get_string``: either legacy flag given overrides ``reduction`` (None counts
    as True), with torch's deprecation warning."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    legacy = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{legacy}' instead.",
        UserWarning,
        stacklevel=3,
    )
    return legacy


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: {reduction!r} is not a valid value for reduction; use one of {_REDUCTIONS}")


def _check_unit_interval(a, name):
    # torch raises for values outside [0, 1] and for NaN; min/max see NaN as a failed comparison
    with np.errstate(invalid="ignore"):
        if a.size and not (a.min() >= 0 and a.max() <= 1):
            raise ValueError(f"{name}: all elements should be between 0 and 1 (NaN is not allowed)")


# ---- results --------------------------------------------------------------------------------------------
def _reduce(loss, reduction, denominator):
    """The reduced value as a NumPy scalar (or the per-element array for "none")."""
    if reduction == "none":
        return loss[()] if loss.ndim == 0 else loss
    with np.errstate(all="ignore"):  # like the kernels: inf - inf or 0/0 (all ignored) give NaN, not errors
        total = loss.sum(dtype=loss.dtype)
        return total if reduction == "sum" else loss.dtype.type(total / loss.dtype.type(denominator))


def _per_row_constant(value, shape, dtype):
    """A read-only stride-0 array holding ``value`` for every row (the mean's 1/denominator)."""
    return np.broadcast_to(np.asarray(value, dtype), shape)


def _mean_scale(denominator, shape, dtype):
    # a zero denominator makes the grad 0/0 = NaN, as in torch; ignored rows still get 0 from the kernel
    return _per_row_constant(1.0 / denominator if denominator else np.nan, shape, dtype)


_result = _validate.as_result


# ---- softmax cross-entropy ----------------------------------------------------------------------------
def _row_shape(x):
    """Shape of the per-position output: the input without its class axis."""
    return () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]


def _softmax_rows(x, return_grad, **operands):
    """One fused kernel pass over every row (class axis 1, or 0 for 1-D input); returns (per-row loss, grad or
    None, rows with a bad label)."""
    loss, grad, counts = run_rows("softmax", x, axis=0 if x.ndim == 1 else 1, return_grad=return_grad, **operands)
    return loss, grad, counts.get("bad_label", 0)


def _class_weight(weight, n_classes, x, user_dtype, same_dtype):
    if weight is None:
        return None
    w = _like_input(weight, "weight", x, user_dtype, same_dtype=same_dtype)
    if w.shape != (n_classes,):
        raise ValueError(f"weight must have one entry per class, shape ({n_classes},), got shape {w.shape}")
    return w


def _class_indices(target, x, allow_probabilities):
    """Validated int64 class indices shaped like the input without its class axis."""
    t = np.asarray(target)
    if x.ndim == 1:
        if t.shape not in ((), (1,)):
            raise ValueError(
                f"target: for 1-D input (C,) the target is one class index, shape () or (1,), got shape {t.shape}"
            )
    elif t.shape != _row_shape(x):
        also = f" or {x.shape} (class probabilities)" if allow_probabilities else ""
        raise ValueError(
            f"target: expected shape {_row_shape(x)} (class indices: the input's shape without the "
            f"class axis 1){also} for input of shape {x.shape}, got {t.shape}"
        )
    if t.dtype != np.uint8 and not (t.dtype.kind == "i" and t.dtype.itemsize == 8):
        raise TypeError(
            f"target: class indices must be int64 (torch's Long) or uint8, got dtype {t.dtype}; "
            "convert with target.astype(np.int64)"
        )
    if t.dtype != np.int64 or not t.dtype.isnative:
        t = t.astype(np.int64)
    return t.reshape(_row_shape(x))


def _index_targets(x, user_dtype, target, weight, ignore_index, reduction, smoothing, return_grad, log_probs):
    """cross_entropy / nll_loss with class indices: composite target w_j ((1 - e) [j == y] + e / C)."""
    n_classes = x.shape[0 if x.ndim == 1 else 1]
    labels = _class_indices(target, x, allow_probabilities=not log_probs)
    w = _class_weight(weight, n_classes, x, user_dtype, same_dtype=True)
    ignore_index = _ignore_index(ignore_index)
    row_scale, denominator = None, None
    if reduction == "mean":
        kept = labels != ignore_index
        # out-of-range labels are clipped here only to stay in bounds: the kernel flags them and we raise below
        # (with no classes there is nothing to take from: every kept label is out of range, flagged below)
        denominator = (
            np.count_nonzero(kept)
            if w is None
            else np.take(w, labels[kept], mode="clip").sum(dtype=np.float64)
            if w.size
            else 0.0
        )
        if return_grad:
            row_scale = _mean_scale(denominator, labels.shape, _kernels.row_dtype(x.dtype))
    loss, grad, bad = _softmax_rows(
        x,
        return_grad,
        labels=labels,
        row_scale=row_scale,
        class_vector=w,
        c=1.0 - smoothing,
        b=smoothing / n_classes if n_classes else 0.0,
        ignore=ignore_index,
        log_probs=log_probs,
    )
    if bad:
        _validate.check_labels_in_range(labels, n_classes, "target", ignore=ignore_index)
    return _result(_reduce(loss, reduction, denominator), grad, user_dtype)


def _promote_half(x, user_dtype, other):
    """torch's type promotion of a Half/BFloat16 input with a float32/float64 tensor: the wider float (the
    gradient keeps the input's dtype)."""
    dt = getattr(other, "dtype", None)
    if _validate.is_half(user_dtype) and dt is not None and np.dtype(dt).kind == "f" and np.dtype(dt).itemsize >= 4:
        wide = np.dtype(dt).newbyteorder("=")
        return x.astype(wide), wide
    return x, user_dtype


def _grad_as_input(result, input_dtype, return_grad):
    if not return_grad or result[1].dtype == input_dtype:
        return result
    return result[0], result[1].astype(input_dtype)


def _probability_targets(x, user_dtype, target, weight, ignore_index, reduction, smoothing, return_grad):
    """cross_entropy with class probabilities: composite target w_j ((1 - e) t_j + e / C), nothing normalised."""
    input_dtype = user_dtype
    x, user_dtype = _promote_half(x, user_dtype, target)
    n_classes = x.shape[0 if x.ndim == 1 else 1]
    if _ignore_index(ignore_index) >= 0:
        raise ValueError(
            f"ignore_index={ignore_index} is not supported with class-probability targets "
            "(only negative values, which have no effect)"
        )
    t = _like_input(target, "target", x, user_dtype, floating=True)
    w = _class_weight(weight, n_classes, x, user_dtype, same_dtype=False)
    # torch divides by numel(input) / C, which is 0 / 0 = NaN for C = 0 (whatever the number of rows)
    n_rows = x.size // n_classes if n_classes else 0
    row_scale = (
        _mean_scale(n_rows, _row_shape(x), _kernels.row_dtype(x.dtype)) if reduction == "mean" and return_grad else None
    )
    loss, grad, _ = _softmax_rows(
        x,
        return_grad,
        t=t,
        row_scale=row_scale,
        class_vector=w,
        a=1.0 - smoothing,
        b=smoothing / n_classes if n_classes else 0.0,
    )
    return _grad_as_input(_result(_reduce(loss, reduction, n_rows), grad, user_dtype), input_dtype, return_grad)


def _checked_input(input, reduction):
    x, user_dtype = _validate.float_input(input, "input")
    _check_reduction(reduction)
    if x.ndim == 0:
        raise ValueError("input must have a class axis: shape (C,), (N, C) or (N, C, d1, ...), got a scalar")
    return x, user_dtype


def cross_entropy(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index=-100,
    reduce=None,
    reduction="mean",
    label_smoothing=0.0,
    *,
    return_grad=False,
):
    """``torch.nn.functional.cross_entropy``: log-softmax over the class axis and negative log-likelihood.

    Parameters
    ----------
    input : array_like
        Logits, shape (C,), (N, C) or (N, C, d1, ...): the class axis is 1 (0 for 1-D input).  float32 or
        float64 (float16 computes in float32).
    target : array_like
        Class indices (int64 or uint8, the input's shape without axis 1) or class probabilities (the input's
        shape).
    weight : array_like, optional
        One weight per class, shape (C,).
    size_average : bool, optional
        Deprecated in torch (use ``reduction``).  Given (or ``reduce`` given), it overrides ``reduction`` by
        torch's rules, with torch's deprecation warning.
    ignore_index : int, default -100
        Class index whose targets are skipped (class-index targets only).
    reduce : bool, optional
        Deprecated in torch (use ``reduction``); see ``size_average``.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"none"`` returns the per-element losses.
    label_smoothing : float, default 0.0
        Mix the targets with the uniform distribution: ``(1 - label_smoothing) t + label_smoothing / C``.
    return_grad : bool, default False
        Also return ``input.grad`` after ``loss.sum().backward()``, computed in the same pass.

    Returns
    -------
    loss : numpy scalar or ndarray
        The reduced loss, or the per-element losses for ``reduction="none"``, in the input's dtype.
    grad : ndarray
        Only with ``return_grad=True``: the input's shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import torch as T
    >>> x = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
    >>> print(f"{T.cross_entropy(x, np.array([0, 1])):.6f}")
    0.396378
    >>> loss, grad = T.cross_entropy(x, np.array([0, 1]), reduction="sum", return_grad=True)
    >>> np.round(grad, 4)  # softmax(x) - onehot
    array([[-0.2144,  0.1753,  0.0391],
           [ 0.2119, -0.4239,  0.2119]])
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    x, user_dtype = _checked_input(input, reduction)
    label_smoothing = float(label_smoothing)
    if label_smoothing > 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    smoothing = label_smoothing if label_smoothing > 0.0 else 0.0  # torch ignores a negative value (and NaN)
    if np.shape(target) == x.shape:
        return _probability_targets(x, user_dtype, target, weight, ignore_index, reduction, smoothing, return_grad)
    return _index_targets(
        x, user_dtype, target, weight, ignore_index, reduction, smoothing, return_grad, log_probs=False
    )


def nll_loss(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index=-100,
    reduce=None,
    reduction="mean",
    *,
    return_grad=False,
):
    """``torch.nn.functional.nll_loss``: ``input`` holds log-probabilities; the loss is ``-weight[y] * input[y]``.

    Parameters
    ----------
    input : array_like
        Log-probabilities, shape (C,), (N, C) or (N, C, d1, ...) (class axis 1, 0 for 1-D input).
    target : array_like
        Class indices (int64 or uint8), the input's shape without axis 1.
    weight : array_like, optional
        One weight per class, shape (C,); the mean divides by the summed weights of the targets.
    size_average : bool, optional
        Deprecated in torch (use ``reduction``).  Given (or ``reduce`` given), it overrides ``reduction`` by
        torch's rules, with torch's deprecation warning.
    ignore_index : int, default -100
        Class index whose targets are skipped.
    reduce : bool, optional
        Deprecated in torch (use ``reduction``); see ``size_average``.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"none"`` returns the per-element losses.
    return_grad : bool, default False
        Also return ``input.grad`` after ``loss.sum().backward()``, computed in the same pass.

    Returns
    -------
    loss : numpy scalar or ndarray
        The reduced loss, or the per-element losses for ``reduction="none"``, in the input's dtype.
    grad : ndarray
        Only with ``return_grad=True``: the input's shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import torch as T
    >>> logp = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
    >>> print(f"{T.nll_loss(logp, np.array([0, 2])):.6f}")
    0.289909
    >>> np.round(T.nll_loss(logp, np.array([0, 2]), weight=np.array([1.0, 1.0, 3.0]), reduction="none"), 6)
    array([0.356675, 0.669431])
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    x, user_dtype = _checked_input(input, reduction)
    return _index_targets(x, user_dtype, target, weight, ignore_index, reduction, 0.0, return_grad, log_probs=True)


# ---- binary cross-entropy -----------------------------------------------------------------------------
def _binary(x, user_dtype, z, weight, pos_weight, reduction, return_grad, mode):
    """Element-wise binary cross-entropy in one kernel pass; the mean's 1/numel goes into grad_scale."""
    grad_scale = 1.0 / x.size if reduction == "mean" and x.size else 1.0
    loss, grad, _ = run_rows(
        "binary",
        x,
        t=z,
        elementwise={"weight": weight, "pos_weight": pos_weight},
        per_element_loss=reduction == "none",
        return_grad=return_grad,
        mode=mode,
        grad_scale=grad_scale,
    )
    return _result(_reduce(loss, reduction, x.size), grad, user_dtype)


def _binary_target(target, x, user_dtype, **dtype_rule):
    z = _like_input(target, "target", x, user_dtype, **dtype_rule)
    if z.shape != x.shape:
        raise ValueError(f"target size {z.shape} must be the same as input size {x.shape}")
    return z


def _element_weight(a, name, x):
    if a is None:
        return None
    return _validate.broadcast_to_shape(
        _like_input(a, name, x), name, x.shape, "the input's", " (the result must keep the input's shape)"
    )


def binary_cross_entropy(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean", *, return_grad=False
):
    """``torch.nn.functional.binary_cross_entropy`` of probabilities (logs clamped at -100, as torch does).

    Parameters
    ----------
    input : array_like
        Probabilities in [0, 1], any shape.
    target : array_like
        Targets in [0, 1], the input's shape and dtype.
    weight : array_like, optional
        Element weights, broadcast to the input's shape.
    size_average : bool, optional
        Deprecated in torch (use ``reduction``).  Given (or ``reduce`` given), it overrides ``reduction`` by
        torch's rules, with torch's deprecation warning.
    reduce : bool, optional
        Deprecated in torch (use ``reduction``); see ``size_average``.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"none"`` returns the per-element losses.
    return_grad : bool, default False
        Also return ``input.grad`` after ``loss.sum().backward()``, computed in the same pass.

    Returns
    -------
    loss : numpy scalar or ndarray
        The reduced loss, or the per-element losses for ``reduction="none"``, in the input's dtype.
    grad : ndarray
        Only with ``return_grad=True``: the input's shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import torch as T
    >>> p = np.array([0.9, 0.2, 0.6])
    >>> print(f"{T.binary_cross_entropy(p, np.array([1.0, 0.0, 1.0])):.6f}")
    0.279777
    >>> value, grad = T.binary_cross_entropy(p, np.array([1.0, 0.0, 1.0]), reduction="sum", return_grad=True)
    >>> np.round(grad, 4)  # (p - t) / (p (1 - p))
    array([-1.1111,  1.25  , -1.6667])
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    p, user_dtype = _validate.float_input(input, "input")
    _check_reduction(reduction)
    z = _binary_target(target, p, user_dtype, same_dtype=True)
    _check_unit_interval(p, "input")
    _check_unit_interval(z, "target")
    return _binary(p, user_dtype, z, _element_weight(weight, "weight", p), None, reduction, return_grad, "prob_torch")


def binary_cross_entropy_with_logits(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None, *, return_grad=False
):
    """``torch.nn.functional.binary_cross_entropy_with_logits``: ``-(pos_weight t log σ(x) + (1 - t) log(1 - σ(x)))``.

    Parameters
    ----------
    input : array_like
        Logits, any shape.
    target : array_like
        Targets in [0, 1] (floating point), the input's shape.
    weight : array_like, optional
        Element weights, broadcast to the input's shape.
    size_average : bool, optional
        Deprecated in torch (use ``reduction``).  Given (or ``reduce`` given), it overrides ``reduction`` by
        torch's rules, with torch's deprecation warning.
    reduce : bool, optional
        Deprecated in torch (use ``reduction``); see ``size_average``.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"none"`` returns the per-element losses.
    pos_weight : array_like, optional
        Weight of the positive term, broadcast to the input's shape (typically one per class).
    return_grad : bool, default False
        Also return ``input.grad`` after ``loss.sum().backward()``, computed in the same pass.

    Returns
    -------
    loss : numpy scalar or ndarray
        The reduced loss, or the per-element losses for ``reduction="none"``, in the input's dtype.
    grad : ndarray
        Only with ``return_grad=True``: the input's shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import torch as T
    >>> x = np.array([2.0, -1.0, 0.5])
    >>> print(f"{T.binary_cross_entropy_with_logits(x, np.array([1.0, 0.0, 1.0])):.6f}")
    0.304756
    >>> value, grad = T.binary_cross_entropy_with_logits(x, np.array([1.0, 0.0, 1.0]), reduction="sum",
    ...                                                  return_grad=True)
    >>> np.round(grad, 4)  # sigmoid(x) - t
    array([-0.1192,  0.2689, -0.3775])
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    x, user_dtype = _validate.float_input(input, "input")
    _check_reduction(reduction)
    input_dtype = user_dtype
    x, user_dtype = _promote_half(x, user_dtype, target)
    z = _binary_target(target, x, user_dtype, floating=True)
    return _grad_as_input(
        _binary(
            x,
            user_dtype,
            z,
            _element_weight(weight, "weight", x),
            _element_weight(pos_weight, "pos_weight", x),
            reduction,
            return_grad,
            "logits_torch",
        ),
        input_dtype,
        return_grad,
    )


# ---- modules --------------------------------------------------------------------------------------------
class _Loss:
    """Stores the constructor arguments; calling the module calls its function with them."""

    _arguments = ()

    def __call__(self, input, target, *, return_grad=False):
        """The loss of ``input`` against ``target`` with the module's arguments.

        Parameters
        ----------
        input, target : array_like
            As for the module's function.
        return_grad : bool, default False
            Also return ``input.grad`` after ``loss.sum().backward()``.

        Returns
        -------
        loss : numpy scalar or ndarray
            As the module's function returns it (``(loss, grad)`` with ``return_grad``).
        """
        return self._function(
            input, target, return_grad=return_grad, **{name: getattr(self, name) for name in self._arguments}
        )

    forward = __call__

    def __repr__(self):
        args = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self._arguments if getattr(self, name) is not None
        )
        return f"{type(self).__name__}({args})"


class CrossEntropyLoss(_Loss):
    """``torch.nn.CrossEntropyLoss``: calling the module calls :func:`cross_entropy` with its arguments.

    Parameters
    ----------
    weight : array_like, optional
        One weight per class.
    size_average : bool, optional
        Deprecated in torch (use ``reduction``).  Given (or ``reduce`` given), it overrides ``reduction`` by
        torch's rules, with torch's deprecation warning.
    ignore_index : int, default -100
        Class index whose targets are skipped.
    reduce : bool, optional
        Deprecated in torch (use ``reduction``); see ``size_average``.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"none"`` returns the per-element losses.
    label_smoothing : float, default 0.0
        Mix the targets with the uniform distribution.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import torch as T
    >>> loss = T.CrossEntropyLoss(label_smoothing=0.1)
    >>> print(f"{loss(np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]]), np.array([0, 1])):.6f}")
    0.504711
    """

    _arguments = ("weight", "ignore_index", "reduction", "label_smoothing")
    _function = staticmethod(cross_entropy)

    def __init__(
        self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean", label_smoothing=0.0
    ):
        reduction = _legacy_reduction(size_average, reduce, reduction)
        _check_reduction(reduction)
        self.weight, self.ignore_index, self.reduction = weight, ignore_index, reduction
        self.label_smoothing = label_smoothing


class NLLLoss(_Loss):
    """``torch.nn.NLLLoss``: calling the module calls :func:`nll_loss` with its arguments.

    Parameters
    ----------
    weight : array_like, optional
        One weight per class.
    size_average : bool, optional
        Deprecated in torch (use ``reduction``).  Given (or ``reduce`` given), it overrides ``reduction`` by
        torch's rules, with torch's deprecation warning.
    ignore_index : int, default -100
        Class index whose targets are skipped.
    reduce : bool, optional
        Deprecated in torch (use ``reduction``); see ``size_average``.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"none"`` returns the per-element losses.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import torch as T
    >>> logp = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
    >>> print(f"{T.NLLLoss(ignore_index=2)(logp, np.array([0, 2])):.6f}")
    0.356675
    """

    _arguments = ("weight", "ignore_index", "reduction")
    _function = staticmethod(nll_loss)

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        reduction = _legacy_reduction(size_average, reduce, reduction)
        _check_reduction(reduction)
        self.weight, self.ignore_index, self.reduction = weight, ignore_index, reduction


class BCELoss(_Loss):
    """``torch.nn.BCELoss``: calling the module calls :func:`binary_cross_entropy` with its arguments.

    Parameters
    ----------
    weight : array_like, optional
        Element weights, broadcast to the input's shape.
    size_average : bool, optional
        Deprecated in torch (use ``reduction``).  Given (or ``reduce`` given), it overrides ``reduction`` by
        torch's rules, with torch's deprecation warning.
    reduce : bool, optional
        Deprecated in torch (use ``reduction``); see ``size_average``.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"none"`` returns the per-element losses.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import torch as T
    >>> print(T.BCELoss(reduction="none")(np.array([0.9, 0.2]), np.array([1.0, 0.0])).round(6))
    [0.105361 0.223144]
    """

    _arguments = ("weight", "reduction")
    _function = staticmethod(binary_cross_entropy)

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        reduction = _legacy_reduction(size_average, reduce, reduction)
        _check_reduction(reduction)
        self.weight, self.reduction = weight, reduction


class BCEWithLogitsLoss(_Loss):
    """``torch.nn.BCEWithLogitsLoss``: calling the module calls :func:`binary_cross_entropy_with_logits`.

    Parameters
    ----------
    weight : array_like, optional
        Element weights, broadcast to the input's shape.
    size_average : bool, optional
        Deprecated in torch (use ``reduction``).  Given (or ``reduce`` given), it overrides ``reduction`` by
        torch's rules, with torch's deprecation warning.
    reduce : bool, optional
        Deprecated in torch (use ``reduction``); see ``size_average``.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"none"`` returns the per-element losses.
    pos_weight : array_like, optional
        Weight of the positive term, broadcast to the input's shape.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy import torch as T
    >>> loss = T.BCEWithLogitsLoss(pos_weight=np.array([2.0]))
    >>> print(f"{loss(np.array([2.0, -1.0, 0.5]), np.array([1.0, 0.0, 1.0])):.6f}")
    0.505091
    """

    _arguments = ("weight", "reduction", "pos_weight")
    _function = staticmethod(binary_cross_entropy_with_logits)

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        reduction = _legacy_reduction(size_average, reduce, reduction)
        _check_reduction(reduction)
        self.weight, self.reduction, self.pos_weight = weight, reduction, pos_weight

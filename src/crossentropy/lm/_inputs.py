"""Argument checks and the kernel calls shared by ``crossentropy.lm``: every message names the argument."""

import math

import numpy as np

from crossentropy import _kernels
from crossentropy._layout import class_last, row_blocks
from crossentropy._validate import axis_index, float_array, ignore_value

_HALF_NAMES = ("float16", "bfloat16")


def logits_array(logits):
    """``logits`` as an array the kernels read directly: float16/bfloat16/float32/float64 as given (native
    byte order), integers and bools as float64."""
    try:
        arr = np.asarray(logits)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"logits must be array-like of numbers: {exc}") from None
    if arr.dtype.name in _HALF_NAMES:  # read as stored: no float32 copy of an N x V array
        return arr if arr.dtype.isnative and arr.flags.aligned else arr.astype(arr.dtype.newbyteorder("="))
    if arr.ndim == 0:
        raise ValueError("logits must have a class axis, got a 0-d array")
    return float_array(arr, "logits")


def result_dtype(x):
    """Float results: the kernels' per-row dtype (float64 for float64 logits, float32 otherwise)."""
    return _kernels.row_dtype(x.dtype)


def labels_array(labels, expected_shape):
    """Integer class labels of the batch shape (int32/int64 kept, other integers widened)."""
    arr = np.asarray(labels)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iu":
        raise TypeError(f"labels must hold integer class indices, got dtype {arr.dtype}")
    if arr.shape != expected_shape:
        raise ValueError(
            f"labels must have the logits' shape without the class axis, {expected_shape}, got {arr.shape}"
        )
    if arr.dtype not in (np.int32, np.int64) or not arr.dtype.isnative:
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise IndexError(f"labels contains {int(arr.max())}, outside the valid class range")
        arr = arr.astype(np.int64)
    return arr


def softcap_value(softcap):
    if softcap is None:
        return None
    try:
        value = float(softcap)
    except (TypeError, ValueError):
        raise TypeError(f"softcap must be None or a positive number, got {type(softcap).__name__}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"softcap must be None or a positive finite number, got {softcap!r}")
    return value


def nonnegative(value, name, upper=math.inf):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}") from None
    if not (0.0 <= v <= upper):
        bound = f"[0, {upper:g}]" if math.isfinite(upper) else "finite and >= 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return v


def check_labels(labels, n_classes, ignore):
    """IndexError naming the first label that is neither a class in [0, n_classes) nor ``ignore``."""
    if labels.size == 0:
        return
    bad = ((labels < 0) | (labels >= n_classes)) & (labels != ignore)
    if bad.any():
        first = int(labels[bad].flat[0])
        raise IndexError(
            f"labels contains {first}, outside the valid class range [0, {n_classes}) and not ignore_index={ignore}"
        )


def prepare(logits, labels, axis, ignore_index):
    """(logits with the class axis last, labels, ignore value), all checked."""
    x = logits_array(logits)
    ax = axis_index(axis, x.ndim)
    x = class_last(x, ax)
    ignore = ignore_value(ignore_index, "ignore_index")
    lab = labels_array(labels, x.shape[:-1])
    check_labels(lab, x.shape[-1], ignore)
    return x, lab, ignore


def run_token_stats(x, lab, ignore, softcap, nll, lse, entropy, rank):
    """One kernel call per block of rows (one in all when the leading axes merge without a copy)."""
    for xb, lb, nb, sb, eb, rb in row_blocks(x, lab, nll, lse, entropy, rank):
        _kernels.lm_token_stats_rows(xb, nb, labels=lb, lse=sb, entropy=eb, rank=rb, ignore=ignore, softcap=softcap)


def run_cross_entropy(x, lab, ignore, softcap, label_smoothing, z_loss, loss, grad, grad_scale):
    for xb, lb, lossb, gb in row_blocks(x, lab, loss, grad):
        _kernels.lm_xent_rows(
            xb,
            lossb,
            labels=lb,
            ignore=ignore,
            softcap=softcap,
            label_smoothing=label_smoothing,
            z_loss=z_loss,
            grad_scale=grad_scale,
            grad=gb,
        )

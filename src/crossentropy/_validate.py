"""Argument checks shared by the framework layers; every message names the argument and what was wrong."""
import operator

import numpy as np


def float_array(x, name, dtype=None):
    """``x`` as a float32/float64 array.  dtype=None keeps float32/float64 and promotes anything else
    (ints, bools, float16) to float64 unless the layer asks for a dtype."""
    try:
        arr = np.asarray(x)
    except Exception as exc:   # ragged lists and the like
        raise TypeError(f"{name} must be array-like of numbers: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if dtype is None:   # compare in native byte order: a big-endian float32 stays float32
        native = arr.dtype.newbyteorder("=")
        dtype = native if native in (np.float32, np.float64) else np.float64
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    if arr.dtype != dtype or not arr.dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))
    if not arr.flags.aligned:
        arr = arr.copy()
    return arr


def int_labels(y, name):
    """Integer class labels as a native int32/int64 array; floats that are whole numbers are accepted
    (Keras passes labels around as floats), anything else raises."""
    arr = np.asarray(y)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.floor(arr)):
            raise ValueError(f"{name} must hold integer class indices, got non-integer values")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind in "iu":
        if arr.dtype not in (np.int32, np.int64) or not arr.dtype.isnative:
            arr = arr.astype(np.int64)
    else:
        raise TypeError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    return arr


def check_labels_in_range(labels, n_classes, name, ignore=None):
    """Raise IndexError naming the first label outside [0, n_classes) (``ignore`` is allowed)."""
    if labels.size == 0:
        return
    bad = (labels < 0) | (labels >= n_classes)
    if ignore is not None:
        bad &= labels != ignore
    if bad.any():
        first = labels[bad].flat[0]
        raise IndexError(f"{name} contains {int(first)}, outside the valid class range [0, {n_classes})"
                         + (f" (and not ignore value {ignore})" if ignore is not None else ""))


def axis_index(axis, ndim, name="axis"):
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(axis).__name__}") from None
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of bounds for an input with {ndim} dimensions")
    return axis % ndim


def same_shape(a, b, name_a, name_b):
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}")


def one_of(value, name, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value

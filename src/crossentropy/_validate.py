"""Argument checks shared by the framework layers; every message names the argument and what was wrong."""

import operator

import numpy as np


def float_array(x, name, dtype=None):
    """``x`` as a float32/float64 array.  dtype=None keeps float32/float64 and promotes anything else
    (ints, bools, float16) to float64 unless the layer asks for a dtype."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be array-like of numbers: {exc}") from None
    if arr.dtype.kind not in "biuf" and not is_half(arr.dtype):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if dtype is None:  # compare in native byte order: a big-endian float32 stays float32
        native = arr.dtype.newbyteorder("=")
        dtype = native if native in (np.float32, np.float64) else np.float64
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64) and not is_half(dtype):
        raise TypeError(f"dtype must be float16, bfloat16, float32 or float64, got {dtype}")
    if arr.dtype != dtype or not arr.dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))
    if not arr.flags.aligned:
        arr = arr.copy()
    return arr


def is_half(dtype):
    """float16, or ml_dtypes' bfloat16 (whose NumPy kind is "V", so it is recognised by name)."""
    dtype = np.dtype(dtype)
    return dtype.newbyteorder("=") == np.float16 or dtype.name == "bfloat16"


def bfloat16_dtype(name):
    """ml_dtypes' bfloat16, or an ImportError naming the argument that asked for it."""
    try:
        import ml_dtypes
    except ImportError:
        raise ImportError(
            f"{name}='bfloat16' needs the ml_dtypes package: pip install \"crossentropy[bfloat16]\" "
            "(or pip install ml_dtypes)"
        ) from None
    return np.dtype(ml_dtypes.bfloat16)


def float_input(x, name):
    """(array to compute with, dtype of the result) for layers that refuse non-float input (torch, tf.nn):
    float32/float64 compute as they are; float16 and bfloat16 are read by the kernels as they are (no
    float32 copy), computed in float32, and the result comes back in their dtype."""
    arr = np.asarray(x)
    if is_half(arr.dtype):
        if not arr.dtype.isnative or not arr.flags.aligned:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        return arr, arr.dtype
    if arr.dtype.kind != "f":
        raise TypeError(
            f"{name} must be a floating-point array (float16, bfloat16, float32 or float64), got dtype {arr.dtype}"
        )
    computed = float_array(arr, name)
    return computed, computed.dtype


def like_input(a, name, x, *, same_dtype=None, floating=False):
    """``a`` in the dtype ``x`` computes in.  same_dtype: None, or (dtype, "the input's", "torch requires it"):
    an array of another dtype is refused, naming whose dtype and why; floating: an integer array is refused.
    Array-likes without a dtype (lists, numbers) are simply converted; byte order never counts."""
    has_dtype = hasattr(a, "dtype")
    arr = np.asarray(a)
    if has_dtype and same_dtype is not None and arr.dtype.newbyteorder("=") != same_dtype[0]:
        dtype, whose, why = same_dtype
        raise TypeError(f"{name} must have {whose} dtype {dtype} ({why}), got {arr.dtype}")
    if has_dtype and floating and arr.dtype.kind != "f" and not is_half(arr.dtype):
        raise TypeError(f"{name} must be a floating-point array, got dtype {arr.dtype}")
    return float_array(arr, name, x.dtype)


def broadcast_to_shape(a, name, shape, whose, why=""):
    """A read-only stride-0 view of ``a`` with ``shape`` (nothing copied), or ValueError naming ``a``."""
    try:
        return np.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(f"{name} of shape {np.shape(a)} does not broadcast to {whose} shape {shape}{why}") from None


def ignore_value(value, name, *, whole_floats=False):
    """An ignored label as a Python int.  The kernels take an int64 and reserve -2**63 for "nothing ignored",
    so the value must lie in (-2**63, 2**63).  whole_floats: accept 3.0 (Keras), and refuse anything else
    with ValueError (Keras' error class); otherwise a non-integer is a TypeError (torch's)."""
    try:
        result = operator.index(value)
    except TypeError:
        if not whole_floats:
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
        if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
            raise ValueError(f"{name} must be None or an integer class id, got {value!r}") from None
        result = int(value)
    if not -(2**63) < result < 2**63:
        raise ValueError(f"{name}={result} is outside (-2**63, 2**63): an int64, and -2**63 is reserved")
    return result


def as_result(value, grad, out_dtype):
    """A layer's return value: a 0-d value as a NumPy scalar, value and grad in ``out_dtype`` (float16 results
    round as the frameworks' do, without overflow warnings); ``value`` alone when ``grad`` is None."""
    value = value[()] if np.ndim(value) == 0 else value
    with np.errstate(over="ignore", under="ignore"):
        value = value.astype(out_dtype) if value.dtype != out_dtype else value
        return value if grad is None else (value, grad.astype(out_dtype, copy=False))


def int_labels(y, name):
    """Integer class labels as a native int32/int64 array; floats that are whole numbers are accepted
    (Keras passes labels around as floats), anything else raises."""
    arr = np.asarray(y)
    if is_half(arr.dtype):  # float16/bfloat16 labels: checked as floats, in float32 (exact for both)
        arr = arr.astype(np.float32)
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
        raise IndexError(
            f"{name} contains {int(first)}, outside the valid class range [0, {n_classes})"
            + (f" (and not ignore value {ignore})" if ignore is not None else "")
        )


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

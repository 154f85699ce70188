"""scikit-learn semantics on NumPy arrays: ``sklearn.metrics.log_loss`` without its dense one-hot matrix.

``log_loss`` takes the arguments of scikit-learn 1.9's ``sklearn.metrics.log_loss`` and returns the same
Python float, with the same warnings and errors (same exception classes, same messages), but it never builds
the (n_samples, n_classes) one-hot label matrix or any other full-size temporary: float32 and float64
probabilities are read once, by one parallel kernel pass over the rows that gives each row's min, max and sum
and each sample's probability of its true class (O(n_samples) extra memory).

Reproduced scikit-learn behaviour:

* Classes are the sorted unique values of ``y_true`` (or of ``labels=``), as ``LabelBinarizer`` sorts them;
  any hashable, orderable labels work (strings too).  A single ``y_proba`` column, or a 1-D ``y_proba``, is
  the probability of the second class.  A 2-D 0/1 ``y_true`` with several columns is a multilabel indicator.
* Probabilities are clipped to ``[eps, 1 - eps]`` with ``eps = np.finfo(y_proba.dtype).eps`` (float16,
  float32 or float64; other inputs become float64) and are not renormalised: rows that do not sum to 1 (within
  ``sqrt(eps)``) give a ``UserWarning``.  Logarithms and sums are taken in ``y_proba``'s dtype, as in
  scikit-learn.
* NaN or infinite probabilities, sample weights or labels raise ``ValueError`` as scikit-learn's input checks
  do; values outside [0, 1] raise; ``labels=`` not in sorted order warns; ``y_pred=`` still works with a
  ``FutureWarning``.  Invalid parameter types raise :class:`InvalidParameterError` (a ``ValueError`` and a
  ``TypeError``, like scikit-learn's).

Differences (deliberate): sparse matrices, pandas extension dtypes and array-API namespaces other than NumPy
are not accepted as ``y_proba`` (they are converted with ``np.asarray``); the sum of a multilabel-indicator
row is accumulated in float64 before rounding to ``y_proba``'s dtype.
"""

import math
import warnings

import numpy as np

from crossentropy._kernels import row_stats_rows

__all__ = ["InvalidParameterError", "log_loss"]

_FLOAT_DTYPES = (np.float64, np.float32, np.float16)
_BINCOUNT_SPAN = 1 << 22  # integer labels spanning fewer values are encoded by counting, not sorting
_UNIQUE_CACHE = {}  # id(labels) -> (labels, sorted unique labels), alive only during one _encode call


class InvalidParameterError(ValueError, TypeError):
    """A parameter of the wrong type or value, as scikit-learn's ``InvalidParameterError`` (a ValueError and a
    TypeError)."""


# ---- parameter validation (scikit-learn's validate_params) ------------------------------------------------


def _is_array_like(x):
    return (hasattr(x, "__len__") or hasattr(x, "shape") or hasattr(x, "__array__")) and not np.isscalar(x)


def _check_params(y_true, y_proba, normalize, sample_weight, labels, y_pred):
    def bad(name, expected, value):
        raise InvalidParameterError(f"The {name!r} parameter of log_loss must be {expected}. Got {value!r} instead.")

    if not _is_array_like(y_true):
        bad("y_true", "an array-like", y_true)
    if y_proba is not None and not _is_array_like(y_proba):
        bad("y_proba", "an array-like", y_proba)
    if not isinstance(normalize, (bool, np.bool_)):
        bad("normalize", "an instance of 'bool' or an instance of 'numpy.bool'", normalize)
    if sample_weight is not None and not _is_array_like(sample_weight):
        bad("sample_weight", "an array-like or None", sample_weight)
    if labels is not None and not _is_array_like(labels):
        bad("labels", "an array-like or None", labels)
    if not (isinstance(y_pred, str) or _is_array_like(y_pred)):
        bad("y_pred", "an array-like or an instance of 'str'", y_pred)


# ---- array checks (scikit-learn's check_array and friends) -------------------------------------------------


def _assert_finite(arr, input_name=""):
    """NaN / infinity check by two reductions (no full-size boolean temporary)."""
    if arr.dtype.kind != "f" or arr.size == 0:
        return
    lo, hi = np.min(arr), np.max(arr)
    where = f"Input {input_name} contains" if input_name else "Input contains"
    if math.isnan(lo) or math.isnan(hi):
        raise ValueError(f"{where} NaN.")
    if math.isinf(lo) or math.isinf(hi):
        raise ValueError(f"{where} infinity or a value too large for {arr.dtype!r}.")


def _proba_array(y_proba):
    """``y_proba`` as check_array(ensure_2d=False, dtype=[float64, float32, float16]) makes it, but for the
    NaN / infinity check, which _ProbaStats makes (check_array makes it before the empty-array checks, which
    only fail when there is nothing to check)."""
    arr = np.asarray(y_proba)
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported\n{arr}\n")
    if arr.dtype.newbyteorder("=") not in _FLOAT_DTYPES:
        arr = np.asarray(y_proba, dtype=np.float64)  # strings raise numpy's "could not convert" ValueError
    if arr.ndim == 0:
        raise TypeError(
            f"Input should have at least 1 dimension i.e. satisfy `len(x.shape) > 0`, got scalar `{arr!r}` instead."
        )
    if arr.ndim >= 3:
        raise ValueError(f"Found array with dim {arr.ndim}, while dim <= 2 is required.")
    if arr.shape[0] < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required.")
    if arr.ndim == 2 and arr.shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
    return arr


class _ProbaStats:
    """What log_loss needs from the probabilities: their min and max (checked finite, as check_array does),
    and for several columns the min and max row sums and, given each sample's class index, each sample's
    probability clipped to [eps, 1 - eps].  float32 / float64 matrices are read once, by one parallel kernel
    pass over the rows (O(n_samples) extra memory); other inputs by NumPy reductions."""

    def __init__(self, arr, index=None):
        self.eps = np.finfo(arr.dtype).eps
        self.low, self.high = self.eps, arr.dtype.type(1) - self.eps
        self.kernel = (
            arr.ndim == 2 and arr.shape[1] >= 2 and arr.dtype in (np.float32, np.float64) and arr.dtype.isnative
        )
        self.sum_range = self.picked = None
        if not self.kernel:
            _assert_finite(arr)
            self.lo, self.hi = np.min(arr), np.max(arr)
            return
        n = arr.shape[0]
        out = np.empty((3 + (index is not None), n), arr.dtype)  # one allocation: large pages, fewer page faults
        row_min, row_max, row_sum = out[:3]
        picked = out[3] if index is not None else None
        row_stats_rows(
            arr, row_min=row_min, row_max=row_max, row_sum=row_sum, labels=index, picked=picked, clip=self._clip(index)
        )
        self.lo, self.hi = np.min(row_min), np.max(row_max)  # NaN when any row holds a NaN
        if math.isnan(self.lo) or math.isnan(self.hi):
            raise ValueError("Input contains NaN.")
        if math.isinf(self.lo) or math.isinf(self.hi):
            raise ValueError(f"Input contains infinity or a value too large for {arr.dtype!r}.")
        self.sum_range = np.min(row_sum), np.max(row_sum)
        self.picked = picked

    def _clip(self, index):
        return (float(self.low), float(self.high)) if index is not None else None

    def true_class_proba(self, arr, index):
        """Each sample's probability of its class, clipped (one strided read unless the pass took it)."""
        if self.picked is None:
            self.picked = np.empty(arr.shape[0], arr.dtype)
            row_stats_rows(arr, labels=index, picked=self.picked, clip=self._clip(index))
        return self.picked


def _num_samples(x):
    if hasattr(x, "shape") and x.shape is not None:
        if len(x.shape) == 0:
            raise TypeError(
                f"Input should have at least 1 dimension i.e. satisfy `len(x.shape) > 0`, got scalar `{x!r}` instead."
            )
        return x.shape[0]
    return len(x)


def _check_sample_weight(sample_weight, n_samples):
    sw = np.asarray(sample_weight)
    if sw.dtype.kind == "c":
        raise ValueError(f"Complex data not supported\n{sw}\n")
    _assert_finite(sw, "sample_weight")
    if sw.ndim != 1:
        raise ValueError(
            f"Sample weights must be 1D array or scalar, got {sw.ndim}D array. Expected either a "
            f"scalar value or a 1D array of length {n_samples}."
        )
    if sw.shape != (n_samples,):
        raise ValueError(f"sample_weight.shape == {sw.shape}, expected {(n_samples,)}!")
    if not np.any(sw != 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")


# ---- labels (scikit-learn's type_of_target, unique_labels and LabelBinarizer) ------------------------------


def _target_array(y):
    try:
        return np.asarray(y)
    except ValueError:  # ragged
        return np.asarray(y, dtype=object)


def _type_of_target(y, input_name=""):
    """'binary', 'multiclass', 'multilabel-indicator', 'continuous', '...-multioutput' or 'unknown'."""
    arr = _target_array(y)
    if arr.ndim >= 1 and arr.shape[0] > 0:
        first = arr[0] if hasattr(y, "__array__") else y[0]
        if isinstance(first, bytes):
            raise TypeError(
                "Support for labels represented as bytes is not supported. Convert the labels to a "
                "string or integer format."
            )
    if arr.ndim == 2 and arr.shape[1] > 1 and arr.size:
        values = np.unique(arr) if arr.dtype != object else None
        if (
            values is not None
            and len(values) < 3
            and (arr.dtype.kind in "biu" or (arr.dtype.kind == "f" and np.all(values == values.astype(int))))
        ):
            return "multilabel-indicator"
    if arr.ndim not in (1, 2):
        return "unknown"
    if not min(arr.shape):
        return "binary" if arr.ndim == 1 else "unknown"
    if arr.dtype == object and not isinstance(arr.flat[0], str):
        return "unknown"
    suffix = "-multioutput" if arr.ndim == 2 and arr.shape[1] > 1 else ""
    if arr.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            integral = arr.astype(np.int64).astype(arr.dtype)
        if np.any(arr != integral):
            _assert_finite(arr, input_name)
            return "continuous" + suffix
    if arr.ndim == 2 and arr.shape[1] > 1:
        return "multiclass" + suffix
    _UNIQUE_CACHE[id(y)] = (y, _unique(y, arr))  # reused by _classes: one sort / count per call
    return "multiclass" if len(_UNIQUE_CACHE[id(y)][1]) > 2 else "binary"


def _unique(y, arr):
    """Sorted unique labels as scikit-learn's unique_labels finds them (a set for plain sequences)."""
    if not hasattr(y, "__array__"):
        found = set(y)  # unhashable rows raise TypeError here, as in scikit-learn
        if len({isinstance(v, str) for v in found}) > 1:
            raise ValueError(f"Mix of label input types (string and number); Got {np.unique(arr)}.")
        return np.asarray(sorted(found))
    if arr.dtype.kind in "iu" and arr.size and arr.ndim == 1:
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo < _BINCOUNT_SPAN:
            return np.flatnonzero(np.bincount(arr - lo if lo else arr)).astype(arr.dtype) + arr.dtype.type(lo)
    return np.unique(arr)


def _fast_class_index(y_true, labels, n_samples, n_cols):
    """(classes, per-sample class index) of a 1-D integer y_true array without ``labels=``, as _encode would
    return them, when it would return them without a warning or error (several classes, as many as
    ``y_proba`` has columns); else None.  Computed before the input checks so that the one pass over
    ``y_proba`` also picks each sample's probability: it has no side effects."""
    if (
        labels is not None
        or type(y_true) is not np.ndarray
        or y_true.ndim != 1
        or y_true.dtype.kind not in "iu"
        or y_true.shape[0] != n_samples
        or n_samples == 0
    ):
        return None
    classes = _unique(y_true, y_true)
    if classes.shape[0] < 2 or classes.shape[0] != n_cols:
        return None
    if classes[0] == 0 and classes[-1] == n_cols - 1 and y_true.dtype in (np.int64, np.int32) and y_true.dtype.isnative:
        return classes, y_true  # classes are 0..n_cols-1: each label is its own index
    return classes, _class_index(y_true, classes)


def _classes(y, y_type):
    if "multioutput" in y_type:
        raise ValueError("Multioutput target data is not supported with label binarization")
    if y_type == "multilabel-indicator":
        return np.arange(_target_array(y).shape[1])
    if y_type not in ("binary", "multiclass"):
        raise ValueError(f"Unknown label type: {(y,)!r}")
    cached = _UNIQUE_CACHE.pop(id(y), None)
    if cached is not None and cached[0] is y:
        return cached[1]
    return _unique(y, _target_array(y))


def _encode(y_true, labels):
    """(classes, per-sample class index) or (classes, indicator matrix) for a multilabel indicator."""
    try:
        return _encode_uncached(y_true, labels)
    finally:
        _UNIQUE_CACHE.clear()


def _encode_uncached(y_true, labels):
    for given in (y_true, labels):  # scikit-learn sorts object arrays up front: mixed types raise TypeError
        if hasattr(given, "__array__") and np.asarray(given).dtype == object:
            np.unique(np.asarray(given))
    if labels is not None:
        classes = _classes(labels, _type_of_target(labels, "y"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning))
            in_order = np.array_equal(classes, np.asarray(labels)) or bool(np.all(classes == np.asarray(labels)))
        if not in_order:
            warnings.warn(
                f"Labels passed were {labels}. But this function assumes labels are ordered "
                f"lexicographically. Pass the ordered labels={classes.tolist()} and ensure that the "
                "columns of y_prob correspond to this ordering.",
                UserWarning,
                stacklevel=3,
            )
        if not np.all(np.isin(_target_array(y_true), np.asarray(labels))):
            undeclared = set(y_true) - set(labels)
            raise ValueError(f"y_true contains values {undeclared} not belonging to the passed labels {labels}.")
        fit_type = _type_of_target(labels, "y")
    else:
        fit_type = _type_of_target(y_true, "y")
        classes = _classes(y_true, fit_type)
    if classes.shape[0] == 1:
        if labels is None:
            raise ValueError(
                f"y_true contains only one label ({classes[0]}). Please provide the list of all "
                "expected class labels explicitly through the labels argument."
            )
        raise ValueError(f"The labels array needs to contain at least two labels, got {classes}.")

    y_type = _type_of_target(y_true, "y") if labels is not None else fit_type
    if y_type.startswith("multilabel") and not fit_type.startswith("multilabel"):
        raise ValueError("The object was not fitted with multilabel input.")
    if "multioutput" in y_type:
        raise ValueError("Multioutput target data is not supported with label binarization")
    if y_type == "unknown":
        raise ValueError("The type of target data is not known")
    arr = _target_array(y_true)
    if y_type == "multilabel-indicator":
        if classes.shape[0] != arr.shape[1]:
            raise ValueError(f"classes {classes} mismatch with the labels {np.arange(arr.shape[1])} found in the data")
        return classes, arr
    if y_type not in ("binary", "multiclass"):
        raise ValueError(f"{y_type} target data is not supported with label binarization")
    if arr.ndim == 2:  # a column: scikit-learn's column_or_1d warns and ravels it
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the shape of y "
            "to (n_samples, ), for example using ravel().",
            UserWarning,
            stacklevel=3,
        )
        arr = arr.reshape(-1)
    return classes, _class_index(arr, classes)


def _class_index(y, classes):
    """Index of each label in the sorted ``classes`` (every label is known to be one of them)."""
    if y.dtype.kind in "iu" and classes.dtype.kind in "iu" and y.size:
        lo = int(classes[0])
        span = int(classes[-1]) - lo + 1
        if span <= _BINCOUNT_SPAN:
            table = np.zeros(span, np.intp)
            table[classes.astype(np.int64) - lo] = np.arange(classes.shape[0])
            return table[y - lo if lo else y]
    if y.dtype.kind in "iu" and classes.dtype.kind in "iu":
        classes = classes.astype(y.dtype)
    return np.searchsorted(classes, y)


# ---- the loss ----------------------------------------------------------------------------------------------


def _row_sums(p2, binary):
    """Per-row sums of the probability matrix scikit-learn builds (two columns for binary input)."""
    if binary:
        return (1 - p2) + p2
    if p2.dtype != np.float16:
        return np.einsum("ij->i", p2)  # one streaming pass, O(n) result; faster than sum(axis=1) on short rows
    return np.sum(p2, axis=1)


def _true_class_proba(p2, binary, index):
    """Each sample's probability of its true class, as scikit-learn's two-column / one-hot product picks it."""
    if binary:
        return np.where(index == 1, p2, 1 - p2)
    if p2.flags.c_contiguous:  # one flat take: faster than a two-array fancy index
        n, c = p2.shape
        flat = np.arange(0, n * c, c, dtype=np.intp)
        flat += index
        return np.take(p2.reshape(-1), flat)
    return p2[np.arange(p2.shape[0]), index]


def _log(values):
    """-log in the probabilities' own dtype, as scikit-learn's ``x * log(y)`` computes it."""
    return -np.log(values)


def log_loss(y_true, y_proba=None, *, normalize=True, sample_weight=None, labels=None, y_pred="deprecated"):
    """Log loss (cross-entropy) of predicted probabilities, exactly as ``sklearn.metrics.log_loss``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or label indicator matrix (n_samples, n_classes)
        True labels of any hashable, orderable type (integers, whole-number floats, strings).
    y_proba : array-like of float, shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities, columns in the sorted order of the classes.  A 1-D array (or one column)
        is the probability of the second class.
    normalize : bool, default=True
        Return the mean loss per sample (weighted by ``sample_weight``) instead of the sum.
    sample_weight : array-like of shape (n_samples,), optional
        Sample weights.
    labels : array-like, optional
        All class labels; inferred from ``y_true`` when not given.
    y_pred : array-like, optional
        Deprecated name of ``y_proba`` (a ``FutureWarning``).

    Returns
    -------
    float
        The log loss.

    Examples
    --------
    >>> from crossentropy.sklearn import log_loss
    >>> print(f"{log_loss(['spam', 'ham', 'ham', 'spam'], [[.1, .9], [.9, .1], [.8, .2], [.35, .65]]):.5f}")
    0.21616
    >>> print(f"{log_loss([0, 2, 1], [[.7, .2, .1], [.1, .1, .8], [.3, .4, .3]], normalize=False):.4f}")
    1.4961
    """
    _check_params(y_true, y_proba, normalize, sample_weight, labels, y_pred)
    if not (isinstance(y_pred, str) and y_pred == "deprecated"):
        if y_proba is not None:
            raise ValueError("Cannot use both `y_pred` and `y_proba`. `y_pred` is deprecated, use `y_proba` instead.")
        warnings.warn(
            "`y_pred` was renamed to `y_proba` in version 1.9 and will be removed in 1.11. Use `y_proba` instead.",
            FutureWarning,
            stacklevel=2,
        )
        y_proba = y_pred
    if y_proba is None:  # scikit-learn reads None as a NaN array
        raise ValueError("Input contains NaN.")
    p = _proba_array(y_proba)
    fast = None
    if p.ndim == 2 and p.shape[1] >= 2:  # integer labels: their class index goes into the one pass over p
        fast = _fast_class_index(y_true, labels, p.shape[0], p.shape[1])
    stats = _ProbaStats(p, fast[1] if fast is not None else None)
    hi, lo = stats.hi, stats.lo
    if hi > 1:
        raise ValueError(f"y_prob contains values greater than 1: {hi}")
    if lo < 0:
        raise ValueError(f"y_prob contains values lower than 0: {lo}")
    lengths = [_num_samples(a) for a in (p, y_true, sample_weight) if a is not None]
    if len(set(lengths)) > 1:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: {[int(n) for n in lengths]}")
    if sample_weight is not None:
        _check_sample_weight(sample_weight, p.shape[0])

    classes, encoded = fast if fast is not None else _encode(y_true, labels)

    binary = p.ndim == 1 or p.shape[1] == 1
    p2 = p.reshape(-1) if binary else p
    n_cols = 2 if binary else p.shape[1]
    eps = stats.eps
    if stats.sum_range is not None:  # the largest |sum - 1| from the smallest and largest row sums
        one = p.dtype.type(1)
        deviation = max(stats.sum_range[1] - one, one - stats.sum_range[0])
    else:
        deviation = np.max(np.abs(_row_sums(p2, binary) - 1))
    # np.isclose(sums, 1, rtol=sqrt(eps)) for every row <=> the largest |sum - 1| is within 1e-8 + sqrt(eps)
    if not deviation <= 1e-8 + math.sqrt(eps):
        warnings.warn(
            "The y_prob values do not sum to one. Make sure to pass probabilities.", UserWarning, stacklevel=2
        )
    if classes.shape[0] != n_cols:
        if labels is None:
            raise ValueError(
                f"y_true and y_prob contain different number of classes: {classes.shape[0]} vs "
                f"{n_cols}. Please provide the true labels explicitly through the labels argument. "
                f"Classes found in y_true: {classes}"
            )
        raise ValueError(
            f"The number of classes in labels is different from that in y_prob. Classes found in labels: {classes}"
        )

    low, high = stats.low, stats.high
    if encoded.ndim == 2:  # multilabel indicator: only its nonzero entries contribute
        rows, cols = np.nonzero(encoded)
        weights = encoded[rows, cols].astype(np.float64)
        picked = np.clip(p2[rows, cols], low, high)
        loss = np.bincount(rows, weights * _log(picked), minlength=p.shape[0]).astype(p.dtype)
    elif stats.kernel:
        loss = stats.true_class_proba(p2, encoded)
        np.negative(np.log(loss, out=loss), out=loss)  # -log in place: no second O(n) array
    else:
        loss = _log(np.clip(_true_class_proba(p2, binary, encoded), low, high))

    if normalize:
        return float(np.average(loss, weights=sample_weight))
    if sample_weight is not None:
        return float(np.dot(loss, sample_weight))
    return float(np.sum(loss))

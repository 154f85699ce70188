"""Catalogue of bad and awkward inputs across every public function and class.

Each entry is one call and its exact expected outcome: an exception of the right type whose message names
the argument, or the documented value (NaN/inf semantics, dtype and shape rules).  Every call is made on
fresh arrays and the test checks afterwards that no input was modified (outputs passed as ``out=`` that
alias an input are marked and checked against the reference of the original values instead).

Entries are data (``CASES``) so the catalogue can be counted: ``len(CASES)`` is printed by
``python -m pytest tests/test_bad_input.py -q -s -k count``.
"""

import copy
import mmap
import warnings

import numpy as np
import pytest

import crossentropy as ce
from crossentropy import _reference as ref
from crossentropy import _registry
from crossentropy import keras as ck
from crossentropy import tf as ctf
from crossentropy import torch as ct


# ---- the catalogue's vocabulary ---------------------------------------------------------------------
class Raises:
    def __init__(self, exc, match):
        self.exc, self.match = exc, match


class Case:
    """``call(*args, **kwargs)`` must raise (``expect`` is a Raises) or return a value that ``expect``
    (a function of the result and the original arguments) accepts.  ``errstate``: the np.errstate the call
    runs under (the suite's default is all="raise").  ``mutates``: an argument is also an output."""

    def __init__(
        self, cid, call, args=(), kwargs=None, expect=None, *, errstate=None, mutates=False, warns=None, skip=None
    ):
        self.id, self.call, self.args, self.kwargs = cid, call, args, kwargs or {}
        self.expect, self.errstate, self.mutates, self.warns = expect, errstate, mutates, warns
        self.skip = skip


CASES = []


def case(cid, call, *args, expect, errstate=None, mutates=False, warns=None, skip=None, **kwargs):
    CASES.append(Case(cid, call, args, kwargs, expect, errstate=errstate, mutates=mutates, warns=warns, skip=skip))


def rng(seed=0):
    return np.random.default_rng(seed)


def logits(shape=(4, 5), dtype=np.float64, seed=0):
    return (rng(seed).standard_normal(shape) * 3).astype(dtype)


def close(want, rtol=1e-12, atol=1e-12):
    """expect: the result equals ``want(args)`` (a function of the ORIGINAL arguments), NaN where NaN."""

    def check(result, args):
        w = want(args)
        if isinstance(w, tuple):
            assert isinstance(result, tuple) and len(result) == len(w)
            for r, v in zip(result, w, strict=False):
                np.testing.assert_allclose(
                    np.asarray(r, np.float64), np.asarray(v, np.float64), rtol=rtol, atol=atol, equal_nan=True
                )
        else:
            np.testing.assert_allclose(
                np.asarray(result, np.float64), np.asarray(w, np.float64), rtol=rtol, atol=atol, equal_nan=True
            )

    return check


def result_is(dtype=None, shape=None, then=None):
    def check(result, args):
        first = result[0] if isinstance(result, tuple) else result
        if dtype is not None:
            assert np.asarray(first).dtype == dtype
        if shape is not None:
            assert np.shape(first) == shape
        if then is not None:
            then(result, args)

    return check


def nan_rows(rows, n_rows):
    """expect (under errstate(invalid="ignore")): the loss (and grad) rows ``rows`` are NaN, the others finite."""

    def check(result, args):
        loss, grad = result if isinstance(result, tuple) else (result, None)
        bad = np.zeros(n_rows, bool)
        bad[list(rows)] = True
        assert np.isnan(loss[bad]).all() and np.isfinite(loss[~bad]).all()
        if grad is not None:
            assert np.isnan(grad[bad]).all() and np.isfinite(grad[~bad]).all()

    return check


# ---- top-level gufuncs --------------------------------------------------------------------------------
X = logits
LAB = np.array([0, 4, 2, 1])

# wrong ranks and mismatched shapes: NumPy's gufunc errors name the operand
case(
    "gufunc-lse-scalar",
    ce.logsumexp,
    1.5,
    expect=Raises(ValueError, r"logsumexp: Input operand 0 does not have enough dimensions"),
)
case(
    "gufunc-softmax-0d-array",
    ce.softmax,
    np.float64(2.0),
    expect=Raises(ValueError, r"softmax: Input operand 0 does not have enough dimensions"),
)
case(
    "gufunc-dense-core-mismatch",
    ce.softmax_cross_entropy,
    X(),
    np.ones((4, 6)),
    expect=Raises(ValueError, r"Input operand 1 has a mismatch in its core dimension 0"),
)
case(
    "gufunc-dense-grad-core-mismatch",
    ce.softmax_cross_entropy_and_grad,
    X(),
    np.ones(6),
    expect=Raises(ValueError, r"Input operand 1 has a mismatch in its core dimension 0"),
)
case(
    "gufunc-sparse-label-shape",
    ce.sparse_softmax_cross_entropy,
    X(),
    np.zeros(5, np.int64),
    expect=Raises(ValueError, r"operands could not be broadcast"),
)
case(
    "gufunc-sigmoid-shape",
    ce.sigmoid_cross_entropy,
    np.zeros(3),
    np.zeros(4),
    expect=Raises(ValueError, r"operands could not be broadcast together with shapes \(3,\) \(4,\)"),
)
case(
    "gufunc-axis-out-of-bounds",
    ce.logsumexp,
    X(),
    axis=2,
    expect=Raises(np.exceptions.AxisError, r"axis 2 is out of bounds"),
)
case(
    "gufunc-axis-float",
    ce.log_softmax,
    X(),
    axis=1.0,
    expect=Raises(TypeError, r"'float' object cannot be interpreted as an integer"),
)

# labels out of range: NaN for that row and NumPy's invalid signal (raise -> FloatingPointError)
for label in (-1, 5, 2**31, 2**62, np.iinfo(np.int64).max, np.iinfo(np.int64).min):
    case(
        f"gufunc-sparse-label-{label}-raises",
        ce.sparse_softmax_cross_entropy,
        X(),
        np.array([0, label, 2, 1]),
        expect=Raises(FloatingPointError, r"invalid value encountered in sparse_softmax_cross_entropy"),
    )
    case(
        f"gufunc-sparse-grad-label-{label}-nan-row",
        ce.sparse_softmax_cross_entropy_and_grad,
        X(),
        np.array([0, label, 2, 1]),
        errstate={"invalid": "ignore"},
        expect=nan_rows([1], 4),
    )
case(
    "gufunc-sparse-label-int32-min",
    ce.sparse_softmax_cross_entropy,
    X(),
    np.array([0, np.iinfo(np.int32).min, 2, 1], np.int32),
    errstate={"invalid": "ignore"},
    expect=nan_rows([1], 4),
)
case(
    "gufunc-sparse-label-python-int-too-big",
    ce.sparse_softmax_cross_entropy,
    X(),
    2**70,
    expect=Raises(OverflowError, r"too large"),
)

# labels of the wrong kind: float (no safe cast to int), uint64 (no safe cast to int64), strings, None
case(
    "gufunc-sparse-float-labels",
    ce.sparse_softmax_cross_entropy,
    X(),
    np.array([0.0, 1.0, 2.0, 3.0]),
    expect=Raises(TypeError, r"ufunc 'sparse_softmax_cross_entropy' not supported for the input types"),
)
case(
    "gufunc-sparse-uint64-labels",
    ce.sparse_softmax_cross_entropy_and_grad,
    X(),
    LAB.astype(np.uint64),
    expect=Raises(TypeError, r"'sparse_softmax_cross_entropy_and_grad' not supported for the input types"),
)
case(
    "gufunc-sparse-str-label",
    ce.sparse_softmax_cross_entropy,
    X(),
    "a",
    expect=Raises(TypeError, r"not supported for the input types"),
)
case(
    "gufunc-sparse-None-label",
    ce.sparse_softmax_cross_entropy,
    X(),
    None,
    expect=Raises(TypeError, r"not supported for the input types"),
)
# small or unsigned integer labels cast safely (a copy) and work
for dt in (np.int8, np.uint8, np.uint32, np.int16, bool):
    lab = np.array([0, 1, 1, 0], dt)
    case(
        f"gufunc-sparse-{np.dtype(dt).name}-labels",
        ce.sparse_softmax_cross_entropy,
        X(),
        lab,
        expect=close(lambda a: ref.sparse_softmax_cross_entropy(a[0], a[1].astype(np.int64))),
    )
case(
    "gufunc-sparse-bigendian-labels",
    ce.sparse_softmax_cross_entropy,
    X(),
    LAB.astype(">i8"),
    expect=close(lambda a: ref.sparse_softmax_cross_entropy(a[0], a[1].astype(np.int64))),
)

# logits of other dtypes: ints/bools/float16 cast safely to a float loop, complex/object/datetime do not
for dt, out in (
    (np.int64, np.float64),
    (np.uint64, np.float64),
    (np.int16, np.float32),
    (np.uint8, np.float32),
    (bool, np.float32),
    (np.float16, np.float32),
):
    x = rng(1).integers(0 if np.dtype(dt).kind in "ub" else -3, 4, (3, 5)).astype(dt)
    case(
        f"gufunc-lse-{np.dtype(dt).name}-logits",
        ce.logsumexp,
        x,
        expect=result_is(out, (3,), close(lambda a: ref.logsumexp(a[0]), rtol=2e-6, atol=2e-6)),
    )
case(
    "gufunc-softmax-bigendian",
    ce.softmax,
    X().astype(">f8"),
    expect=result_is(np.float64, (4, 5), close(lambda a: ref.softmax(a[0].astype(np.float64)))),
)
case(
    "gufunc-sigmoid-mixed-f32-f64",
    ce.sigmoid_cross_entropy,
    X(dtype=np.float32),
    np.zeros((4, 5)),
    expect=result_is(np.float64, (4, 5)),
)
for dt in (np.complex128, object, "M8[s]", np.longdouble):
    case(
        f"gufunc-lse-{np.dtype(dt).name}-refused",
        ce.logsumexp,
        np.zeros(3, dt),
        expect=Raises(TypeError, r"ufunc 'logsumexp' not supported for the input types"),
    )
case(
    "gufunc-sparse-dtype-float16-refused",
    ce.sparse_softmax_cross_entropy,
    X(dtype=np.float32),
    np.int64(1),
    dtype=np.float16,
    expect=Raises(TypeError, r"No loop matching the specified signature"),
)

# empty arrays: N = 0 gives empty results, C = 0 the empty-sum values
case("gufunc-lse-N0", ce.logsumexp, np.zeros((0, 5)), expect=result_is(np.float64, (0,)))
case(
    "gufunc-sparse-grad-N0",
    ce.sparse_softmax_cross_entropy_and_grad,
    np.zeros((0, 5), np.float32),
    np.zeros(0, np.int64),
    expect=lambda r, a: (r[0].shape, r[1].shape, r[1].dtype) == ((0,), (0, 5), np.float32),
)
case("gufunc-lse-C0", ce.logsumexp, np.zeros((3, 0)), expect=close(lambda a: np.full(3, -np.inf)))
case("gufunc-softmax-C0", ce.softmax, np.zeros((3, 0)), expect=result_is(np.float64, (3, 0)))
case(
    "gufunc-dense-grad-C0",
    ce.softmax_cross_entropy_and_grad,
    np.zeros((3, 0)),
    np.zeros((3, 0)),
    expect=close(lambda a: (np.zeros(3), np.zeros((3, 0)))),
)
case(
    "gufunc-sparse-C0-every-label-out-of-range",
    ce.sparse_softmax_cross_entropy,
    np.zeros((2, 0)),
    np.zeros(2, np.int64),
    expect=Raises(FloatingPointError, r"invalid value"),
)
case(
    "gufunc-sigmoid-empty",
    ce.sigmoid_cross_entropy_and_grad,
    np.zeros(0),
    np.zeros(0),
    expect=lambda r, a: r[0].shape == r[1].shape == (0,),
)

# zero strides and broadcasting
case(
    "gufunc-lse-stride0-rows",
    ce.logsumexp,
    np.broadcast_to(X((5,))[None], (6, 5)),
    expect=close(lambda a: ref.logsumexp(np.ascontiguousarray(a[0]))),
)
case(
    "gufunc-softmax-stride0-core",
    ce.softmax,
    np.broadcast_to(np.float32(3.0), (2, 4)),
    expect=close(lambda a: np.full((2, 4), 0.25)),
)
case(
    "gufunc-dense-broadcast-labels",
    ce.softmax_cross_entropy_and_grad,
    X(),
    np.eye(5)[2],
    expect=close(
        lambda a: (
            ref.softmax_cross_entropy(a[0], np.broadcast_to(a[1], a[0].shape)),
            ref.softmax_cross_entropy_grad(a[0], np.broadcast_to(a[1], a[0].shape)),
        )
    ),
)
case(
    "gufunc-sparse-scalar-label-broadcast",
    ce.sparse_softmax_cross_entropy,
    X(),
    np.int32(3),
    expect=close(lambda a: ref.sparse_softmax_cross_entropy(a[0], np.full(4, 3))),
)
case(
    "gufunc-sigmoid-broadcast-3d",
    ce.sigmoid_cross_entropy,
    X((2, 1, 5)),
    np.full((3, 1), 0.5),
    expect=close(lambda a: ref.sigmoid_cross_entropy(*np.broadcast_arrays(a[0], a[1]))),
)

# non-contiguous and negative strides
case("gufunc-softmax-fortran", ce.softmax, np.asfortranarray(X((7, 9))), expect=close(lambda a: ref.softmax(a[0])))
case(
    "gufunc-logsoftmax-negative-strides",
    ce.log_softmax,
    X((7, 9))[::-2, ::-3],
    expect=close(lambda a: ref.log_softmax(a[0]), atol=1e-13),
)
case(
    "gufunc-sparse-grad-negative-strides",
    ce.sparse_softmax_cross_entropy_and_grad,
    X((6, 40))[::-1, ::-2],
    np.arange(12)[::-2] % 20,
    expect=close(lambda a: (ref.sparse_softmax_cross_entropy(*a), ref.sparse_softmax_cross_entropy_grad(*a))),
)
case(
    "gufunc-dense-axis0-strided",
    ce.softmax_cross_entropy,
    X((5, 8)),
    rng(2).random((5, 8)),
    axis=0,
    expect=close(lambda a: ref.softmax_cross_entropy(a[0].T, a[1].T)),
)
case(
    "gufunc-sigmoid-strided",
    ce.sigmoid_cross_entropy_and_grad,
    X((4, 10))[:, ::3],
    rng(3).random((4, 12))[:, 1::3],
    expect=close(lambda a: (ref.sigmoid_cross_entropy(*a), ref.sigmoid_cross_entropy_grad(*a))),
)


def _readonly(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


case(
    "gufunc-readonly-inputs",
    ce.softmax_cross_entropy_and_grad,
    _readonly(X()),
    _readonly(np.eye(5)[:4]),
    expect=close(lambda a: (ref.softmax_cross_entropy(*a), ref.softmax_cross_entropy_grad(*a))),
)

# out=: read-only, wrongly shaped, wrong dtype, malformed
case(
    "gufunc-out-readonly",
    ce.logsumexp,
    X(),
    out=_readonly(np.zeros(4)),
    expect=Raises(ValueError, r"output array is read-only"),
)
case(
    "gufunc-out-broadcast-view",
    ce.softmax,
    X(),
    out=np.broadcast_to(np.zeros(5), (4, 5)),
    expect=Raises(ValueError, r"output array is read-only"),
)
case(
    "gufunc-out-wrong-shape",
    ce.logsumexp,
    X(),
    out=np.zeros(3),
    expect=Raises(ValueError, r"operands could not be broadcast"),
)
case(
    "gufunc-out-wrong-core",
    ce.softmax_cross_entropy_and_grad,
    X(),
    np.ones((4, 5)),
    out=(np.empty(4), np.empty((4, 6))),
    expect=Raises(ValueError, r"Output operand 1 has a mismatch in its core"),
)
case(
    "gufunc-out-int-dtype",
    ce.logsumexp,
    X(),
    out=np.zeros(4, np.int64),
    expect=Raises(TypeError, r"Cannot cast ufunc 'logsumexp' output from dtype\('float64'\) to dtype\('int64'\)"),
)
case(
    "gufunc-out-not-a-tuple",
    ce.softmax_cross_entropy_and_grad,
    X(),
    np.ones((4, 5)),
    out=np.empty(4),
    expect=Raises(TypeError, r"'out' must be a tuple of arrays"),
)
case(
    "gufunc-out-tuple-too-short",
    ce.sparse_softmax_cross_entropy_and_grad,
    X(),
    LAB,
    out=(np.empty(4),),
    expect=Raises(ValueError, r"The 'out' tuple must have exactly one entry per ufunc output"),
)
case("gufunc-out-list", ce.softmax, X(), out=[0.0] * 5, expect=Raises(TypeError, r"return arrays must be of ArrayType"))
case(
    "gufunc-out-f32-for-f64",
    ce.logsumexp,
    X(),
    out=np.zeros(4, np.float32),
    expect=result_is(np.float32, (4,), close(lambda a: ref.logsumexp(a[0]), rtol=1e-6)),
)

# out= aliased with an input: in place works, partial overlap is copied by NumPy first
_A = X((6, 7))
case("gufunc-softmax-out-is-input", ce.softmax, _A, out=_A, mutates=True, expect=close(lambda a: ref.softmax(a[0])))
_A = X((6, 7))
case(
    "gufunc-logsoftmax-out-reversed-alias",
    ce.log_softmax,
    _A,
    out=_A[:, ::-1],
    mutates=True,
    expect=close(lambda a: ref.log_softmax(a[0]), atol=1e-13),
)  # the result is the reversed view
_A = X((6, 8))
case(
    "gufunc-softmax-out-shifted-overlap",
    ce.softmax,
    _A[:, :7],
    out=_A[:, 1:],
    mutates=True,
    expect=close(lambda a: ref.softmax(a[0][:, :7])),
)
_A, _T = X((6, 7)), rng(4).random((6, 7))
case(
    "gufunc-dense-grad-out-is-logits",
    ce.softmax_cross_entropy_and_grad,
    _A,
    _T,
    out=(np.empty(6), _A),
    mutates=True,
    expect=close(lambda a: (ref.softmax_cross_entropy(*a), ref.softmax_cross_entropy_grad(*a))),
)
_A, _T = X((70, 7)), rng(4).random((70, 7))
case(
    "gufunc-dense-grad-out-is-labels",
    ce.softmax_cross_entropy_and_grad,
    _A,
    _T,
    out=(np.empty(70), _T),
    mutates=True,
    expect=close(lambda a: (ref.softmax_cross_entropy(*a), ref.softmax_cross_entropy_grad(*a))),
)
_A = X((70, 9))
case(
    "gufunc-sparse-loss-out-overlaps-logits",
    ce.sparse_softmax_cross_entropy,
    _A,
    LAB[1],
    out=_A[:, 0],
    mutates=True,
    expect=close(lambda a: ref.sparse_softmax_cross_entropy(a[0], np.full(70, 4))),
)
_A, _Z = X((3, 50)), rng(5).random((3, 50))
case(
    "gufunc-sigmoid-grad-outs-swap-inputs",
    ce.sigmoid_cross_entropy_and_grad,
    _A,
    _Z,
    out=(_Z, _A),
    mutates=True,
    expect=close(lambda a: (ref.sigmoid_cross_entropy(*a), ref.sigmoid_cross_entropy_grad(*a))),
)

# NaN and +-inf in every argument (documented: NaN in -> NaN out quietly; -inf logits are masked classes;
# a row whose max is +inf or that is all -inf has a NaN loss; logsumexp gives +inf / -inf there)
_XN = np.array([[0.0, np.nan, 1.0], [np.inf, 0.0, 0.0], [-np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf]])
case("gufunc-lse-nonfinite", ce.logsumexp, _XN, expect=close(lambda a: [np.nan, np.inf, np.log1p(np.e), -np.inf]))
case("gufunc-softmax-nonfinite", ce.softmax, _XN, expect=close(lambda a: ref.softmax(a[0])))
case(
    "gufunc-sparse-grad-nonfinite-logits",
    ce.sparse_softmax_cross_entropy_and_grad,
    _XN,
    np.array([0, 1, 1, 2]),
    expect=close(
        lambda a: (
            [np.nan, np.nan, ref.sparse_softmax_cross_entropy(a[0][2], 1), np.nan],
            np.vstack([np.full((2, 3), np.nan), ref.sparse_softmax_cross_entropy_grad(a[0][2], 1), np.full(3, np.nan)]),
        )
    ),
)
case(
    "gufunc-sparse-label-on-masked-class",
    ce.sparse_softmax_cross_entropy,
    _XN[2:3],
    np.array([0]),
    expect=close(lambda a: [np.inf]),
)
case(
    "gufunc-dense-nan-label",
    ce.softmax_cross_entropy,
    X(),
    np.array([[np.nan, 0, 0, 0, 1.0]]),
    expect=close(lambda a: ref.softmax_cross_entropy(a[0], np.broadcast_to(a[1], a[0].shape))),
)
case(
    "gufunc-dense-inf-labels",
    ce.softmax_cross_entropy_and_grad,
    np.array([[0.0, 1.0], [0.0, 1.0], [5.0, 5.0]]),
    np.array([[0.0, np.inf], [np.inf, 0.0], [-np.inf, 0.0]]),
    expect=close(lambda a: (ref.softmax_cross_entropy(*a), ref.softmax_cross_entropy_grad(*a))),
)
case(
    "gufunc-dense-zero-label-on-minus-inf",
    ce.softmax_cross_entropy_and_grad,
    np.array([[0.0, -np.inf, 2.0]]),
    np.array([[1.0, 0.0, 0.0]]),
    expect=close(lambda a: (ref.softmax_cross_entropy(*a), ref.softmax_cross_entropy_grad(*a))),
)
case(
    "gufunc-sigmoid-nonfinite",
    ce.sigmoid_cross_entropy_and_grad,
    np.array([np.nan, np.inf, -np.inf, np.inf, -np.inf, 0.0, 1.0]),
    np.array([0.5, 0.0, 0.0, 1.0, 1.0, np.nan, np.inf]),
    expect=close(lambda a: (ref.sigmoid_cross_entropy(*a), ref.sigmoid_cross_entropy_grad(*a))),
)

# lists and scalars instead of arrays
case("gufunc-lse-list", ce.logsumexp, [1.0, 2.0, 3.0], expect=close(lambda a: ref.logsumexp(a[0])))
case("gufunc-lse-ragged-list", ce.logsumexp, [[1.0, 2.0], [3.0]], expect=Raises(ValueError, r"inhomogeneous shape"))
case(
    "gufunc-sparse-list-and-int",
    ce.sparse_softmax_cross_entropy_and_grad,
    [[0.0, 1.0, 2.0]],
    2,
    expect=close(
        lambda a: (
            ref.sparse_softmax_cross_entropy(np.array(a[0]), np.array([2])),
            ref.sparse_softmax_cross_entropy_grad(np.array(a[0]), np.array([2])),
        )
    ),
)
case("gufunc-sigmoid-python-scalars", ce.sigmoid_cross_entropy, 0.0, 1.0, expect=close(lambda a: np.log(2.0)))
case("gufunc-lse-string", ce.logsumexp, "abc", expect=Raises(TypeError, r"not supported for the input types"))

# thread settings (a failed call leaves the setting as it was)
case("threads-float", ce.set_num_threads, 1.5, expect=Raises(TypeError, r"n must be an integer or None, got float"))
case("threads-str", ce.set_num_threads, "2", expect=Raises(TypeError, r"n must be an integer or None, got str"))
case("threads-negative", ce.set_num_threads, -1, expect=Raises(ValueError, r"n must be >= 0 or None, got -1"))
case("threads-absurd", ce.set_num_threads, 10**6, expect=Raises(ValueError, r"n=1000000 is too many threads"))


# every registered gufunc (crossentropy._registry): the same awkward inputs, checked against its twin by name
def _twin(k):
    return close(lambda a: k.reference(*a), rtol=1e-12, atol=1e-12)


for _k in _registry.KERNELS.values():
    _args = _k.inputs(rng(7), (4, 5), np.float64)
    # valid inputs under errstate(all="raise"): no spurious floating-point signal
    case(f"registry-{_k.name}-valid", _k.ufunc, *_args, expect=_twin(_k))
    _empty = _k.inputs(rng(7), (0, 5), np.float32)
    _want = _k.reference(*_empty)
    case(
        f"registry-{_k.name}-N0",
        _k.ufunc,
        *_empty,
        expect=result_is(np.float32, np.shape(_want[0] if _k.with_grad else _want)),
    )
    if "e->e" in _k.ufunc.types:  # softmax / log_softmax: float16 in and out is a loop of their own
        case(
            f"registry-{_k.name}-float16-dtype",
            _k.ufunc,
            *_args,
            dtype=np.float16,
            expect=result_is(np.float16, np.shape(_args[0])),
        )
    else:  # the other float16 loops write float32 losses: an all-float16 signature has no loop
        case(
            f"registry-{_k.name}-float16-loop-refused",
            _k.ufunc,
            *_args,
            dtype=np.float16,
            expect=Raises(TypeError, r"No loop matching the specified signature"),
        )
    case(
        f"registry-{_k.name}-complex-refused",
        _k.ufunc,
        _args[0].astype(np.complex128),
        *_args[1:],
        expect=Raises(TypeError, r"not supported for the input types"),
    )
    case(f"registry-{_k.name}-readonly-inputs", _k.ufunc, *[_readonly(a) for a in _args], expect=_twin(_k))
    if _k.ufunc.nout == 1:
        case(
            f"registry-{_k.name}-out-readonly",
            _k.ufunc,
            *_args,
            out=_readonly(_k.reference(*_args)),
            expect=Raises(ValueError, r"output array is read-only"),
        )
    else:
        case(
            f"registry-{_k.name}-out-tuple-too-short",
            _k.ufunc,
            *_args,
            out=(np.empty(4),),
            expect=Raises(ValueError, r"The 'out' tuple must have exactly one entry per ufunc output"),
        )
    if _k.family == "sparse":
        case(
            f"registry-{_k.name}-label-out-of-range",
            _k.ufunc,
            _args[0],
            np.array([0, 5, 2, 1]),
            expect=Raises(FloatingPointError, r"invalid value"),
        )
        case(
            f"registry-{_k.name}-float-labels",
            _k.ufunc,
            _args[0],
            _args[1].astype(np.float64),
            expect=Raises(TypeError, r"not supported for the input types"),
        )


# ---- crossentropy.torch -------------------------------------------------------------------------------
def torch_ce_ref(x, target, mean=True):
    """Mean (or per-row) -log_softmax(x)[target] over axis 1, float64."""
    lsm = ref.log_softmax(np.moveaxis(np.asarray(x, np.float64), 1, -1))
    per = -np.take_along_axis(lsm, np.asarray(target)[..., None], -1)[..., 0]
    return per.mean() if mean else per


TX, TT = X((4, 5)), np.array([0, 4, 2, 1])

case(
    "torch-ce-int-input",
    ct.cross_entropy,
    np.zeros((2, 3), np.int64),
    np.array([0, 1]),
    expect=Raises(TypeError, r"input must be a floating-point array .* got dtype int64"),
)
case(
    "torch-ce-bool-input",
    ct.cross_entropy,
    np.zeros((2, 3), bool),
    np.array([0, 1]),
    expect=Raises(TypeError, r"input must be a floating-point array .* got dtype bool"),
)
case(
    "torch-ce-complex-input",
    ct.cross_entropy,
    np.zeros((2, 3), complex),
    np.array([0, 1]),
    expect=Raises(TypeError, r"input must be a floating-point array .* got dtype complex128"),
)
case(
    "torch-ce-object-input",
    ct.cross_entropy,
    np.zeros((2, 3), object),
    np.array([0, 1]),
    expect=Raises(TypeError, r"input must be a floating-point array .* got dtype object"),
)
case("torch-ce-scalar-input", ct.cross_entropy, 1.0, 0, expect=Raises(ValueError, r"input must have a class axis"))
case(
    "torch-ce-target-shape",
    ct.cross_entropy,
    TX,
    np.array([0, 1, 2]),
    expect=Raises(ValueError, r"target: expected shape \(4,\)"),
)
case(
    "torch-ce-target-rank",
    ct.cross_entropy,
    TX,
    np.zeros((4, 1), np.int64),
    expect=Raises(ValueError, r"target: expected shape \(4,\)"),
)
for label in (-1, 5, 2**40, np.iinfo(np.int64).min):
    case(
        f"torch-ce-target-{label}",
        ct.cross_entropy,
        TX,
        np.array([0, label, 2, 1]),
        expect=Raises(IndexError, rf"target contains {label}, outside the valid class range \[0, 5\)"),
    )
case(
    "torch-ce-target-out-of-range-with-grad-and-weight",
    ct.cross_entropy,
    TX,
    np.array([0, 9, 2, 1]),
    weight=np.ones(5),
    return_grad=True,
    expect=Raises(IndexError, r"target contains 9"),
)
case(
    "torch-ce-float-target-indices",
    ct.cross_entropy,
    TX,
    np.array([0.0, 1.0, 2.0, 3.0]),
    expect=Raises(TypeError, r"target: class indices must be int64"),
)
case(
    "torch-ce-int32-target",
    ct.cross_entropy,
    TX,
    TT.astype(np.int32),
    expect=Raises(TypeError, r"target: class indices must be int64 .* got dtype int32"),
)
case("torch-ce-uint8-target", ct.cross_entropy, TX, TT.astype(np.uint8), expect=close(lambda a: torch_ce_ref(*a)))
case("torch-ce-bigendian-target", ct.cross_entropy, TX, TT.astype(">i8"), expect=close(lambda a: torch_ce_ref(*a)))
case(
    "torch-ce-prob-target-int",
    ct.cross_entropy,
    TX,
    np.zeros((4, 5), np.int64),
    expect=Raises(TypeError, r"target must be a floating-point array"),
)
case(
    "torch-ce-weight-shape",
    ct.cross_entropy,
    TX,
    TT,
    weight=np.ones(4),
    expect=Raises(ValueError, r"weight must have one entry per class, shape \(5,\), got shape \(4,\)"),
)
case(
    "torch-ce-weight-dtype",
    ct.cross_entropy,
    TX,
    TT,
    weight=np.ones(5, np.float32),
    expect=Raises(TypeError, r"weight must have the input's dtype float64"),
)
case(
    "torch-ce-weight-complex",
    ct.cross_entropy,
    TX,
    TT,
    weight=[1j] * 5,
    expect=Raises(TypeError, r"weight must hold real numbers"),
)
case(
    "torch-ce-smoothing-too-big",
    ct.cross_entropy,
    TX,
    TT,
    label_smoothing=1.5,
    expect=Raises(ValueError, r"label_smoothing must be between 0.0 and 1.0, got 1.5"),
)
case(
    "torch-ce-smoothing-inf",
    ct.cross_entropy,
    TX,
    TT,
    label_smoothing=np.inf,
    expect=Raises(ValueError, r"label_smoothing must be between 0.0 and 1.0, got inf"),
)
# torch switches smoothing on only for > 0: NaN and negative values are no smoothing
case(
    "torch-ce-smoothing-nan", ct.cross_entropy, TX, TT, label_smoothing=np.nan, expect=close(lambda a: torch_ce_ref(*a))
)
case(
    "torch-ce-smoothing-negative",
    ct.cross_entropy,
    TX,
    TT,
    label_smoothing=-0.5,
    expect=close(lambda a: torch_ce_ref(*a)),
)
case(
    "torch-ce-reduction",
    ct.cross_entropy,
    TX,
    TT,
    reduction="avg",
    expect=Raises(ValueError, r"reduction: 'avg' is not a valid value"),
)
case(
    "torch-ce-ignore-index-float",
    ct.cross_entropy,
    TX,
    TT,
    ignore_index=1.5,
    expect=Raises(TypeError, r"ignore_index must be an integer"),
)
case(
    "torch-ce-ignore-index-huge",
    ct.cross_entropy,
    TX,
    TT,
    ignore_index=2**70,
    expect=Raises(ValueError, r"ignore_index=1180591620717411303424 is outside \(-2\*\*63, 2\*\*63\)"),
)
case(
    "torch-ce-ignore-index-int64-min",
    ct.nll_loss,
    TX,
    TT,
    ignore_index=-(2**63),
    expect=Raises(ValueError, r"ignore_index=-9223372036854775808 is outside .* -2\*\*63 is reserved"),
)
case(
    "torch-ce-ignore-index-with-probabilities",
    ct.cross_entropy,
    TX,
    np.full((4, 5), 0.2),
    ignore_index=1,
    expect=Raises(ValueError, r"ignore_index=1 is not supported with class-probability targets"),
)
case(
    "torch-ce-N0-mean-is-nan",
    ct.cross_entropy,
    np.zeros((0, 5)),
    np.zeros(0, np.int64),
    return_grad=True,
    expect=lambda r, a: np.isnan(r[0]) and r[1].shape == (0, 5),
)
case(
    "torch-ce-N0-sum",
    ct.cross_entropy,
    np.zeros((0, 5)),
    np.zeros(0, np.int64),
    reduction="sum",
    expect=close(lambda a: 0.0),
)
case(
    "torch-ce-C0-indices",
    ct.cross_entropy,
    np.zeros((2, 0)),
    np.zeros(2, np.int64),
    expect=Raises(IndexError, r"target contains 0, outside the valid class range \[0, 0\)"),
)
case(
    "torch-ce-C0-probabilities-mean-is-nan",
    ct.cross_entropy,
    np.zeros((2, 0)),
    np.zeros((2, 0)),
    expect=lambda r, a: np.isnan(r),
)  # torch: mean over numel / C = 0 / 0
case(
    "torch-ce-C0-3d-probabilities",
    ct.cross_entropy,
    np.zeros((2, 0, 3)),
    np.zeros((2, 0, 3)),
    return_grad=True,
    expect=lambda r, a: np.isnan(r[0]) and r[1].shape == (2, 0, 3),
)
case(
    "torch-ce-C0-with-weight",
    ct.cross_entropy,
    np.zeros(0),
    np.int64(0),
    weight=np.zeros(0),
    expect=Raises(IndexError, r"target contains 0, outside the valid class range \[0, 0\)"),
)
case(
    "torch-bce-empty-3d",
    ct.binary_cross_entropy,
    np.zeros((0, 2, 0)),
    np.zeros((0, 2, 0)),
    reduction="sum",
    expect=close(lambda a: 0.0),
)
case(
    "torch-ce-float16",
    ct.cross_entropy,
    TX.astype(np.float16),
    TT,
    expect=result_is(np.float16, (), close(lambda a: torch_ce_ref(a[0].astype(np.float32), a[1]), rtol=1e-3)),
)
case(
    "torch-ce-bigendian-input",
    ct.cross_entropy,
    TX.astype(">f4"),
    TT,
    expect=result_is(np.float32, (), close(lambda a: torch_ce_ref(*a), rtol=1e-6)),
)
case("torch-ce-list-input", ct.cross_entropy, TX.tolist(), TT.tolist(), expect=close(lambda a: torch_ce_ref(*a)))
case(
    "torch-ce-fortran-4d",
    ct.cross_entropy,
    np.asfortranarray(X((2, 5, 3, 4))),
    rng(6).integers(0, 5, (2, 3, 4)),
    reduction="none",
    expect=close(lambda a: torch_ce_ref(*a, mean=False)),
)
case(
    "torch-ce-negative-strides",
    ct.cross_entropy,
    X((6, 10))[::-1, ::-2],
    TT[[0, 1, 2, 3, 0, 1]][::-1],
    reduction="none",
    expect=close(lambda a: torch_ce_ref(*a, mean=False)),
)
case(
    "torch-ce-stride0-input",
    ct.cross_entropy,
    np.broadcast_to(X((5,)), (3, 5)),
    np.array([0, 1, 2]),
    reduction="none",
    return_grad=True,
    expect=lambda r, a: r[1].shape == (3, 5) and r[1].flags.writeable,
)
case(
    "torch-ce-readonly",
    ct.cross_entropy,
    _readonly(TX),
    _readonly(TT),
    weight=_readonly(np.ones(5)),
    expect=close(lambda a: torch_ce_ref(*a)),
)
case(
    "torch-ce-nan-input",
    ct.cross_entropy,
    np.array([[np.nan, 0.0, 0.0], [0.0, 1.0, 2.0]]),
    np.array([1, 1]),
    reduction="none",
    expect=lambda r, a: np.isnan(r[0]) and np.isfinite(r[1]),
)
case(
    "torch-ce-plus-inf-input",
    ct.cross_entropy,
    np.array([[np.inf, 0.0, 0.0]]),
    np.array([0]),
    expect=lambda r, a: np.isnan(r),
)
case(
    "torch-ce-minus-inf-mask",
    ct.cross_entropy,
    np.array([[-np.inf, 0.0, 0.0]]),
    np.array([1]),
    return_grad=True,
    expect=close(lambda a: (np.log(2.0), [[0.0, -0.5, 0.5]])),
)
case(
    "torch-ce-minus-inf-on-target",
    ct.cross_entropy,
    np.array([[-np.inf, 0.0, 0.0]]),
    np.array([0]),
    expect=close(lambda a: np.inf),
)
case(
    "torch-ce-nan-weight",
    ct.cross_entropy,
    TX,
    TT,
    weight=np.array([np.nan, 1, 1, 1, 1.0]),
    expect=lambda r, a: np.isnan(r),
)
case("torch-ce-nan-prob-target", ct.cross_entropy, TX, np.full((4, 5), np.nan), expect=lambda r, a: np.isnan(r))
case(
    "torch-nll-target-huge",
    ct.nll_loss,
    TX,
    np.array([0, 2**62, 1, 1]),
    expect=Raises(IndexError, r"target contains 4611686018427387904"),
)
case("torch-nll-N0", ct.nll_loss, np.zeros((0, 3)), np.zeros(0, np.int64), expect=lambda r, a: np.isnan(r))
case(
    "torch-nll-ignore-all",
    ct.nll_loss,
    TX,
    np.full(4, -100),
    return_grad=True,
    expect=lambda r, a: np.isnan(r[0]) and not r[1].any(),
)
case(
    "torch-bce-input-above-one",
    ct.binary_cross_entropy,
    np.array([1.5]),
    np.array([1.0]),
    expect=Raises(ValueError, r"input: all elements should be between 0 and 1"),
)
case(
    "torch-bce-nan-input",
    ct.binary_cross_entropy,
    np.array([np.nan]),
    np.array([1.0]),
    expect=Raises(ValueError, r"input: all elements should be between 0 and 1 \(NaN is not allowed\)"),
)
case(
    "torch-bce-negative-target",
    ct.binary_cross_entropy,
    np.array([0.5]),
    np.array([-1.0]),
    expect=Raises(ValueError, r"target: all elements should be between 0 and 1"),
)
case(
    "torch-bce-target-dtype",
    ct.binary_cross_entropy,
    np.array([0.5]),
    np.array([1.0], np.float32),
    expect=Raises(TypeError, r"target must have the input's dtype float64"),
)
case(
    "torch-bce-target-shape",
    ct.binary_cross_entropy,
    np.array([0.5]),
    np.array([1.0, 0.0]),
    expect=Raises(ValueError, r"target size \(2,\) must be the same as input size \(1,\)"),
)
case(
    "torch-bce-bigendian-target",
    ct.binary_cross_entropy,
    np.full(3, 0.25),
    np.ones(3, ">f8"),
    expect=close(lambda a: -np.log(0.25)),
)
case(
    "torch-bce-weight-shape",
    ct.binary_cross_entropy,
    np.full((2, 3), 0.5),
    np.ones((2, 3)),
    weight=np.ones(4),
    expect=Raises(ValueError, r"weight of shape \(4,\) does not broadcast to the input's shape \(2, 3\)"),
)
case(
    "torch-bce-empty-mean-is-nan",
    ct.binary_cross_entropy,
    np.zeros(0),
    np.zeros(0),
    return_grad=True,
    expect=lambda r, a: np.isnan(r[0]) and r[1].shape == (0,),
)
case(
    "torch-bce-0d",
    ct.binary_cross_entropy,
    np.float64(0.5),
    np.float64(1.0),
    return_grad=True,
    expect=close(lambda a: (np.log(2.0), -2.0)),
)
case(
    "torch-bce-clamped-log",
    ct.binary_cross_entropy,
    np.array([0.0, 1.0]),
    np.array([1.0, 0.0]),
    reduction="none",
    expect=close(lambda a: [100.0, 100.0]),
)
case(
    "torch-bcel-pos-weight-shape",
    ct.binary_cross_entropy_with_logits,
    TX,
    np.zeros((4, 5)),
    pos_weight=np.ones(4),
    expect=Raises(ValueError, r"pos_weight of shape \(4,\) does not broadcast"),
)
case(
    "torch-bcel-int-target",
    ct.binary_cross_entropy_with_logits,
    TX,
    np.zeros((4, 5), np.int64),
    expect=Raises(TypeError, r"target must be a floating-point array"),
)
case(
    "torch-bcel-infinite-logits",
    ct.binary_cross_entropy_with_logits,
    np.array([np.inf, -np.inf, np.inf, -np.inf]),
    np.array([1.0, 0.0, 0.5, 1.0]),
    reduction="none",
    return_grad=True,
    expect=close(lambda a: ([np.nan, np.nan, np.inf, np.nan], [0.0, 0.0, 0.5, -1.0])),
)
case(
    "torch-bcel-nan-pos-weight",
    ct.binary_cross_entropy_with_logits,
    TX,
    np.ones((4, 5)),
    pos_weight=np.nan,
    expect=lambda r, a: np.isnan(r),
)
case(
    "torch-bcel-stride0-weights",
    ct.binary_cross_entropy_with_logits,
    X((3, 4))[:, ::-1],
    np.full((3, 4), 0.25),
    weight=np.float64(2.0),
    pos_weight=np.arange(4.0),
    reduction="sum",
    expect=close(
        lambda a: np.sum(2.0 * ((1 - 0.25) * a[0] + (1 + (np.arange(4.0) - 1) * 0.25) * np.logaddexp(0, -a[0]))),
        rtol=1e-12,
    ),
)
case(
    "torch-CrossEntropyLoss-reduction",
    ct.CrossEntropyLoss,
    reduction="batchmean",
    expect=Raises(ValueError, r"reduction: 'batchmean' is not a valid value"),
)


def reduction_is(expected):
    def check(module, _):
        assert module.reduction == expected

    return check


# the legacy arguments are honoured as torch honours them, with torch's deprecation warning (API.md §3)
case(
    "torch-CrossEntropyLoss-size_average",
    ct.CrossEntropyLoss,
    size_average=True,
    warns=UserWarning,
    expect=reduction_is("mean"),
)
case(
    "torch-CrossEntropyLoss-bad-target",
    ct.CrossEntropyLoss(weight=np.ones(5)),
    TX,
    np.array([0, 1, 2, 5]),
    expect=Raises(IndexError, r"target contains 5"),
)
case(
    "torch-NLLLoss-weight-shape",
    ct.NLLLoss(weight=np.ones(2)),
    TX,
    TT,
    expect=Raises(ValueError, r"weight must have one entry per class"),
)
case("torch-BCELoss-reduce", ct.BCELoss, reduce=False, warns=UserWarning, expect=reduction_is("none"))
case(
    "torch-BCELoss-out-of-range",
    ct.BCELoss(),
    np.array([2.0]),
    np.array([1.0]),
    expect=Raises(ValueError, r"input: all elements should be between 0 and 1"),
)
case(
    "torch-BCEWithLogitsLoss-pos-weight",
    ct.BCEWithLogitsLoss(pos_weight=np.ones(3)),
    TX,
    np.zeros((4, 5)),
    expect=Raises(ValueError, r"pos_weight of shape \(3,\) does not broadcast"),
)


# ---- crossentropy.tf ------------------------------------------------------------------------------------
FX = X((4, 5))
FT = rng(7).random((4, 5))

case(
    "tf-softmax-labels-not-broadcastable",
    ctf.softmax_cross_entropy_with_logits,
    np.zeros((3, 5)),
    FX,
    expect=Raises(ValueError, r"labels of shape \(3, 5\) and logits of shape \(4, 5\) must be broadcastable"),
)
case(
    "tf-softmax-axis-out-of-range",
    ctf.softmax_cross_entropy_with_logits,
    FT,
    FX,
    axis=2,
    expect=Raises(ValueError, r"axis=2 is out of bounds"),
)
case(
    "tf-softmax-axis-float",
    ctf.softmax_cross_entropy_with_logits,
    FT,
    FX,
    axis=1.0,
    expect=Raises(TypeError, r"axis must be an integer, got float"),
)
case(
    "tf-softmax-int-logits",
    ctf.softmax_cross_entropy_with_logits,
    FT,
    np.zeros((4, 5), np.int32),
    expect=Raises(TypeError, r"logits must be a floating-point array"),
)
case(
    "tf-softmax-scalar-logits",
    ctf.softmax_cross_entropy_with_logits,
    1.0,
    1.0,
    expect=Raises(ValueError, r"logits cannot be a scalar"),
)
case(
    "tf-softmax-complex-labels",
    ctf.softmax_cross_entropy_with_logits,
    FT.astype(complex),
    FX,
    expect=Raises(TypeError, r"labels must hold real numbers, got dtype complex128"),
)
case(
    "tf-softmax-ragged-labels",
    ctf.softmax_cross_entropy_with_logits,
    [[1.0, 2.0], [3.0]],
    FX,
    expect=Raises(TypeError, r"labels must be array-like of numbers"),
)
case(
    "tf-softmax-C0",
    ctf.softmax_cross_entropy_with_logits,
    np.zeros((2, 0)),
    np.zeros((2, 0)),
    expect=close(lambda a: np.zeros(2)),
)
case(
    "tf-softmax-C0-3d",
    ctf.softmax_cross_entropy_with_logits,
    np.zeros((2, 3, 0)),
    np.zeros((2, 3, 0)),
    return_grad=True,
    expect=lambda r, a: r[0].shape == (2, 3) and not r[0].any() and r[1].shape == (2, 3, 0),
)
case(
    "tf-softmax-N0",
    ctf.softmax_cross_entropy_with_logits,
    np.zeros((0, 3)),
    np.zeros((0, 3)),
    return_grad=True,
    expect=lambda r, a: r[0].shape == (0,) and r[1].shape == (0, 3),
)
case(
    "tf-softmax-broadcast-labels-axis0",
    ctf.softmax_cross_entropy_with_logits,
    np.eye(4)[:, 1:2],
    FX,
    axis=0,
    expect=close(lambda a: ref.softmax_cross_entropy(a[1].T, np.broadcast_to(a[0], a[1].shape).T)),
)
case(
    "tf-softmax-inf-logits",
    ctf.softmax_cross_entropy_with_logits,
    np.array([[0.0, 1.0, 0.0]]),
    np.array([[-np.inf, 0.0, 1.0]]),
    return_grad=True,
    expect=close(lambda a: (ref.softmax_cross_entropy(a[1], a[0]), ref.softmax(a[1]) - a[0])),
)
case(
    "tf-sparse-float-labels",
    ctf.sparse_softmax_cross_entropy_with_logits,
    np.array([0.0, 1, 2, 3]),
    FX,
    expect=Raises(TypeError, r"labels must be int32 or int64 class indices, got dtype float64"),
)
case(
    "tf-sparse-uint8-labels",
    ctf.sparse_softmax_cross_entropy_with_logits,
    TT.astype(np.uint8),
    FX,
    expect=Raises(TypeError, r"labels must be int32 or int64 class indices, got dtype uint8"),
)
for label in (-1, 5, 2**62):
    case(
        f"tf-sparse-label-{label}",
        ctf.sparse_softmax_cross_entropy_with_logits,
        np.array([0, 1, label, 2]),
        FX,
        expect=Raises(IndexError, rf"labels contains {label}, outside the valid class range \[0, 5\)"),
    )
case(
    "tf-sparse-label-shape",
    ctf.sparse_softmax_cross_entropy_with_logits,
    np.zeros((4, 1), np.int64),
    FX,
    expect=Raises(ValueError, r"labels must have the logits' shape without the class axis, \(4,\)"),
)
case(
    "tf-sparse-C0",
    ctf.sparse_softmax_cross_entropy_with_logits,
    np.zeros(2, np.int32),
    np.zeros((2, 0)),
    expect=Raises(IndexError, r"labels contains 0"),
)
case(
    "tf-sparse-list-labels",
    ctf.sparse_softmax_cross_entropy_with_logits,
    TT.tolist(),
    FX,
    expect=close(lambda a: ref.sparse_softmax_cross_entropy(a[1], np.array(a[0]))),
)
case(
    "tf-sparse-bigendian",
    ctf.sparse_softmax_cross_entropy_with_logits,
    TT.astype(">i4"),
    FX.astype(">f8"),
    expect=close(lambda a: ref.sparse_softmax_cross_entropy(a[1], a[0])),
)
case(
    "tf-sigmoid-shape",
    ctf.sigmoid_cross_entropy_with_logits,
    np.zeros(5),
    FX,
    expect=Raises(ValueError, r"logits and labels must have the same shape"),
)
case(
    "tf-sigmoid-labels-dtype",
    ctf.sigmoid_cross_entropy_with_logits,
    FT.astype(np.float32),
    FX,
    expect=Raises(TypeError, r"labels must have the logits' dtype float64"),
)
case(
    "tf-sigmoid-bigendian",
    ctf.sigmoid_cross_entropy_with_logits,
    np.ones(3, ">f4"),
    np.zeros(3, ">f4"),
    expect=result_is(np.float32, (3,), close(lambda a: np.full(3, np.log(2.0)), rtol=1e-7)),
)
case(
    "tf-sigmoid-scalars",
    ctf.sigmoid_cross_entropy_with_logits,
    0.0,
    1.0,
    expect=close(lambda a: ref.sigmoid_cross_entropy(1.0, 0.0)),
)
case(
    "tf-sigmoid-nonfinite",
    ctf.sigmoid_cross_entropy_with_logits,
    np.array([0.0, 1.0, 0.0, np.nan]),
    np.array([np.inf, -np.inf, -np.inf, 0.0]),
    expect=close(lambda a: [np.nan, np.inf, np.nan, np.nan]),
)
case(
    "tf-weighted-pos-weight-shape",
    ctf.weighted_cross_entropy_with_logits,
    FT,
    FX,
    np.ones(3),
    expect=Raises(ValueError, r"pos_weight of shape \(3,\) does not broadcast"),
)
case(
    "tf-weighted-pos-weight-dtype",
    ctf.weighted_cross_entropy_with_logits,
    FT,
    FX,
    np.ones(5, np.float32),
    expect=Raises(TypeError, r"pos_weight must have the logits' dtype float64"),
)
case(
    "tf-weighted-pos-weight-str",
    ctf.weighted_cross_entropy_with_logits,
    FT,
    FX,
    "2",
    expect=Raises(TypeError, r"pos_weight must hold real numbers"),
)
case(
    "tf-weighted-nan-pos-weight",
    ctf.weighted_cross_entropy_with_logits,
    FT,
    FX,
    np.nan,
    expect=lambda r, a: np.isnan(r).all(),
)


# ---- crossentropy.keras -----------------------------------------------------------------------------------
KP = rng(8).dirichlet(np.ones(5), 4)  # probabilities
KT = np.eye(5)[[0, 4, 2, 1]]

case(
    "keras-cc-bigendian-float64",
    ck.categorical_crossentropy,
    KT,
    KP.astype(">f8"),
    expect=result_is(np.float64, (4,), close(lambda a: ck.categorical_crossentropy(a[0], a[1].astype(np.float64)))),
)
case(
    "keras-CC-bigendian-grad-dtype",
    ck.CategoricalCrossentropy(dtype="float64"),
    KT,
    KP.astype(">f4"),
    return_grad=True,
    expect=lambda r, a: r[1].dtype == np.float32,
)
case(
    "keras-cc-shape",
    ck.categorical_crossentropy,
    np.zeros((4, 6)),
    KP,
    expect=Raises(ValueError, r"y_true and y_pred must have the same shape, got \(4, 6\) and \(4, 5\)"),
)
case(
    "keras-cc-scalar",
    ck.categorical_crossentropy,
    1.0,
    1.0,
    expect=Raises(ValueError, r"y_true and y_pred must have at least one dimension"),
)
case(
    "keras-cc-C0",
    ck.categorical_crossentropy,
    np.zeros((2, 0)),
    np.zeros((2, 0)),
    expect=Raises(ValueError, r"y_pred has no entries along axis -1"),
)
case(
    "keras-cc-complex-pred",
    ck.categorical_crossentropy,
    KT,
    KP.astype(complex),
    expect=Raises(TypeError, r"y_pred must hold real numbers"),
)
case(
    "keras-cc-object-true",
    ck.categorical_crossentropy,
    KT.astype(object),
    KP,
    expect=Raises(TypeError, r"y_true must hold real numbers, got dtype object"),
)
case("keras-cc-N0", ck.categorical_crossentropy, np.zeros((0, 3)), np.zeros((0, 3)), expect=result_is(np.float64, (0,)))
case(
    "keras-cc-nan-pred", ck.categorical_crossentropy, KT, np.full((4, 5), np.nan), expect=lambda r, a: np.isnan(r).all()
)
case(
    "keras-cc-zero-row-warns",
    ck.categorical_crossentropy,
    KT,
    np.zeros((4, 5)),
    warns=ce.ProbabilityWarning,
    expect=lambda r, a: np.isnan(r).all(),
)  # 0 / 0 in Keras' rescale: NaN, and the rows are reported
case(
    "keras-cc-logits-minus-inf",
    ck.categorical_crossentropy,
    KT,
    np.where(KT > 0, 0.0, -np.inf),
    from_logits=True,
    expect=close(lambda a: np.zeros(4)),
)
case(
    "keras-scc-label-huge",
    ck.sparse_categorical_crossentropy,
    np.array([0, 2**62, 1, 1]),
    KP,
    expect=Raises(IndexError, r"y_true contains 4611686018427387904, outside the valid class range \[0, 5\)"),
)
case(
    "keras-scc-label-negative",
    ck.sparse_categorical_crossentropy,
    np.array([0, -1, 1, 1]),
    KP,
    expect=Raises(IndexError, r"y_true contains -1"),
)
case(
    "keras-scc-label-fraction",
    ck.sparse_categorical_crossentropy,
    np.array([0, 1.5, 1, 1]),
    KP,
    expect=Raises(ValueError, r"y_true must hold integer class indices, got non-integer values"),
)
case(
    "keras-scc-label-nan",
    ck.sparse_categorical_crossentropy,
    np.array([0, np.nan, 1, 1]),
    KP,
    expect=Raises(ValueError, r"y_true must hold integer class indices"),
)
case(
    "keras-scc-label-complex",
    ck.sparse_categorical_crossentropy,
    np.array([0, 1j, 1, 1]),
    KP,
    expect=Raises(TypeError, r"y_true must hold integer class indices, got dtype complex128"),
)
case(
    "keras-scc-label-shape",
    ck.sparse_categorical_crossentropy,
    np.array([0, 1, 1]),
    KP,
    expect=Raises(ValueError, r"y_true must have y_pred's shape without the class axis"),
)
case(
    "keras-scc-ignore-class-fraction",
    ck.sparse_categorical_crossentropy,
    np.array([0, 1, 1, 1]),
    KP,
    ignore_class=0.5,
    expect=Raises(ValueError, r"ignore_class must be None or an integer class id"),
)
case(
    "keras-scc-uint64-labels",
    ck.sparse_categorical_crossentropy,
    np.array([0, 4, 2, 1], np.uint64),
    KP,
    expect=close(lambda a: -np.log(np.clip(a[1][np.arange(4), a[0].astype(int)], 1e-7, 1 - 1e-7)), rtol=1e-10),
)
case(
    "keras-bc-shape",
    ck.binary_crossentropy,
    np.zeros(5),
    KP,
    expect=Raises(ValueError, r"y_true and y_pred must have the same shape"),
)
case("keras-bc-axis", ck.binary_crossentropy, KT, KP, axis=3, expect=Raises(ValueError, r"axis=3 is out of bounds"))
case(
    "keras-bc-axis-bool",
    ck.binary_crossentropy,
    KT,
    KP,
    axis=True,
    expect=Raises(ValueError, r"axis must be an integer, got True"),
)
case(
    "keras-bfc-strided",
    ck.binary_focal_crossentropy,
    KT[::-1, ::2],
    KP[::-1, ::2],
    expect=close(lambda a: ck.binary_focal_crossentropy(np.ascontiguousarray(a[0]), np.ascontiguousarray(a[1]))),
)
case(
    "keras-cfc-alpha-shape",
    ck.categorical_focal_crossentropy,
    KT,
    KP,
    alpha=np.ones(3),
    expect=Raises(ValueError, r"alpha must be a number or a sequence of one weight per class"),
)
case(
    "keras-CC-reduction",
    ck.CategoricalCrossentropy,
    reduction="avg",
    expect=Raises(ValueError, r"Invalid value for argument `reduction`"),
)
case(
    "keras-BC-dtype",
    ck.BinaryCrossentropy,
    dtype="int32",
    expect=Raises(ValueError, r"dtype must be None, 'float32', 'float64', 'float16', 'bfloat16'.*got 'int32'"),
)
case(
    "keras-BC-sample-weight-shape",
    ck.BinaryCrossentropy(),
    KT,
    KP,
    sample_weight=np.ones(7),
    expect=Raises(ValueError, r"sample_weight of shape \(7,\) does not broadcast"),
)
case(
    "keras-SCC-ignore-class-str",
    ck.SparseCategoricalCrossentropy,
    ignore_class="a",
    expect=Raises(ValueError, r"ignore_class must be None or an integer class id"),
)
case(
    "keras-SCC-label-out-of-range",
    ck.SparseCategoricalCrossentropy(from_logits=True),
    np.array([0, 7, 1, 1]),
    KP,
    expect=Raises(IndexError, r"y_true contains 7"),
)
case(
    "keras-CFC-N0",
    ck.CategoricalFocalCrossentropy(),
    np.zeros((0, 3)),
    np.zeros((0, 3)),
    expect=result_is(np.float32, (0,)),
)
case(
    "keras-BFC-readonly",
    ck.BinaryFocalCrossentropy(),
    _readonly(KT),
    _readonly(KP),
    return_grad=True,
    expect=lambda r, a: r[1].shape == (4, 5) and np.isfinite(r[0]),
)


# ---- running the catalogue -------------------------------------------------------------------------------
def _snapshot(obj):
    """Copies of every array (and list) reachable from the call's arguments, to check nothing changed."""
    if isinstance(obj, np.ndarray):
        return [(obj, obj.copy(), obj.flags.writeable)]
    if isinstance(obj, (list, tuple)):
        if isinstance(obj, list):
            return [(obj, copy.deepcopy(obj), None)]
        return [s for item in obj for s in _snapshot(item)]
    if isinstance(obj, dict):
        return [s for key, item in obj.items() if key != "out" for s in _snapshot(item)]  # outputs may change
    return []


def _unchanged(before):
    for live, saved, writeable in before:
        if isinstance(live, list):
            assert live == saved or np.array_equal(np.asarray(live, dtype=object), np.asarray(saved, dtype=object))
            continue
        assert live.dtype == saved.dtype and live.shape == saved.shape
        assert live.flags.writeable == writeable
        if live.dtype.kind in "fc":
            assert np.array_equal(live, saved, equal_nan=True), "an input was modified"
        else:
            assert np.array_equal(live, saved), "an input was modified"


def test_catalogue_size():
    """The issue asks for at least 40 bad or awkward inputs."""
    print(f"\n{len(CASES)} inputs catalogued")
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES), "duplicate case ids"


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_catalogue(c):
    if c.skip:
        pytest.skip(c.skip)
    args, kwargs = c.args, c.kwargs
    before = _snapshot((args, kwargs))
    originals = tuple(np.array(a, copy=True) if isinstance(a, np.ndarray) else copy.deepcopy(a) for a in args)
    with np.errstate(**(c.errstate or {"all": "raise"})), warnings.catch_warnings():
        warnings.simplefilter("error", ce.ProbabilityWarning)
        if isinstance(c.expect, Raises):
            with pytest.raises(c.expect.exc, match=c.expect.match):
                c.call(*args, **kwargs)
        elif c.warns is not None:
            with pytest.warns(c.warns):
                result = c.call(*args, **kwargs)
        else:
            result = c.call(*args, **kwargs)
    if not isinstance(c.expect, Raises):
        with np.errstate(all="ignore"):  # the reference formulas, not the code under test
            c.expect(result, originals)
    if not c.mutates:
        _unchanged(before)


# ---- index arithmetic beyond 2**31 (strided views over a large mapping; nothing is allocated) ---------------
@pytest.fixture(scope="module")
def big_buffer():
    """A 7 GiB anonymous private mapping: reading untouched pages maps the shared zero page, so views over it
    cost no memory; each written page costs one page."""
    try:
        mm = mmap.mmap(-1, 7 << 30)
    except (OSError, ValueError, OverflowError, MemoryError) as exc:  # small address space or strict overcommit
        pytest.skip(f"cannot map 7 GiB: {exc}")
    yield mm
    mm.close()


ROW = (1 << 31) + 24  # a row stride beyond 2**31 bytes (not a multiple of the page size)


def _fill_rows(flat, rows, cols, col_stride, value):
    """Write ``value`` (rows x cols) into the strided positions (touches one page per row)."""
    view = np.lib.stride_tricks.as_strided(flat, (rows, cols), (ROW, col_stride))
    view[...] = value
    return view


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_offsets_beyond_2_31_bytes(big_buffer, dtype):
    flat = np.frombuffer(big_buffer, np.uint8).view(dtype)
    vals = logits((3, 5), dtype)
    x = _fill_rows(flat, 3, 5, flat.itemsize, vals)
    assert x.strides[0] > 2**31 and (x.shape[0] - 1) * x.strides[0] > 2**32
    labels = np.array([4, 0, 2])
    np.testing.assert_array_equal(ce.logsumexp(x), ce.logsumexp(vals))
    np.testing.assert_array_equal(ce.softmax(x), ce.softmax(vals))
    for got, want in zip(
        ce.sparse_softmax_cross_entropy_and_grad(x, labels),
        ce.sparse_softmax_cross_entropy_and_grad(vals, labels),
        strict=False,
    ):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ce.sigmoid_cross_entropy(x, vals), ce.sigmoid_cross_entropy(vals, vals))
    # negative strides from the far end of the mapping, and the framework layers on the same views
    xr = np.lib.stride_tricks.as_strided(flat[x.strides[0] * 2 // flat.itemsize + 4 :], (3, 5), (-ROW, -flat.itemsize))
    # against the same reversed view of an ordinary array: the same (strided) sweep, so bit for bit
    np.testing.assert_array_equal(ce.log_softmax(xr), ce.log_softmax(vals[::-1, ::-1]))
    np.testing.assert_array_equal(
        ct.cross_entropy(x, labels, reduction="none"), ct.cross_entropy(vals, labels, reduction="none")
    )
    np.testing.assert_array_equal(
        ctf.sparse_softmax_cross_entropy_with_logits(labels, x, return_grad=True)[1],
        ctf.sparse_softmax_cross_entropy_with_logits(labels, vals, return_grad=True)[1],
    )


def test_column_and_output_strides_beyond_2_31_bytes(big_buffer):
    flat = np.frombuffer(big_buffer, np.float64)
    x = np.lib.stride_tricks.as_strided(flat, (2, 3), (8, ROW))  # columns 2 GiB apart
    x[...] = [[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]]
    vals = np.array(x)
    np.testing.assert_array_equal(ce.softmax_cross_entropy(x, vals), ce.softmax_cross_entropy(vals, vals))
    # outputs with huge strides: loss and grad land in the mapping, one page per row
    out_loss = np.lib.stride_tricks.as_strided(flat[16:], (2,), (3 * ROW,))
    out_grad = np.lib.stride_tricks.as_strided(flat[32:], (2, 3), (ROW, 8))
    ce.sparse_softmax_cross_entropy_and_grad(vals, np.array([2, 0]), out=(out_loss, out_grad))
    loss, grad = ce.sparse_softmax_cross_entropy_and_grad(vals, np.array([2, 0]))
    np.testing.assert_array_equal(out_loss, loss)
    np.testing.assert_array_equal(out_grad, grad)
    # labels with a huge stride
    labs = np.lib.stride_tricks.as_strided(flat[64:].view(np.int64), (2,), (ROW,))
    labs[...] = [1, 2]
    np.testing.assert_array_equal(
        ce.sparse_softmax_cross_entropy(vals, labs), ce.sparse_softmax_cross_entropy(vals, np.array([1, 2]))
    )


def test_more_than_2_31_elements_broadcast():
    """A row of 2**31 + 8 elements with stride 0 (nothing allocated) and a label above 2**31."""
    n = (1 << 31) + 8
    x = np.broadcast_to(np.float32(0.0), (n,))
    assert x.size > 2**31 and x.strides == (0,)
    loss = ce.sparse_softmax_cross_entropy(x, np.int64(n - 1))
    assert loss.dtype == np.float32 and loss == pytest.approx(np.log(n), rel=1e-6)
    with np.errstate(invalid="ignore"):
        assert np.isnan(ce.sparse_softmax_cross_entropy(np.zeros(3, np.float32), np.int64(n)))


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_more_than_2_31_elements_broadcast_slow(dtype):
    n = (1 << 31) + 8
    x = np.broadcast_to(dtype(1.5), (1, n))
    assert ce.logsumexp(x)[0] == pytest.approx(1.5 + np.log(n), rel=1e-6)
    assert ctf.softmax_cross_entropy_with_logits(np.broadcast_to(dtype(0.0), (1, n)), x)[0] == 0
    loss = ce.softmax_cross_entropy(x, np.broadcast_to(dtype(1.0), (1, n)))
    assert loss[0] == pytest.approx(n * np.log(n), rel=1e-5)
